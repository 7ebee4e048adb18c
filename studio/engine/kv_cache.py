"""Key/value caches of the decode loop (:mod:`studio.engine.batching`): prompts' caches kept for reuse
(:class:`PrefixCache`) and the operations on a batch cache: stack rows, append new rows, keep some rows, drop
padding no row needs. A cache is a transformers ``DynamicCache``; :data:`Layers` is its plain form.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

Layers = list[tuple[Any, Any]]
"""A key/value cache as (keys, values) per layer, each (rows, key/value heads, tokens, head size)."""


class PrefixCache:
    """The key/value caches of recent prompts (one row each), least recently used dropped beyond ``budget`` bytes.

    :meth:`longest` finds the longest prefix a new prompt shares with one of them; a prompt that extends a kept
    one (the next turn of a chat) or repeats it replaces it. Used by one decode loop thread only.
    """

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.bytes = 0
        self.reused = 0  # prompt tokens taken from here instead of computed (for tests and the bench)
        self._entries: OrderedDict[int, tuple[Any, Layers, int]] = OrderedDict()  # id -> (tokens, layers, bytes)
        self._next = 0

    def longest(self, tokens: Any) -> tuple[int, Layers | None]:
        """(shared tokens, the kept cache they start) for the 1-D ``tokens``; at most ``len(tokens) - 1`` are
        shared, so the last token is always computed (its logits give the first answer token)."""
        best, found = 0, None
        for key, (kept, _, _) in self._entries.items():
            n = min(len(kept), len(tokens) - 1)
            if n <= best:
                continue
            differs = (kept[:n] != tokens[:n]).nonzero()
            shared = int(differs[0, 0]) if len(differs) else n
            if shared > best:
                best, found = shared, key
        if found is None:
            return 0, None
        self._entries.move_to_end(found)
        return best, self._entries[found][1]

    def add(self, tokens: Any, layers: Layers) -> None:
        """Keep ``layers`` (the cache of exactly the 1-D ``tokens``) for later prompts."""
        size = sum(k.nbytes + v.nbytes for k, v in layers)
        for key, (kept, _, kept_size) in list(self._entries.items()):
            if len(kept) <= len(tokens) and bool((kept == tokens[: len(kept)]).all()):
                del self._entries[key]  # the new prompt covers it
                self.bytes -= kept_size
        if size > self.budget:
            return
        while self.bytes + size > self.budget:
            _, (_, _, dropped) = self._entries.popitem(last=False)
            self.bytes -= dropped
        self._entries[self._next] = (tokens, layers, size)
        self._next += 1
        self.bytes += size


def layer_pairs(cache: Any) -> Layers:
    """A transformers cache as :data:`Layers`."""
    return [(layer.keys, layer.values) for layer in cache.layers]


def rebuilt(layers: Sequence[tuple[Any, Any]]) -> Any:
    """A transformers ``DynamicCache`` holding ``layers``."""
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(layers))


def stacked(parts: Sequence[tuple[Layers | None, int]], width: int) -> Layers:
    """One cache of the ``(layers, tokens)`` parts, one row each: the first ``tokens`` of ``layers`` (nothing when
    ``tokens`` is 0), left-padded with zeros to ``width`` tokens."""
    import torch

    template = next(layers for layers, n in parts if n and layers is not None)
    out = []
    for index, pair in enumerate(template):
        stacked = []
        for which, like in enumerate(pair):
            rows = torch.zeros((len(parts), like.shape[1], width, like.shape[3]), dtype=like.dtype, device=like.device)
            for row, (layers, n) in enumerate(parts):
                if n and layers is not None:
                    rows[row, :, width - n :] = layers[index][which][0, :, :n]
            stacked.append(rows)
        out.append((stacked[0], stacked[1]))
    return out


def merge(cache: Any, new: Any) -> Any:
    """The batch cache with ``new`` (the new rows) appended, both left-padded with zeros to the longer length."""
    import torch

    if cache is None:
        return new
    merged = []
    for (keys, values), (new_keys, new_values) in zip(layer_pairs(cache), layer_pairs(new), strict=True):
        width = max(keys.shape[2], new_keys.shape[2])

        def pad(tensor: Any, width: int = width) -> Any:
            missing = width - tensor.shape[2]
            return tensor if not missing else torch.nn.functional.pad(tensor, (0, 0, missing, 0))

        merged.append((torch.cat([pad(keys), pad(new_keys)]), torch.cat([pad(values), pad(new_values)])))
    return rebuilt(merged)


def select(cache: Any, keep: Sequence[int]) -> Any:
    """The cache of rows ``keep`` only, in that order."""
    import torch

    index = torch.tensor(list(keep), device=cache.layers[0].keys.device)
    return rebuilt([(k.index_select(0, index), v.index_select(0, index)) for k, v in layer_pairs(cache)])


def trim(cache: Any, longest: int) -> Any:
    """Drop leading padding that no row needs any more (every row's tokens fit in the last ``longest``)."""
    width = cache.get_seq_length()
    if longest >= width:
        return cache
    return rebuilt([(k[:, :, width - longest :], v[:, :, width - longest :]) for k, v in layer_pairs(cache)])
