"""``/v1/chat/completions``: one answer, or Server-Sent Events of ``chat.completion.chunk`` objects."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter
from fastapi.responses import StreamingResponse

from studio.engine.api.deps import EngineDep
from studio.engine.models import Generation
from studio.engine.protocol import ChatRequest, chat_chunk, chat_completion, dump, usage

router = APIRouter(tags=["chat"])


@router.post("/chat/completions")
def chat_completions(engine: EngineDep, body: ChatRequest) -> Any:
    generation = engine.start_chat(body)
    completion_id = "chatcmpl-" + secrets.token_hex(12)
    created = int(time.time())
    if not body.stream:
        text = generation.run()
        return dump(chat_completion(generation, text, completion_id=completion_id, created=created, model=body.model))
    include_usage = bool((body.stream_options or {}).get("include_usage"))
    return StreamingResponse(
        _sse(
            generation,
            include_usage=include_usage,
            completion_id=completion_id,
            created=created,
            model=body.model,
        ),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def _sse(
    generation: Generation,
    *,
    include_usage: bool,
    completion_id: str,
    created: int,
    model: str,
) -> Iterator[str]:
    """The stream: a role chunk, one chunk per text delta, the finish chunk, the usage chunk when asked, [DONE]."""
    chunk_ids: dict[str, Any] = {"completion_id": completion_id, "created": created, "model": model}

    def event(**fields: Any) -> str:
        body = dump(chat_chunk(**chunk_ids, **fields))
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    # Closing this generator (the client went away) closes the generation, which leaves the decode batch.
    deltas = iter(generation)
    try:
        yield event(delta={"role": "assistant", "content": "", "refusal": None}, with_usage=include_usage)
        for text in deltas:
            yield event(delta={"content": text}, with_usage=include_usage)
        yield event(delta={}, finish_reason=generation.finish_reason, with_usage=include_usage)
    finally:
        close = getattr(deltas, "close", None)
        if close is not None:
            close()
    if include_usage:
        yield event(usage=usage(generation), with_usage=True)
    yield "data: [DONE]\n\n"
