"""Attention in which a decoded row gets the same numbers alone or beside others.

The decode loop (:mod:`studio.engine.batching`) keeps the rows of a batch left-padded to one length. PyTorch's
attention kernels reduce over the keys in vector-wide blocks, so a row whose keys sit behind 1-7 pads is summed in
another order than the same row alone and differs in the last bits (measured on SmolLM2-135M: 6e-8 per output),
enough for a greedy answer to part from its answer alone at a near tie after a hundred or so tokens. Here a
one-token query (every decode step) attends over its own row's keys only, from its first unpadded key, with no
mask: exactly the call the row makes alone. Prompts (queries of many tokens) use PyTorch's SDPA unchanged; in
exact mode the loop prefills each prompt alone, so they have no padding.

Registered with transformers' ``AttentionInterface`` under :data:`NAME` (masks as for ``"sdpa"``); only models the
engine serves in exact mode use it (:func:`use_row_attention`, called by ``load_model(exact=True)``), never
training.
"""

from __future__ import annotations

from typing import Any

NAME = "studio_rows"
"""The ``attn_implementation`` name of :func:`row_attention`."""


def row_attention(
    module: Any, query: Any, key: Any, value: Any, attention_mask: Any, **kwargs: Any
) -> tuple[Any, None]:
    """transformers attention function: ``query`` (batch, heads, tokens, head size), ``key``/``value`` (batch,
    key/value heads, keys, head size), ``attention_mask`` as transformers builds it for SDPA (boolean, True =
    attend, or additive float; ``None`` without padding). Returns (batch, tokens, heads, head size), no weights.

    With one query token, each row attends over its keys from the first one its mask allows (left padding only,
    as the decode loop lays rows out); otherwise SDPA as transformers calls it."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if query.shape[2] != 1:
        return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)
    outputs = []
    for row in range(query.shape[0]):
        start = 0
        if attention_mask is not None:
            allowed = attention_mask[row, 0, -1]
            allowed = allowed if allowed.dtype == torch.bool else allowed == 0
            start = int(allowed.int().argmax())  # the first allowed key: the row's first real token
        out, _ = sdpa_attention_forward(
            module,
            query[row : row + 1],
            key[row : row + 1, :, start:],
            value[row : row + 1, :, start:],
            None,
            **kwargs,
        )
        outputs.append(out)
    return torch.cat(outputs), None


def use_row_attention(model: Any) -> None:
    """Make ``model`` (a transformers model) attend with :func:`row_attention`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(NAME, row_attention)
    AttentionMaskInterface.register(NAME, sdpa_mask)
    model.set_attn_implementation(NAME)
