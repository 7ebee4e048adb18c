"""OpenAI-format validation, exact token counts, the price table and training-cost estimates."""
