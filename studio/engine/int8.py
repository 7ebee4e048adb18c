"""Int8 weights for decoding on CPUs without native bf16.

Decoding one token multiplies a single row by every weight matrix, so its speed is set by how many bytes of weights
stream from memory, not by arithmetic. ``DecodeLinear`` keeps a per-output-channel int8 copy of a linear layer's
weights (a quarter of the float32 bytes) and uses it, through torch's ``_weight_int8pack_mm`` kernel, for inputs
of a few rows; longer inputs (the prompt) keep the float32 weights, where the matrix product is compute-bound and
float32 is faster on AVX2. The float32 weights stay shared, so tied embeddings are not copied.

Imported only by the engine after torch is loaded.
"""

from __future__ import annotations

import torch
from torch import nn

DECODE_ROWS = 8
"""Inputs of at most this many rows (tokens × batch) use the int8 weights."""


class DecodeLinear(nn.Module):
    """``nn.Linear`` with an int8 copy of its weights for few-row inputs; same outputs within quantisation error."""

    def __init__(self, linear: nn.Linear) -> None:
        super().__init__()
        self.in_features = linear.in_features
        self.out_features = linear.out_features
        self.weight = linear.weight
        self.bias = linear.bias
        quantized, scale = _quantize_rows(linear.weight.detach())
        self.register_buffer("qweight", quantized, persistent=False)
        self.register_buffer("qscale", scale.to(torch.bfloat16), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = x.numel() // self.in_features
        if rows > DECODE_ROWS:
            return nn.functional.linear(x, self.weight, self.bias)
        flat = x.reshape(rows, self.in_features).to(torch.bfloat16).contiguous()
        out = torch._weight_int8pack_mm(flat, self.qweight, self.qscale).to(x.dtype)
        if self.bias is not None:
            out = out + self.bias
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, int8 decode"


def _quantize_rows(weight: torch.Tensor, block: int = 512) -> tuple[torch.Tensor, torch.Tensor]:
    """Symmetric int8 per output row (scale = row max / 127), in row blocks that stay in cache (2× faster)."""
    with torch.no_grad():
        weight = weight.float()
        scale = torch.maximum(weight.amax(dim=1), weight.amin(dim=1).neg_()).clamp_(min=1e-12).div_(127.0)
        inverse = scale.reciprocal()
        quantized = torch.empty(weight.shape, dtype=torch.int8)
        scratch = torch.empty(min(block, weight.shape[0]), weight.shape[1])
        for start in range(0, weight.shape[0], block):
            stop = min(start + block, weight.shape[0])
            rows = scratch[: stop - start]
            torch.mul(weight[start:stop], inverse[start:stop, None], out=rows)
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


def quantize_linears(model: nn.Module) -> int:
    """Replace every ``nn.Linear`` in ``model`` with a :class:`DecodeLinear`; returns how many were replaced."""
    replaced = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if type(child) is nn.Linear:
                setattr(parent, name, DecodeLinear(child))
                replaced += 1
    return replaced
