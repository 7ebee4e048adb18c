"""Short everyday questions that the engine benches and the engine tests send to SmolLM2 (one home for both)."""

from __future__ import annotations

QUESTIONS = (
    "What is the capital of France?",
    "Name three primary colours.",
    "How many legs does a spider have?",
    "Why is the sky blue? Explain briefly.",
    "Give me a tip for sleeping better.",
    "What does a thermometer measure?",
    "Write one sentence about autumn leaves.",
    "What is 12 times 12?",
    "Which planet is known as the red planet?",
    "How should I store fresh bread?",
    "What is the boiling point of water at sea level?",
    "Suggest a name for a small grey cat.",
)
"""The 12 prompts of the ``studio compare`` load (12 prompts × 2 targets) and of its test."""
