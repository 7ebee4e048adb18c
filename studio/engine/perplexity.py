"""How well a model still predicts plain text: token-level perplexity of a base model or a LoRA fine-tune.

A fine-tune that learned a style should still read ordinary English about as well as its base; a perplexity far
above the base's on a held-out text means the training damaged the model's general fluency. The engine's "auto"
learning rate was calibrated with this measure (:mod:`studio.engine.hyperparameters`, bench group
``calibration``).

torch/transformers/peft are imported inside functions: this module is importable without the ``engine`` extra.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any


def load_for_scoring(base: str | Path, adapter: str | Path | None = None) -> tuple[Any, Any]:
    """(model, tokenizer) in float32 eval mode: the base folder, with the LoRA ``adapter`` folder applied if given.

    The adapter is what the trainer saves (``job_dir/final`` or a checkpoint folder). Raises ``OSError`` from
    transformers/peft when a folder holds no model or adapter.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(base))
    model: Any = AutoModelForCausalLM.from_pretrained(str(base), dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    return model, tokenizer


def perplexity(model: Any, tokenizer: Any, text: str, *, window: int = 1024) -> float:
    """exp(mean negative log-likelihood per predicted token) of ``text`` under ``model``.

    The text is tokenized with the model's own tokenizer, no special tokens added; every token but the first is
    predicted. Texts longer than ``window`` tokens are scored in consecutive windows (each window's first token is
    predicted by the previous window's context only, not scored twice). Raises ``ValueError`` for a text of fewer
    than two tokens or ``window < 2``.
    """
    import torch

    if window < 2:
        raise ValueError(f"window must be at least 2 tokens, got {window}")
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"][0]
    if len(ids) < 2:
        raise ValueError(f"need at least two tokens to score, got {len(ids)}")
    device = next(model.parameters()).device
    total = 0.0
    count = 0
    with torch.no_grad():
        for start in range(0, len(ids) - 1, window - 1):
            chunk = ids[start : start + window].unsqueeze(0).to(device)
            if chunk.shape[1] < 2:
                break
            logits = model(input_ids=chunk).logits.float()
            loss = torch.nn.functional.cross_entropy(logits[0, :-1], chunk[0, 1:], reduction="sum")
            total += float(loss)
            count += chunk.shape[1] - 1
    return math.exp(total / count)


def text_perplexity(base: str | Path, text: str, *, adapter: str | Path | None = None) -> float:
    """Perplexity of ``text`` under the base model folder, or under base + LoRA ``adapter`` (see :func:`perplexity`)."""
    model, tokenizer = load_for_scoring(base, adapter)
    return perplexity(model, tokenizer, text)
