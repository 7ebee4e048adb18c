"""Chat requests in flight: decoded apart from the connection that asked, shared by its retries, cancelled when
nobody waits for them any more.

A client must never mistake a request that waits for a place in the batch (or decodes slowly on a busy CPU)
for a dead server, and a retry must never start a second generation of a request the engine is still working on:

- **keep-alive** — while a request is queued or decoding, its response carries a byte at least every
  ``heartbeat_s`` seconds (a space before a JSON body, which JSON ignores; an SSE comment line in a stream, which
  SSE clients ignore), so a client's read timeout (httpx's, under the ``openai`` SDK) measures silence, not work;
- **one generation per request** — a request that carries an ``Idempotency-Key`` header (the studio's clients
  send one per logical request, the same on every retry: :func:`studio.providers.retry.request_key`) and whose
  body equals a request in flight (or finished less than ``retry_grace_s`` ago) attaches to that generation:
  it gets the text decoded so far and the rest, and nothing is decoded twice;
- **a client that leaves frees its slot** — when the last connection waiting for a generation closes, the
  generation is cancelled (it leaves the decode batch at the next step, or the queue before its prefill); a keyed
  one waits ``retry_grace_s`` for a retry to attach first.

Nothing here polls: the drain thread blocks on the decode loop's queue, connections wait on asyncio queues, and
the heartbeat is a timeout on that wait, so an idle engine runs no code.
"""

from __future__ import annotations

import asyncio
import hashlib
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from studio.engine.batching import BatchedGeneration

HEARTBEAT_S = 5.0
RETRY_GRACE_S = 15.0
DONE = object()
"""Put on a subscriber's queue when the generation has ended (finished, failed or cancelled)."""


@dataclass(eq=False)
class Subscriber:
    """One HTTP response waiting for a generation: its event loop and the queue of text pieces it reads."""

    loop: asyncio.AbstractEventLoop
    queue: asyncio.Queue = field(default_factory=asyncio.Queue)

    def put(self, item: object) -> None:
        self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class InFlight:
    """One generation being decoded, its text so far, and the responses waiting for it."""

    def __init__(self, generation: BatchedGeneration, key: str | None, on_end: Callable[[InFlight], None]) -> None:
        self.generation = generation
        self.key = key
        self.pieces: list[str] = []
        self.error: BaseException | None = None
        self.done = False
        self.ended_at: float | None = None
        self.cancelled = False
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []
        self._on_end = on_end
        self._thread = threading.Thread(target=self._drain, name="studio-chat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _drain(self) -> None:
        try:
            for piece in self.generation:
                with self._lock:
                    self.pieces.append(piece)
                    subscribers = list(self._subscribers)
                for subscriber in subscribers:
                    subscriber.put(piece)
        except BaseException as exc:  # reported to every waiting response as an OpenAI error
            self.error = exc
        finally:
            with self._lock:
                self.done, self.ended_at = True, time.monotonic()
                subscribers = list(self._subscribers)
            for subscriber in subscribers:
                subscriber.put(DONE)
            self._on_end(self)

    def attach(self) -> Subscriber:
        """A new waiting response: its queue starts with the text decoded so far (and DONE if it has ended)."""
        subscriber = Subscriber(asyncio.get_running_loop())
        with self._lock:
            for piece in self.pieces:
                subscriber.queue.put_nowait(piece)
            if self.done:
                subscriber.queue.put_nowait(DONE)
            self._subscribers.append(subscriber)
        return subscriber

    def detach(self, subscriber: Subscriber, *, grace_s: float) -> None:
        """A response is over (sent, or its client went away): with nobody left waiting, cancel the generation,
        at once or, for a keyed request, after ``grace_s`` unless a retry attached meanwhile."""
        with self._lock:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)
            orphaned = not self._subscribers and not self.done
        if not orphaned:
            return
        if self.key is None or grace_s <= 0:
            self.cancel_if_orphaned()
        else:
            subscriber.loop.call_later(grace_s, self.cancel_if_orphaned)

    def cancel_if_orphaned(self) -> None:
        with self._lock:
            if self._subscribers or self.done:
                return
            self.cancelled = True
        self.generation.cancel()

    @property
    def text(self) -> str:
        return "".join(self.pieces)


class InFlightChats:
    """The engine's chat generations in flight, by idempotency key; counts every generation started."""

    def __init__(self, *, heartbeat_s: float = HEARTBEAT_S, retry_grace_s: float = RETRY_GRACE_S) -> None:
        self.heartbeat_s = heartbeat_s
        self.retry_grace_s = retry_grace_s
        self.started = 0  # generations started (a retry that attached starts none)
        self.attached = 0  # requests served by a generation another request started
        self.cancelled = 0  # generations cancelled because nobody waited for them any more
        self._lock = threading.Lock()
        self._by_key: dict[str, InFlight] = {}
        self._active: set[InFlight] = set()

    def begin(self, key: str | None, body: Any, start: Callable[[], BatchedGeneration]) -> InFlight:
        """The flight for a request: the one already started under the same key and body, else a new one from
        ``start()`` (which may raise the engine's errors: nothing is registered then)."""
        full_key = None
        if key:
            digest = hashlib.sha256(body.model_dump_json(exclude_none=True).encode()).hexdigest()[:16]
            full_key = f"{key}:{digest}"
        with self._lock:
            self._forget_old()
            flight = self._by_key.get(full_key) if full_key else None
            if flight is not None and not flight.cancelled:
                self.attached += 1
                return flight
        flight = InFlight(start(), full_key, self._ended)
        with self._lock:
            self.started += 1
            self._active.add(flight)
            if full_key:
                self._by_key[full_key] = flight
        flight.start()
        return flight

    def _ended(self, flight: InFlight) -> None:
        with self._lock:
            self._active.discard(flight)
            self.cancelled += flight.cancelled
            if flight.key and flight.cancelled:
                self._by_key.pop(flight.key, None)

    def _forget_old(self) -> None:
        """Drop finished keyed flights older than the retry grace (called under the lock, on each request)."""
        now = time.monotonic()
        for key, flight in list(self._by_key.items()):
            if flight.ended_at is not None and now - flight.ended_at > self.retry_grace_s:
                del self._by_key[key]

    def stats(self) -> dict[str, int]:
        with self._lock:
            return {
                "in_flight": len(self._active),
                "started": self.started,
                "attached": self.attached,
                "cancelled": self.cancelled,
            }

    async def events(self, subscriber: Subscriber, *, text_is_sent: bool) -> AsyncIterator[str | None]:
        """The text pieces of a generation as they come, and ``None`` whenever ``heartbeat_s`` has passed without
        a byte for the client: since the last piece when pieces are sent (``text_is_sent``, a stream), else since
        the last ``None`` (a JSON body, sent whole at the end)."""
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            try:
                item = await asyncio.wait_for(subscriber.queue.get(), max(0.0, last + self.heartbeat_s - loop.time()))
            except TimeoutError:
                last = loop.time()
                yield None
                continue
            if item is DONE:
                return
            if text_is_sent:
                last = loop.time()
            yield item
