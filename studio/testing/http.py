"""The test server's HTTP/1.1: just enough (keep-alive, chunked server-sent events) for the ``openai`` SDK."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from dataclasses import asdict
from typing import Any

from studio.testing.behaviour import (
    _State,
    _unit,
    _words,
    behaviour_from_dict,
    reply_for,
    request_key,
    tool_calls_for,
)

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


async def _read_request(reader: asyncio.StreamReader) -> tuple[str, str, dict[str, str], bytes] | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    method, target, _ = [*lines[0].split(" "), "", ""][:3]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length") or 0)
    body = await reader.readexactly(length) if length else b""
    return method, target.split("?", 1)[0], headers, body


def _response(status: int, payload: Any, extra: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "Content-Length": str(len(body)), **(extra or {})}
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Error')}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


def _error(status: int, message: str, kind: str = "server_error", extra: dict[str, str] | None = None) -> bytes:
    return _response(status, {"error": {"message": message, "type": kind, "code": None, "param": None}}, extra)


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


class _Handler:
    def __init__(self, state: _State) -> None:
        self.state = state

    async def __call__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    break
                keep = await self._route(*request, writer)
                if not keep:
                    break
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    async def _route(
        self, method: str, path: str, headers: dict[str, str], body: bytes, writer: asyncio.StreamWriter
    ) -> bool:
        b = self.state.behaviour
        if path.endswith("/_stats"):
            writer.write(_response(200, self.state.stats()))
        elif path.endswith("/_requests"):
            writer.write(_response(200, self.state.bodies))
        elif path.endswith("/_configure") and method == "POST":
            options = json.loads(body or b"{}")
            reset = bool(options.pop("reset", True))
            self.state.configure(behaviour_from_dict(options), reset=reset)
            writer.write(_response(200, asdict(self.state.behaviour)))
        elif b.api_key and headers.get("authorization") != f"Bearer {b.api_key}":
            writer.write(_error(401, "Incorrect API key provided.", "invalid_request_error"))
        elif path.endswith("/models") and method == "GET":
            writer.write(
                _response(
                    200,
                    {
                        "object": "list",
                        "data": [
                            {"id": m, "object": "model", "created": 1_700_000_000 + i, "owned_by": "testserver"}
                            for i, m in enumerate(b.models)
                        ],
                    },
                )
            )  # later in the list = created later
        elif path.endswith("/chat/completions") and method == "POST":
            return await self._complete(json.loads(body or b"{}"), writer)
        else:
            writer.write(_error(404, f"no route {method} {path}", "invalid_request_error"))
        await writer.drain()
        return True

    async def _complete(self, request: dict[str, Any], writer: asyncio.StreamWriter) -> bool:
        state, b = self.state, self.state.behaviour
        model, messages = str(request.get("model", "")), list(request.get("messages") or [])
        state.requests += 1
        state.record(request)
        state.in_flight += 1
        state.max_in_flight = max(state.max_in_flight, state.in_flight)
        try:
            if model not in b.models:
                writer.write(_error(404, f"The model `{model}` does not exist.", "invalid_request_error"))
                await writer.drain()
                return True
            key = request_key(model, messages)
            fault = state.fault_for(key)
            delay = b.latency + (b.jitter * _unit(b.seed, key, "jitter") if b.jitter else 0.0)
            delay += b.load_latency * (state.in_flight - 1)  # a server that slows down with its load
            await asyncio.sleep(delay)
            if fault != "ok":
                state.faults[str(fault)] += 1
            if fault == "drop":
                return False
            if fault == "hang":
                await asyncio.sleep(b.hang)
                return False
            if isinstance(fault, int):
                extra = {}
                if fault in (429, 503) and b.retry_after is not None:
                    extra = {"Retry-After": f"{b.retry_after:g}", "retry-after-ms": str(int(b.retry_after * 1000))}
                writer.write(
                    _error(
                        fault, f"injected fault {fault}", "rate_limit_error" if fault == 429 else "server_error", extra
                    )
                )
                await writer.drain()
                return True
            calls = tool_calls_for(request)
            answer = "" if calls else reply_for(model, messages)
            words = answer.split(" ") if answer else []
            limit = request.get("max_tokens") or request.get("max_completion_tokens")
            finish = "tool_calls" if calls else "stop"
            if isinstance(limit, int) and 0 < limit < len(words):
                words, finish = words[:limit], "length"
            answer = " ".join(words)
            usage = {
                "prompt_tokens": sum(_words(str(m.get("content") or "")) for m in messages),
                "completion_tokens": len(answer.split()) + sum(_words(c["function"]["arguments"]) for c in calls or []),
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            base = {"id": f"chatcmpl-{key}", "created": int(time.time()), "model": model}
            if request.get("stream"):
                await self._stream(
                    writer,
                    base,
                    words,
                    finish,
                    usage,
                    bool((request.get("stream_options") or {}).get("include_usage")),
                    calls,
                )
            else:
                writer.write(
                    _response(
                        200,
                        {
                            **base,
                            "object": "chat.completion",
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": answer or None, "tool_calls": calls}
                                    if calls
                                    else {"role": "assistant", "content": answer},
                                    "finish_reason": finish,
                                    "logprobs": None,
                                }
                            ],
                            "usage": usage,
                        },
                    )
                )
                await writer.drain()
            state.charged[key] += 1
            return True
        finally:
            state.in_flight -= 1

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        base: dict[str, Any],
        words: list[str],
        finish: str,
        usage: dict[str, int],
        include_usage: bool,
        calls: list[dict[str, Any]] | None = None,
    ) -> None:
        head = (
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            "Transfer-Encoding: chunked\r\n\r\n"
        )
        writer.write(head.encode())

        async def event(payload: Any) -> None:
            data = (
                payload
                if isinstance(payload, str)
                else json.dumps({**base, "object": "chat.completion.chunk", **payload})
            )
            writer.write(_chunk(f"data: {data}\n\n".encode()))
            await writer.drain()

        await event({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]})
        for i, word in enumerate(words):
            if i and self.state.behaviour.chunk_delay:
                await asyncio.sleep(self.state.behaviour.chunk_delay)
            piece = word if i == 0 else " " + word
            await event({"choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}]})
        for i, call in enumerate(calls or []):  # as OpenAI streams them: id and name first, then the arguments
            head_delta = {
                "index": i,
                "id": call["id"],
                "type": "function",
                "function": {"name": call["function"]["name"]},
            }
            await event({"choices": [{"index": 0, "delta": {"tool_calls": [head_delta]}, "finish_reason": None}]})
            arguments = {"index": i, "function": {"arguments": call["function"]["arguments"]}}
            await event({"choices": [{"index": 0, "delta": {"tool_calls": [arguments]}, "finish_reason": None}]})
        await event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if include_usage:
            await event({"choices": [], "usage": usage})
        await event("[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()
