"""Int8 weights for decoding on CPUs without native bf16.

Decoding one token multiplies a single row by every weight matrix, so its speed is set by how many bytes of weights
stream from memory, not by arithmetic. ``DecodeLinear`` keeps a per-output-channel int8 copy of a linear layer's
weights (a quarter of the float32 bytes) and uses it, through torch's ``_weight_int8pack_mm`` kernel, for inputs
of a few rows; longer inputs (the prompt) keep the float32 weights, where the matrix product is compute-bound and
float32 is faster on AVX2. The float32 weights stay shared, so tied embeddings are not copied. Inside
:func:`full_precision` every input uses the float32 weights: the decode loop prefills prompts that way, so a
prompt's cache and first token are the same whether it is prefilled alone or together with others (a batch of
short prompts would otherwise switch from int8 to float32 with the number of rows).

A fine-tuned model's LoRA update is folded into its int8 weights (decoding runs merged) and added to prompts as a
low-rank product, so the base's float32 weights are never copied or modified for it.

Imported only by the engine after torch is loaded.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import torch
from torch import nn

DECODE_ROWS = 8
"""Inputs of at most this many rows (tokens × batch) use the int8 weights."""

_mode = threading.local()


@contextmanager
def full_precision() -> Iterator[None]:
    """Within this block (in this thread), every :class:`DecodeLinear` uses its float32 weights."""
    before = getattr(_mode, "full", False)
    _mode.full = True
    try:
        yield
    finally:
        _mode.full = before


LowRankUpdate = tuple[torch.Tensor, torch.Tensor, float]
"""A LoRA update ``(A, B, scale)``: the layer computes ``W + scale · B·A``."""


class DecodeLinear(nn.Module):
    """``nn.Linear`` with an int8 copy of its weights for few-row inputs; same outputs within quantisation error."""

    def __init__(self, linear: nn.Linear, low_rank: LowRankUpdate | None = None) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        self.low_rank = low_rank
        quantized, scale = _quantize_rows(linear.weight.detach(), low_rank=low_rank)
        self.register_buffer("qweight", quantized, persistent=False)
        self.register_buffer("qscale", scale.to(torch.bfloat16), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if rows > DECODE_ROWS or getattr(_mode, "full", False):
            out = nn.functional.linear(x, self.weight, self.bias)
            if self.low_rank is not None:
                a, b, scale = self.low_rank
                out = out + nn.functional.linear(nn.functional.linear(x, a), b) * scale
            return out
        flat = x.reshape(rows, self.in_features).to(torch.bfloat16).contiguous()
        qweight, qscale = self.qweight, self.qscale
        assert isinstance(qweight, torch.Tensor) and isinstance(qscale, torch.Tensor)  # buffers, set in __init__
        out = torch._weight_int8pack_mm(flat, qweight, qscale).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 decode"


def _quantize_rows(
    weight: torch.Tensor, block: int = 512, low_rank: LowRankUpdate | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row (scale = row max / 127) of ``weight`` (plus ``scale · B·A`` when a LoRA
    update is given), in row blocks that stay in cache: the merged float32 matrix is never materialised."""
    with torch.no_grad():
        weight = weight.float()
        rows_total, width = weight.shape
        quantized = torch.empty(weight.shape, dtype=torch.int8)
        scale = torch.empty(rows_total)
        scratch = torch.empty(min(block, rows_total), width)
        for start in range(0, rows_total, block):
            stop = min(start + block, rows_total)
            rows = scratch[: stop - start]
            source = weight[start:stop]
            if low_rank is not None:
                a, b, factor = low_rank
                source = torch.addmm(source, b[start:stop], a, alpha=factor, out=rows)
            part = scale[start:stop]
            torch.maximum(source.amax(dim=1), source.amin(dim=1).neg_(), out=part)
            part.clamp_(min=1e-12).div_(127.0)
            torch.mul(source, part.reciprocal()[:, None], out=rows)
            quantized[start:stop].copy_(rows.round_().clamp_(-127, 127))
    return quantized, scale


def supported() -> bool:
    """Whether this torch build has the CPU int8 weight kernel (checked on a tiny product)."""
    try:
        probe = torch._weight_int8pack_mm(
            torch.ones(1, 32, dtype=torch.bfloat16),
            torch.ones(8, 32, dtype=torch.int8),
            torch.ones(8, dtype=torch.bfloat16),
        )
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return bool(torch.allclose(probe.float(), torch.full((1, 8), 32.0)))


def quantize_linears(model: nn.Module, low_rank: Mapping[str, LowRankUpdate] | None = None) -> int:
    """Replace every ``nn.Linear`` in ``model`` with a :class:`DecodeLinear`, with the LoRA update ``low_rank``
    gives for its module name (``model.named_modules()`` names); returns how many were replaced."""
    updates = dict(low_rank or {})
    replaced = 0
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                full = f"{parent_name}.{name}" if parent_name else name
                setattr(parent, name, DecodeLinear(child, updates.pop(full, None)))
                replaced += 1
    if updates:
        raise ValueError(f"LoRA updates for layers that are not linear: {', '.join(sorted(updates))}")
    return replaced
