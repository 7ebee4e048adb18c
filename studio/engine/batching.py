"""Continuous batching: concurrent chat requests to one loaded model share one decode loop.

Decoding a token reads every weight of the model once, whatever the number of rows multiplied by it, so on a
CPU (memory-bound) eight streams decoded together cost little more than one. Each loaded model gets a
:class:`DecodeLoop`, a thread that owns the model while requests are in flight:

- a new request is prefilled alone (its prompt through the model, filling its own key/value cache) as soon as the
  loop reaches it, and its first token is sampled — so it never waits for the others to finish;
- its cache then joins the batch's: caches are left-padded to one length, and an attention mask and per-row
  position ids keep each row seeing only its own tokens at its own positions;
- every step decodes one token for every row at once; each row samples with its own temperature, top-p and seed,
  and checks its own stop strings and token limit;
- a finished or cancelled row leaves the batch at once (its cache rows are dropped, and padding no row needs any
  more is trimmed), and the loop thread ends when nothing is left, so an idle engine uses no CPU.

The iterator returned to the caller (:class:`~studio.engine.models.generation.Generation`) reads the row's text
deltas from a queue; closing it (a client that disconnects) cancels only that row.
"""

from __future__ import annotations

import atexit
import queue
import secrets
import threading
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from studio.engine.models.generation import (
    DEFAULT_MAX_TOKENS,
    Generation,
    TextAssembler,
    _sample,
    cache_argument,
    encode_prompt,
)
from studio.engine.models.loading import LoadedModel

MAX_BATCH = 8  # rows decoded together; the int8 decoding kernel takes up to 8 rows (studio.engine.int8)
_END = object()


@dataclass(eq=False)
class _Row:
    prompt: Any  # (1, prompt tokens) input ids
    temperature: float
    top_p: float
    generator: Any
    text: TextAssembler
    out: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)
    length: int = 0  # tokens of this row in the cache
    next_token: int | None = None
    cancelled: threading.Event = field(default_factory=threading.Event)

    def accept(self, token: int) -> bool:
        """Take one sampled token, queue the text that is final; True when the row is finished."""
        finished = self.text.accept(token)
        for piece in self.text.take():
            self.out.put(piece)
        self.next_token = token
        return finished

    def finish(self, error: BaseException | None = None) -> None:
        if error is None:
            for piece in self.text.flush():
                self.out.put(piece)
        self.out.put(error if error is not None else _END)


class DecodeLoop:
    """The decode loop of one loaded model (see the module docstring). Thread-safe; one per :class:`LoadedModel`."""

    def __init__(self, loaded: LoadedModel, *, max_batch: int | None = None) -> None:
        self.loaded = loaded
        self.max_batch = max(1, max_batch or MAX_BATCH)
        self._pending: deque[_Row] = deque()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.peak_batch = 0  # most rows decoded together so far (for tests and the bench)
        self.decoding = 0  # rows in the batch now
        self.admitted = 0  # rows ever admitted (prefilled): generations this loop has really started

    @property
    def waiting(self) -> int:
        """Requests queued for a place in the batch."""
        return len(self._pending)

    def submit(self, row: _Row) -> None:
        with self._wake:
            self._pending.append(row)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="studio-decode", daemon=True)
                self._thread.start()
            self._wake.notify()

    # -- the loop -----------------------------------------------------------------------------------------------

    def _run(self) -> None:
        import torch

        rows: list[_Row] = []
        cache = None
        with torch.inference_mode():
            while True:
                with self._wake:
                    self.decoding = len(rows)
                    if not rows and not self._pending:
                        self._thread = None
                        return
                    admitted: list[_Row] = []
                    while self._pending and len(rows) + len(admitted) < self.max_batch:
                        admitted.append(self._pending.popleft())
                for row in admitted:
                    try:
                        cache = self._admit(row, rows, cache)
                    except Exception as exc:
                        row.finish(exc)
                if rows:
                    try:
                        cache = self._step(rows, cache)
                    except Exception as exc:
                        for row in rows:
                            row.finish(exc)
                        rows, cache = [], None

    def _admit(self, row: _Row, rows: list[_Row], cache: Any) -> Any:
        """Prefill ``row`` alone, sample its first token, and merge its cache into the batch's."""
        if row.cancelled.is_set():  # the client went away while it waited: never prefilled
            row.finish()
            return cache
        self.admitted += 1
        loaded = self.loaded
        out = loaded.model(input_ids=row.prompt.to(loaded.device), use_cache=True, logits_to_keep=1)
        row.length = int(row.prompt.shape[1])
        token = _sample(out.logits[0, -1].float(), row.temperature, row.top_p, row.generator)
        if row.accept(token):
            row.finish()
            return cache
        rows.append(row)
        self.peak_batch = max(self.peak_batch, len(rows))
        return _merge(cache, out.past_key_values)

    def _step(self, rows: list[_Row], cache: Any) -> Any:
        """One token for every row; finished and cancelled rows leave the batch."""
        import torch

        loaded = self.loaded
        width = cache.get_seq_length()
        padded = any(row.length != width for row in rows)
        mask = None
        if padded:  # without padding (one row, or rows of one length) the model's plain causal path is faster
            mask = torch.zeros((len(rows), width + 1), dtype=torch.long, device=loaded.device)
            for i, row in enumerate(rows):
                mask[i, width - row.length :] = 1
        out = loaded.model(
            input_ids=torch.tensor([[row.next_token] for row in rows], device=loaded.device),
            attention_mask=mask,
            position_ids=torch.tensor([[row.length] for row in rows], device=loaded.device) if padded else None,
            use_cache=True,
            **{cache_argument(loaded.model): cache},
        )
        cache = out.past_key_values
        logits = out.logits[:, -1].float()
        keep = []
        for i, row in enumerate(rows):
            row.length += 1
            if row.cancelled.is_set():
                row.finish()
                continue
            token = _sample(logits[i], row.temperature, row.top_p, row.generator)
            if row.accept(token):
                row.finish()
            else:
                keep.append(i)
        if len(keep) < len(rows):
            survivors = [rows[i] for i in keep]
            rows[:] = survivors
            if not rows:
                return None
            cache = _select(cache, keep)
        return _trim(cache, max(row.length for row in rows))


def _layers(cache: Any) -> list[tuple[Any, Any]]:
    return [(layer.keys, layer.values) for layer in cache.layers]


def _rebuilt(layers: Sequence[tuple[Any, Any]]) -> Any:
    from transformers import DynamicCache

    return DynamicCache(ddp_cache_data=list(layers))


def _merge(cache: Any, new: Any) -> Any:
    """The batch cache with ``new`` (one row) appended, both left-padded with zeros to the longer length."""
    import torch

    if cache is None:
        return new
    merged = []
    for (keys, values), (new_keys, new_values) in zip(_layers(cache), _layers(new), strict=True):
        width = max(keys.shape[2], new_keys.shape[2])

        def pad(tensor: Any, width: int = width) -> Any:
            missing = width - tensor.shape[2]
            return tensor if not missing else torch.nn.functional.pad(tensor, (0, 0, missing, 0))

        merged.append((torch.cat([pad(keys), pad(new_keys)]), torch.cat([pad(values), pad(new_values)])))
    return _rebuilt(merged)


def _select(cache: Any, keep: Sequence[int]) -> Any:
    import torch

    index = torch.tensor(list(keep), device=cache.layers[0].keys.device)
    return _rebuilt([(k.index_select(0, index), v.index_select(0, index)) for k, v in _layers(cache)])


def _trim(cache: Any, longest: int) -> Any:
    """Drop leading padding that no row needs any more (every row's tokens fit in the last ``longest``)."""
    width = cache.get_seq_length()
    if longest >= width:
        return cache
    return _rebuilt([(k[:, :, width - longest :], v[:, :, width - longest :]) for k, v in _layers(cache)])


_LOOPS_LOCK = threading.Lock()
_LOOPS: list[DecodeLoop] = []


def _finish_loops() -> None:
    """At exit: let a loop finish the step it is in (a thread killed inside torch aborts the process)."""
    for loop in list(_LOOPS):
        thread = loop._thread
        if thread is not None:
            thread.join(timeout=30)


atexit.register(_finish_loops)


def decode_loop(loaded: LoadedModel) -> DecodeLoop:
    """The one decode loop of ``loaded`` (created on first use, kept with the model)."""
    with _LOOPS_LOCK:
        loop = loaded.__dict__.get("_decode_loop")
        if loop is None:
            loop = DecodeLoop(loaded)
            loaded.__dict__["_decode_loop"] = loop
            _LOOPS.append(loop)
        return loop


def loops() -> list[DecodeLoop]:
    """Every model's decode loop so far (for ``/health``: rows decoding and waiting)."""
    with _LOOPS_LOCK:
        return list(_LOOPS)


@dataclass
class BatchedGeneration(Generation):
    """A :class:`Generation` decoded in a :class:`DecodeLoop`; :meth:`cancel` may be called from any thread."""

    _row: _Row | None = None

    def cancel(self) -> None:
        """Leave the batch (or the queue) at the next step; the iterator then ends with the text so far."""
        if self._row is not None:
            self._row.cancelled.set()


def generate_batched(
    loaded: LoadedModel,
    messages: Sequence[Mapping[str, Any]],
    *,
    max_tokens: int | None = None,
    temperature: float = 1.0,
    top_p: float = 1.0,
    seed: int | None = None,
    stop: Sequence[str] = (),
) -> BatchedGeneration:
    """Like :func:`studio.engine.models.generate`, but decoded together with the model's other requests.

    Raises :class:`~studio.engine.errors.ContextLengthError` before anything is queued when the prompt leaves no
    room. Iterating the result blocks until the loop produces text; closing it cancels this request alone.
    """
    import torch

    prompt, room = encode_prompt(loaded, messages)
    generation = BatchedGeneration(prompt_tokens=int(prompt.shape[1]))
    limit = min(max_tokens or DEFAULT_MAX_TOKENS, room)
    row = _Row(
        prompt=prompt,
        temperature=temperature,
        top_p=top_p,
        generator=torch.Generator().manual_seed(seed if seed is not None else secrets.randbits(63)),
        text=TextAssembler(generation, loaded.tokenizer, loaded.eos_ids, stop=stop, limit=limit),
    )

    def deltas() -> Iterator[str]:
        decode_loop(loaded).submit(row)
        try:
            while True:
                item = row.out.get()
                if item is _END:
                    return
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            row.cancelled.set()

    generation._deltas = deltas()
    generation._row = row
    return generation
