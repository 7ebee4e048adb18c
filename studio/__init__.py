"""Fine-Tuning Studio: clean chat fine-tuning data, estimate cost, train and compare models."""

__version__ = "0.1.0"
