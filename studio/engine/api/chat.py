"""``/v1/chat/completions``: one answer, or Server-Sent Events of ``chat.completion.chunk`` objects.

A request is decoded apart from its connection (:mod:`studio.engine.inflight`): while it waits or decodes, the
response carries a keep-alive byte every few seconds, a retry with the same ``Idempotency-Key`` attaches to the
generation already running, and a client that goes away frees its place in the batch.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from studio.engine.api.deps import EngineDep
from studio.engine.api.errors import error_body, http_status
from studio.engine.errors import EngineError
from studio.engine.inflight import DONE, InFlight, InFlightChats, Subscriber
from studio.engine.protocol import ChatRequest, chat_chunk, chat_completion, dump, usage

router = APIRouter(tags=["chat"])
IDEMPOTENCY_HEADER = "Idempotency-Key"


class _Attached(StreamingResponse):
    """A streaming response that lets go of its generation however it ends (sent, or the client went away)."""

    def __init__(self, content: AsyncIterator[str], *, release: Callable[[], None], **options: Any) -> None:
        super().__init__(content, **options)
        self._release = release

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


@router.post("/chat/completions")
async def chat_completions(engine: EngineDep, body: ChatRequest, request: Request) -> Any:
    chats: InFlightChats = engine.chats
    key = request.headers.get(IDEMPOTENCY_HEADER)
    flight = await run_in_threadpool(chats.begin, key, body, lambda: engine.start_chat(body))
    subscriber = flight.attach()

    def release() -> None:
        flight.detach(subscriber, grace_s=chats.retry_grace_s)

    ids: dict[str, Any] = {
        "completion_id": "chatcmpl-" + secrets.token_hex(12),
        "created": int(time.time()),
        "model": body.model,
    }
    try:
        if body.stream:
            include_usage = bool((body.stream_options or {}).get("include_usage"))
            return _Attached(
                _sse(chats, flight, subscriber, include_usage=include_usage, ids=ids),
                release=release,
                media_type="text/event-stream",
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        # A quick answer, or an early error, is an ordinary response with its own status; a slow one starts the
        # response now and keeps it alive with spaces before the JSON (which JSON parsers skip).
        outcome = await _first_wait(subscriber, request, chats.heartbeat_s)
        if outcome != "waiting":
            release()
            if outcome == "gone":
                return Response(status_code=499)  # nobody reads it: the client closed the connection
            if flight.error is not None:
                raise flight.error
            return dump(chat_completion(flight.generation, flight.generation.text, **ids))
    except BaseException:
        release()
        raise
    return _Attached(_json_later(chats, flight, subscriber, ids), release=release, media_type="application/json")


async def _first_wait(subscriber: Subscriber, request: Request, seconds: float) -> str:
    """``"ended"`` when the generation ends within ``seconds``, ``"gone"`` when the client closes its connection
    first, else ``"waiting"`` (text pieces are read and dropped meanwhile: the answer is the flight's text)."""

    async def ended() -> None:
        while await subscriber.queue.get() is not DONE:
            pass

    async def gone() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    tasks = {asyncio.ensure_future(ended()): "ended", asyncio.ensure_future(gone()): "gone"}
    try:
        finished, _ = await asyncio.wait(tasks, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
    outcomes = {tasks[task] for task in finished if not task.cancelled() and task.exception() is None}
    return "ended" if "ended" in outcomes else "gone" if "gone" in outcomes else "waiting"


def _failure(flight: InFlight) -> dict[str, Any]:
    """OpenAI's error object for a generation that failed after its response had started."""
    error = flight.error
    if isinstance(error, EngineError):
        return error_body(error.message, http_status(error)[1], error.param, error.code)
    return error_body(f"{type(error).__name__}: {error}", "server_error")


async def _json_later(
    chats: InFlightChats, flight: InFlight, subscriber: Subscriber, ids: dict[str, Any]
) -> AsyncIterator[str]:
    async for piece in chats.events(subscriber, text_is_sent=False):
        if piece is None:
            yield " "
    if flight.error is not None:
        yield json.dumps(_failure(flight), ensure_ascii=False)
    else:
        yield json.dumps(dump(chat_completion(flight.generation, flight.generation.text, **ids)), ensure_ascii=False)


async def _sse(
    chats: InFlightChats,
    flight: InFlight,
    subscriber: Subscriber,
    *,
    include_usage: bool,
    ids: dict[str, Any],
) -> AsyncIterator[str]:
    """The stream: a role chunk, one chunk per text delta (an SSE comment line after each silent heartbeat), the
    finish chunk, the usage chunk when asked, [DONE]; a failure midway ends it with an OpenAI error event."""

    def event(**fields: Any) -> str:
        body = dump(chat_chunk(**ids, **fields))
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    yield event(delta={"role": "assistant", "content": "", "refusal": None}, with_usage=include_usage)
    async for text in chats.events(subscriber, text_is_sent=True):
        yield ": keep-alive\n\n" if text is None else event(delta={"content": text}, with_usage=include_usage)
    if flight.error is not None:
        yield f"data: {json.dumps(_failure(flight), ensure_ascii=False)}\n\n"
        return
    generation = flight.generation
    yield event(delta={}, finish_reason=generation.finish_reason, with_usage=include_usage)
    if include_usage:
        yield event(usage=usage(generation), with_usage=True)
    yield "data: [DONE]\n\n"
