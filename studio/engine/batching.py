"""Continuous batching: every chat request to a loaded model is decoded in that model's one decode loop.

Decoding a token reads every weight of the model once, whatever the number of rows multiplied by it, so on a
CPU (memory-bound) eight streams decoded together cost little more than one. Each loaded model gets a
:class:`DecodeLoop`, a thread that owns the model while requests are in flight; a request alone is simply a batch
of one (:func:`studio.engine.models.generate` runs here too), so there is one generation loop. Each turn of the
loop:

- **prefills the requests that arrived** since the last step, together in one forward pass (left-padded, with an
  attention mask and per-row position ids), samples each one's first token and streams it at once — a request
  never waits for another's prompt, nor for a decode step, before its prompt is read;
- a prompt starts from the **longest prefix it shares with a recent prompt**
  (:class:`~studio.engine.kv_cache.PrefixCache`: the chat template's system prompt, a test set's shared
  instructions, the earlier turns of a chat), so only its new tokens are computed; prompts are always prefilled
  with float32 weights (:func:`studio.engine.int8.full_precision`);
- the new rows' caches join the batch's (left-padded to one length), then **one token is decoded for every row at
  once**; each row samples with its own temperature, top-p and seed, and checks its own stop strings and limit;
- when the batch is empty, a request that arrives waits up to :data:`ADMIT_WINDOW_S` for the requests already
  **on their way** (announced by :func:`generate_batched` while their prompts are encoded, not yet queued), so a
  burst of requests is prefilled in one pass instead of the first alone and the rest after it and a decode step
  (one pass over the weights, not two, before anyone's first token); requests that arrive within
  :data:`ADMIT_GAP_S` of each other are gathered the same way (a request alone waits that once: 5 ms);
- a finished or cancelled row leaves the batch at once (its cache rows are dropped, and padding no row needs any
  more is trimmed), and the loop thread ends when nothing is left, so an idle engine uses no CPU.

A row's numbers then agree with its numbers alone to float rounding: a float32 matrix product of a padded batch
rounds a row otherwise than one alone, so at a near tie a greedy answer can part from its answer alone (SmolLM2,
"Explain how rain forms": after 120 characters beside one other request). **Exact mode**
(:attr:`LoadedModel.exact <studio.engine.models.loading.LoadedModel>`, ``STUDIO_ENGINE_EXACT_BATCHING=1``) makes
a row's logits bit for bit its logits alone, at a measured cost (README, "Many streams, one loop"): each prompt is
prefilled alone, in passes ending at multiples of :data:`PREFILL_CHUNK` (a cached prefix is reused up to the last
such multiple), so its passes are the same whoever else is in the batch and whatever was cached; each decoded row
attends over its own keys only (:mod:`studio.engine.row_attention`); and the int8 decoding kernel computes each
row on its own (float32 or bf16 decoding weights do not: there, exact mode makes the prompts exact only).

Prompts are admitted while the batch has room (:data:`MAX_BATCH`) and their uncached tokens, padded, fit
:data:`PREFILL_TOKENS` (a longer prompt is prefilled alone), so one prefill never stalls the streams in flight for
long. The iterator returned to the caller (:class:`BatchedGeneration`) reads the row's text deltas from a queue;
closing it (a client that disconnects) cancels only that row.
"""

from __future__ import annotations

import atexit
import itertools
import queue
import secrets
import threading
import time
import weakref
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from studio.engine import kv_cache
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
PREFILL_TOKENS = 1024
"""Most (rows × padded new tokens) prefilled in one turn of the loop, between two decode steps (a longer prompt
alone); in exact mode, new tokens, unpadded."""
PREFILL_CHUNK = 64
"""In exact mode a prompt is computed in passes that end at multiples of this many tokens, and a cached prefix is
reused up to the last such multiple it covers, so a prompt's passes are the same whether its start was cached."""
PREFIX_CACHE_BYTES = 64 * 2**20
"""Memory the prompts' key/value caches kept for reuse may take, per loaded model (SmolLM2-135M: 46 KB a token)."""
ADMIT_WINDOW_S = 0.05
"""Longest an idle loop holds the first arrival's prefill for requests on their way (announced, prompt being
encoded); an announcement older than this no longer holds anything (a generation that is never iterated)."""
ADMIT_GAP_S = 0.005
"""How long an idle loop lingers after the last arrival (or announcement) for another one: requests that come
within a few milliseconds of each other share the first prefill; a request alone waits this once."""
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
    ticket: int | None = None  # its announcement (DecodeLoop.announce), withdrawn when it is queued

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

    def __init__(
        self, loaded: LoadedModel, *, max_batch: int | None = None, prefix_cache_bytes: int = PREFIX_CACHE_BYTES
    ) -> None:
        self.loaded = loaded
        self.max_batch = max(1, max_batch or MAX_BATCH)
        self.prefixes = kv_cache.PrefixCache(prefix_cache_bytes)
        self._pending: deque[_Row] = deque()
        self._coming: dict[int, float] = {}  # announcements: ticket -> time.monotonic() when announced
        self._tickets = itertools.count()
        self._last_arrival = 0.0  # time.monotonic() of the last announcement or submission
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self.peak_batch = 0  # most rows decoded together so far (for tests and the bench)
        self.peak_prefill = 0  # most prompts prefilled in one turn (between two decode steps) so far
        self.decoding = 0  # rows in the batch now
        self.admitted = 0  # rows ever admitted (prefilled): generations this loop has really started

    @property
    def waiting(self) -> int:
        """Requests queued for a place in the batch."""
        return len(self._pending)

    def announce(self) -> int:
        """Say that a request is on its way (its prompt is being encoded); returns the ticket that
        :meth:`submit` (via ``row.ticket``) or :meth:`withdraw` takes back."""
        with self._wake:
            ticket = next(self._tickets)
            now = time.monotonic()
            for old, since in list(self._coming.items()):
                if now - since >= ADMIT_WINDOW_S:
                    del self._coming[old]  # announced, never queued in time: it holds nothing any more
            self._coming[ticket] = self._last_arrival = now
            return ticket

    def withdraw(self, ticket: int | None) -> None:
        """Take back an announcement whose request will not be queued (its prompt could not be encoded)."""
        if ticket is not None:
            with self._wake:
                self._coming.pop(ticket, None)
                self._wake.notify()

    def submit(self, row: _Row) -> None:
        with self._wake:
            self._pending.append(row)
            self._last_arrival = time.monotonic()
            if row.ticket is not None:
                self._coming.pop(row.ticket, None)
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
                    if not rows:
                        self._await_coming()
                    arrived: list[_Row] = []
                    while self._pending and len(rows) + len(arrived) < self.max_batch:
                        arrived.append(self._pending.popleft())
                newcomers, shared = self._admissible(arrived)
                if newcomers:
                    try:
                        prefill = self._prefill_alone if self.loaded.exact else self._prefill_together
                        cache = prefill(newcomers, shared, rows, cache)
                    except Exception as exc:
                        for row in newcomers:
                            row.finish(exc)
                if rows:
                    try:
                        cache = self._step(rows, cache)
                    except Exception as exc:
                        for row in rows:
                            row.finish(exc)
                        rows, cache = [], None

    def _await_coming(self) -> None:
        """With the batch empty and a request queued: wait (holding ``_wake``'s lock between waits) until every
        request announced less than :data:`ADMIT_WINDOW_S` ago is queued too and none has arrived for
        :data:`ADMIT_GAP_S`, or the batch would be full, or :data:`ADMIT_WINDOW_S` has passed."""
        deadline = time.monotonic() + ADMIT_WINDOW_S
        while len(self._pending) < self.max_batch:
            now = time.monotonic()
            for ticket, since in list(self._coming.items()):
                if now - since >= ADMIT_WINDOW_S:
                    del self._coming[ticket]  # announced, never queued in time: it holds nothing any more
            until = deadline if self._coming else min(deadline, self._last_arrival + ADMIT_GAP_S)
            if now >= until:
                return
            self._wake.wait(until - now)

    def _admissible(self, arrived: list[_Row]) -> tuple[list[_Row], list[tuple[int, kv_cache.Layers | None]]]:
        """The requests of ``arrived`` to prefill now, with the prefix each reuses (in exact mode cut back to a
        multiple of :data:`PREFILL_CHUNK`): the first ones whose new tokens (padded to the widest, unless exact)
        fit :data:`PREFILL_TOKENS` (always at least one); cancelled ones end here, the rest go back to the front
        of the queue."""
        newcomers: list[_Row] = []
        shared: list[tuple[int, kv_cache.Layers | None]] = []
        total = widest = 0
        for index, row in enumerate(arrived):
            if row.cancelled.is_set():  # the client went away while it waited: never prefilled
                row.finish()
                continue
            hit, layers = self.prefixes.longest(row.prompt[0])
            if self.loaded.exact:  # prompts computed alone, in passes ending at multiples of PREFILL_CHUNK
                hit -= hit % PREFILL_CHUNK
                total += int(row.prompt.shape[1]) - hit
            else:  # prompts computed in one pass, left-padded to the widest
                widest = max(widest, int(row.prompt.shape[1]) - hit)
                total = (len(newcomers) + 1) * widest
            if newcomers and total > PREFILL_TOKENS:
                with self._wake:
                    self._pending.extendleft(reversed(arrived[index:]))
                break
            newcomers.append(row)
            shared.append((hit, layers))
        return newcomers, shared

    def _prefill_alone(
        self, newcomers: list[_Row], shared: list[tuple[int, kv_cache.Layers | None]], rows: list[_Row], cache: Any
    ) -> Any:
        """Prefill each of ``newcomers`` alone (no padding), from its shared prefix, in chunks that end at multiples
        of :data:`PREFILL_CHUNK`; stream its first token at once, keep its prompt's cache for reuse, and merge the
        unfinished ones into the batch's cache. A prompt is thus computed in the same passes whoever else is in the
        batch and whatever prefix was cached, so its cache and first token are the same bits every time."""
        from studio.engine import int8

        loaded = self.loaded
        self.admitted += len(newcomers)
        self.peak_prefill = max(self.peak_prefill, len(newcomers))
        for row, (hit, layers) in zip(newcomers, shared, strict=True):
            length = int(row.prompt.shape[1])
            past = kv_cache.rebuilt([(k[:, :, :hit], v[:, :, :hit]) for k, v in layers]) if hit and layers else None
            self.prefixes.reused += hit if past is not None else 0
            done = hit if past is not None else 0
            with int8.full_precision():
                while done < length:
                    end = min((done // PREFILL_CHUNK + 1) * PREFILL_CHUNK, length)
                    out = loaded.model(
                        input_ids=row.prompt[:, done:end].to(loaded.device),
                        use_cache=True,
                        logits_to_keep=1,
                        **{cache_argument(loaded.model): past},
                    )
                    past, done = out.past_key_values, end
            row.length = length
            self.prefixes.add(row.prompt[0], kv_cache.layer_pairs(past))
            if row.cancelled.is_set():
                row.finish()
                continue
            if row.accept(_sample(out.logits[0, -1].float(), row.temperature, row.top_p, row.generator)):
                row.finish()
                continue
            rows.append(row)
            cache = kv_cache.merge(cache, past)
        self.peak_batch = max(self.peak_batch, len(rows))
        return cache if not rows else kv_cache.trim(cache, max(row.length for row in rows))

    def _prefill_together(
        self, newcomers: list[_Row], shared: list[tuple[int, kv_cache.Layers | None]], rows: list[_Row], cache: Any
    ) -> Any:
        """Prefill ``newcomers`` in one pass (left-padded), each from its shared prefix, stream their first tokens,
        keep their prompts' caches for reuse, and merge the unfinished ones into the batch's cache."""
        import torch

        from studio.engine import int8

        loaded = self.loaded
        lengths = [int(row.prompt.shape[1]) for row in newcomers]
        # Every row computes its last `new` tokens (at least the ones it does not share) from a past of `kept`.
        new = max(length - hit for length, (hit, _) in zip(lengths, shared, strict=True))
        kept = [max(length - new, 0) for length in lengths]
        past_width = max(kept)
        ids = torch.zeros((len(newcomers), new), dtype=torch.long)
        for i, row in enumerate(newcomers):
            tail = row.prompt[0, -new:]
            ids[i, new - len(tail) :] = tail
        past = None
        if past_width:
            past = kv_cache.rebuilt(
                kv_cache.stacked([(layers, n) for (_, layers), n in zip(shared, kept, strict=True)], past_width)
            )
        mask = positions = None
        if any(length != past_width + new for length in lengths):
            mask = torch.zeros((len(newcomers), past_width + new), dtype=torch.long)
            for i, length in enumerate(lengths):
                mask[i, past_width + new - length :] = 1
            positions = (torch.arange(new)[None, :] + torch.tensor(lengths)[:, None] - new).clamp(min=0)
        with int8.full_precision():
            out = loaded.model(
                input_ids=ids.to(loaded.device),
                attention_mask=None if mask is None else mask.to(loaded.device),
                position_ids=None if positions is None else positions.to(loaded.device),
                use_cache=True,
                logits_to_keep=1,
                **{cache_argument(loaded.model): past},
            )
        self.admitted += len(newcomers)
        self.peak_prefill = max(self.peak_prefill, len(newcomers))
        self.prefixes.reused += sum(kept)
        fresh = out.past_key_values
        width = fresh.get_seq_length()
        logits = out.logits[:, -1].float()
        keep = []
        for i, row in enumerate(newcomers):
            row.length = lengths[i]
            start = width - row.length  # this row's prompt, without its left padding
            own = [
                (k[i : i + 1, :, start:].clone(), v[i : i + 1, :, start:].clone())
                for k, v in kv_cache.layer_pairs(fresh)
            ]
            self.prefixes.add(row.prompt[0], own)
            if row.cancelled.is_set():
                row.finish()
                continue
            if row.accept(_sample(logits[i], row.temperature, row.top_p, row.generator)):
                row.finish()
            else:
                keep.append(i)
        if not keep:
            return cache
        if len(keep) < len(newcomers):
            fresh = kv_cache.select(fresh, keep)
        rows.extend(newcomers[i] for i in keep)
        self.peak_batch = max(self.peak_batch, len(rows))
        return kv_cache.trim(kv_cache.merge(cache, fresh), max(row.length for row in rows))

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
            cache = kv_cache.select(cache, keep)
        return kv_cache.trim(cache, max(row.length for row in rows))


_LOOPS_LOCK = threading.Lock()
_LOOPS: weakref.WeakSet[DecodeLoop] = weakref.WeakSet()  # a model dropped from the engine's cache takes its loop


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
            _LOOPS.add(loop)
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
    """A completion of ``messages`` decoded in the model's decode loop, together with its other requests in flight.

    Raises :class:`~studio.engine.errors.ContextLengthError` before anything is queued when the prompt leaves no
    room. Iterating the result blocks until the loop produces text; closing it cancels this request alone.
    """
    import torch

    loop = decode_loop(loaded)
    ticket = loop.announce()  # an idle loop holds an arrival's prefill for this one (ADMIT_WINDOW_S at most)
    try:
        prompt, room = encode_prompt(loaded, messages)
    except BaseException:
        loop.withdraw(ticket)
        raise
    generation = BatchedGeneration(prompt_tokens=int(prompt.shape[1]))
    limit = min(max_tokens or DEFAULT_MAX_TOKENS, room)
    row = _Row(
        prompt=prompt,
        temperature=temperature,
        top_p=top_p,
        generator=torch.Generator().manual_seed(seed if seed is not None else secrets.randbits(63)),
        text=TextAssembler(generation, loaded.tokenizer, loaded.eos_ids, stop=stop, limit=limit),
        ticket=ticket,
    )

    def deltas() -> Iterator[str]:
        loop.submit(row)
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
