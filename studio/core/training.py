"""Training facts the Cost page, the CLI and the local engine must agree on.

Source of the epochs heuristic: OpenAI's cookbook "Data preparation and analysis for chat model fine-tuning"
(``TARGET_EPOCHS = 3``, ``MIN_TARGET_EXAMPLES = 100``, ``MAX_TARGET_EXAMPLES = 25000``, integer division), which is
what OpenAI's jobs do for ``n_epochs="auto"``.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_EPOCHS = 3
MIN_TARGET_EXAMPLES = 100  # the heuristic aims to show the model at least this many examples...
MAX_TARGET_EXAMPLES = 25_000  # ...and at most this many
MAX_EPOCHS = 25

DEFAULT_BASE_MODEL = "smollm2-135m-instruct"  # the local engine's offline base model (SmolLM2-135M-Instruct)
ENGINE_HOST = "127.0.0.1"
ENGINE_PORT = 8765
ENGINE_URL = f"http://{ENGINE_HOST}:{ENGINE_PORT}/v1"


def auto_epochs(n: int) -> int:
    """Epochs for ``n_epochs="auto"`` on ``n`` training examples: 3, raised for tiny sets, lowered for huge ones.

    Raises ``ValueError`` for ``n < 1``. Examples: 12 → 8 (100 // 12), 10,000 → 2 (25,000 // 10,000).
    """
    if n < 1:
        raise ValueError(f"need at least one example, got n={n}")
    if n * DEFAULT_EPOCHS < MIN_TARGET_EXAMPLES:
        return min(MAX_EPOCHS, MIN_TARGET_EXAMPLES // n)
    if n * DEFAULT_EPOCHS > MAX_TARGET_EXAMPLES:
        return max(1, MAX_TARGET_EXAMPLES // n)
    return DEFAULT_EPOCHS


def models_dir() -> Path:
    """The local engine's model cache, one folder per model name: ``$STUDIO_MODELS`` or
    ``~/.cache/fine-tuning-studio/models``. The library reads a model's ``tokenizer.json`` there to count tokens
    exactly; the engine keeps its weights there."""
    configured = os.environ.get("STUDIO_MODELS")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "fine-tuning-studio" / "models"
