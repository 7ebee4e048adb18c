"""The batches of training steps: tokenised examples (:mod:`studio.engine.encoding`) turned into what each
optimizer step of :mod:`studio.engine.trainer` takes, and into its tensors.

A step takes ``batch_size`` *units* (:data:`Unit`): examples, padded to the longest of the batch
(:func:`collate`), or, with ``packing``, rows of examples laid end to end, at most ``max_length`` tokens each
(:func:`pack_rows`, :func:`row_tensors`), where the examples of a row may share their common start (the
system prompt the chat template writes into every chat): it is laid down and computed once per row
(:func:`shared_prefix`). :func:`epoch_units` gives an epoch's units, shuffled and seeded so a resumed job takes the
same steps; :func:`micro_batches` splits a step's units over processes and accumulation
steps. Tensors are ``rows × width`` (tokens) of ``torch.long``; labels are ``-100`` where no loss is taken.
Not the serving side's batches: those are :mod:`studio.engine.batching`'s.

torch is imported inside functions: this module is importable without the ``engine`` extra.
"""

from __future__ import annotations

import bisect
import random
from collections.abc import Sequence
from typing import Any

from studio.engine.encoding import EncodedExample
from studio.engine.hyperparameters import TrainingConfig


def collate(batch: Sequence[EncodedExample], pad_id: int, device: str) -> tuple[Any, Any, Any]:
    """(ids, labels, attention mask), each ``examples × width`` (the longest example's tokens), on ``device``:
    the examples padded at the end (``pad_id``, label ``-100``, mask 0)."""
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return ids.to(device), labels.to(device), mask.to(device)


def shared_prefix(examples: Sequence[EncodedExample]) -> int:
    """The number of tokens every one of ``examples`` starts with that can be computed once for all of them: the
    longest common start of their ``input_ids`` on which no loss is taken, nor on the token after it (which, in a
    row, follows another example's tail, not this start). Each example keeps at least one token of its own. 0 for
    fewer than two examples. For chats rendered by a template that writes a default system prompt (SmolLM2's
    "You are a helpful AI assistant named SmolLM…") that is the system turn and the user turn's header: 24 of the
    style demo's 85 tokens a chat."""
    if len(examples) < 2:
        return 0
    first = examples[0].input_ids
    limit = min(len(e.input_ids) for e in examples) - 1
    n = 0
    while n < limit and all(e.input_ids[n] == first[n] and e.labels[n] == -100 for e in examples):
        n += 1
    if n and any(e.labels[n] != -100 for e in examples):
        n -= 1  # the token after the start is trained in some example: it must be predicted from that example's own
    return n


def pack_rows(examples: Sequence[EncodedExample], max_length: int, *, shared: int = 0) -> list[list[EncodedExample]]:
    """``examples`` in rows of at most ``max_length`` tokens, best fit decreasing (TRL's "bfd"): longest first, each
    into the row whose room left is the smallest that still holds it, else a new row. Every example lands in
    exactly one row, uncut; one longer than ``max_length`` (never, after encoding) gets a row of its own. Examples
    of equal length keep their order (a shuffled input gives shuffled rows). The number of rows depends only on
    the lengths. O(n log n) plus list moves.

    ``shared``: tokens every example starts with that a row holds once (:func:`shared_prefix` of all the
    examples, for :func:`row_tensors` with ``share_prefix``): an example then takes its length less ``shared``,
    and a row ``max_length`` less ``shared``."""
    rows: list[list[EncodedExample]] = []
    rooms: list[tuple[int, int]] = []  # (room left, row index), sorted: the best fit is the first that holds n
    for example in sorted(examples, key=lambda e: len(e.input_ids), reverse=True):
        n = len(example.input_ids) - shared
        at = bisect.bisect_left(rooms, (n, -1))
        if at == len(rooms):
            rows.append([example])
            left, index = max_length - shared - n, len(rows) - 1
        else:
            left, index = rooms.pop(at)
            rows[index].append(example)
            left -= n
        if left > 0:
            bisect.insort(rooms, (left, index))
    return rows


def row_tensors(
    rows: Sequence[Sequence[EncodedExample]], pad_id: int, device: str, *, share_prefix: bool = False
) -> tuple[Any, Any, Any]:
    """(ids, labels, position_ids), each ``rows × width`` (the longest row's tokens), of rows of examples laid end
    to end (see :func:`pack_rows`), padded at the end.

    Position ids restart at 0 for each example (and for the padding at a row's end), which transformers turns
    into a block-diagonal causal mask: no token attends to another example. The first token of each example is
    not a target (it would be predicted from the previous example), so the trained tokens, and the mean loss,
    are exactly those of the same examples unpacked.

    ``share_prefix``: a row's :func:`shared_prefix` (``p`` tokens) is laid down once, at its start, and each
    example adds only its tail, whose position ids go on from ``p``; a tail attends to the row's first ``p``
    tokens and to itself. Its hidden states are those of the whole example (causal attention: the start's do not
    depend on what follows it), so the loss and its gradient are again those of the examples unpacked, for
    ``p`` tokens less per example. Only for :mod:`studio.engine.packed_attention`, which reads position ids that
    go on from ``p`` that way; transformers' own masks would take a tail for part of the previous example.
    """
    import torch

    starts = [shared_prefix(row) if share_prefix else 0 for row in rows]
    width = max(p + sum(len(e.input_ids) - p for e in row) for p, row in zip(starts, rows, strict=True))
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    positions = torch.zeros((len(rows), width), dtype=torch.long)
    for r, (p, row) in enumerate(zip(starts, rows, strict=True)):
        ids[r, :p] = torch.tensor(row[0].input_ids[:p], dtype=torch.long)
        positions[r, :p] = torch.arange(p)
        cursor = p
        for example in row:
            n = len(example.input_ids) - p
            ids[r, cursor : cursor + n] = torch.tensor(example.input_ids[p:])
            labels[r, cursor + 1 : cursor + n] = torch.tensor(example.labels[p + 1 :], dtype=torch.long)
            positions[r, cursor : cursor + n] = torch.arange(p, p + n)
            cursor += n
        positions[r, cursor:] = torch.arange(width - cursor)
    return ids.to(device), labels.to(device), positions.to(device)


Unit = EncodedExample | list[EncodedExample]
"""What ``batch_size`` counts: an example (padding) or a packed row of examples (packing)."""


def unit_examples(units: Sequence[Unit]) -> list[EncodedExample]:
    """The examples of a list of units (examples, or packed rows), in order."""
    return [e for unit in units for e in (unit if isinstance(unit, list) else [unit])]


def epoch_units(
    examples: Sequence[EncodedExample], config: TrainingConfig, epoch: int, *, shared: int = 0
) -> list[Unit]:
    """What the steps of ``epoch`` take, ``config.batch_size`` at a time: the examples shuffled (seeded by
    ``config.seed`` and the epoch) or, with ``config.packing``, those shuffled examples packed by
    :func:`pack_rows` into rows of ``config.max_length`` tokens (each holding ``shared`` tokens once), the rows
    shuffled too. Deterministic, so a resumed job takes the same steps; the count depends only on the lengths,
    so every epoch has as many steps."""
    order = epoch_order(len(examples), config.seed, epoch)
    shuffled = [examples[i] for i in order]
    if not config.packing:
        return list(shuffled)
    rows = pack_rows(shuffled, config.max_length, shared=shared)
    return [rows[i] for i in epoch_order(len(rows), config.seed, epoch)]


def unit_tensors(
    units: Sequence[Unit], pad_id: int, device: str, *, share_prefix: bool = False
) -> tuple[Any, Any, Any, Any]:
    """(ids, labels, attention mask or None, position ids or None) of examples (padded) or rows (packed, with
    their common start once per row when ``share_prefix``: see :func:`row_tensors`)."""
    if units and isinstance(units[0], list):
        ids, labels, positions = row_tensors(units, pad_id, device, share_prefix=share_prefix)  # type: ignore[arg-type]
        return ids, labels, None, positions
    return (*collate(units, pad_id, device), None)  # type: ignore[arg-type]


def micro_batches(batch: Sequence[Unit], parts: int) -> list[list[Unit]]:
    """``batch`` (examples, or packed rows) in ``parts`` consecutive slices whose sizes differ by at most one
    (empty when ``parts`` exceeds the batch): slice ``process × accumulation_steps + k`` is micro-batch ``k`` of
    that process."""
    size, extra = divmod(len(batch), parts)
    bounds = [0]
    for part in range(parts):
        bounds.append(bounds[-1] + size + (1 if part < extra else 0))
    return [list(batch[bounds[i] : bounds[i + 1]]) for i in range(parts)]


def epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    """``0 … n-1`` shuffled, seeded by ``seed`` and ``epoch``: the same order on every process and run."""
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order
