"""A small OpenAI-compatible chat-completions server with injectable latency and faults, for tests and benchmarks.

It speaks just enough HTTP/1.1 (keep-alive, chunked server-sent events) for the ``openai`` SDK:
``GET /v1/models``, ``POST /v1/chat/completions`` (plain and ``stream=True``), plus ``GET /_stats`` and
``POST /_configure`` for the harness. It runs on a free loopback port, in a background thread
(:class:`TestServer`) or in its own process (:func:`spawn_server`, ``python -m studio.testing.server``).

Faults are deterministic by seed: each request is identified by its *key* (model + messages) and its attempt
number for that key, and the fault for (seed, key, attempt) comes from a hash, so a run gives the same faults
whatever the concurrency. A ``script`` of faults, consumed in arrival order, serves tests that need an exact
sequence. Fault kinds: an HTTP status (429 and 503 carry ``Retry-After``), ``"hang"`` (hold the request, no
answer), ``"drop"`` (close the connection without answering), ``"ok"``.

Answers are deterministic too: ``"<model>: <last user message>"``, or, when the user message starts with
``ANSWER:``, the rest of it verbatim (so a test can make a model say anything). Token counts are word counts.
A *charge* is a successful completion; ``stats()["duplicates"]`` counts keys charged more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Self, TypeVar

import httpx

Fault = int | str  # an HTTP status, "hang", "drop" or "ok"
_T = TypeVar("_T")

FAULT_KINDS = ("hang", "drop", "ok")
DEFAULT_MODELS = ("base-model", "ft:base-model:studio:demo:abc123")
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


@dataclass(frozen=True)
class Behaviour:
    """How the server answers. Times are seconds."""

    latency: float = 0.0  # before the answer (or the first streamed chunk)
    jitter: float = 0.0  # extra latency in [0, jitter), fixed per (seed, key): answers finish out of order
    error_rate: float = 0.0  # share of attempts that fail with one of ``errors``
    errors: tuple[Fault, ...] = (429, 500)
    retry_after: float | None = 0.05  # sent with 429 and 503 as Retry-After and retry-after-ms
    hang: float = 30.0  # how long a "hang" holds the request
    chunk_delay: float = 0.0  # between streamed chunks (slow streams)
    seed: int = 0
    models: tuple[str, ...] = DEFAULT_MODELS
    api_key: str | None = None  # when set, requests need ``Authorization: Bearer <api_key>``
    script: tuple[Fault, ...] = ()  # faults for the next requests in arrival order, before ``error_rate``

    def __post_init__(self) -> None:
        for fault in (*self.errors, *self.script):
            if not (isinstance(fault, int) and 400 <= fault <= 599) and fault not in FAULT_KINDS:
                raise ValueError(f"unknown fault {fault!r}: use an HTTP status 400-599 or one of {FAULT_KINDS}")
        if not 0 <= self.error_rate <= 1:
            raise ValueError(f"error_rate must be between 0 and 1, got {self.error_rate!r}")


def _unit(*parts: Any) -> float:
    """A deterministic number in [0, 1) from ``parts``."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def request_key(model: str, messages: list[dict[str, Any]]) -> str:
    """What identifies one billable prompt: the model and the conversation."""
    return hashlib.sha256(json.dumps([model, messages], sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def reply_for(model: str, messages: list[dict[str, Any]]) -> str:
    """The deterministic answer: ``ANSWER:`` text verbatim, else ``"<model>: <last user message>"``."""
    user = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "") or ""
    if not isinstance(user, str):
        user = json.dumps(user, ensure_ascii=False)
    if user.startswith("ANSWER:"):
        return user[len("ANSWER:") :].lstrip()
    return f"{model}: {user}"


def _words(text: str) -> int:
    return len(text.split())


class _State:
    """Counters shared by the connection handlers (all on one event loop, so no locks)."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.script = list(behaviour.script)
        self.attempts: Counter[str] = Counter()
        self.charged: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0

    def configure(self, behaviour: Behaviour, *, reset: bool) -> None:
        self.behaviour = behaviour
        self.script = list(behaviour.script)
        if reset:
            self.attempts.clear()
            self.charged.clear()
            self.faults.clear()
            self.requests = self.max_in_flight = 0

    def fault_for(self, key: str) -> Fault:
        self.attempts[key] += 1
        if self.script:
            return self.script.pop(0)
        b = self.behaviour
        if b.error_rate and _unit(b.seed, key, self.attempts[key], "fault") < b.error_rate:
            return b.errors[int(_unit(b.seed, key, self.attempts[key], "kind") * len(b.errors))]
        return "ok"

    def stats(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "completions": sum(self.charged.values()),
            "charged_keys": len(self.charged),
            "duplicates": sum(1 for n in self.charged.values() if n > 1),
            "faults": dict(self.faults),
            "max_in_flight": self.max_in_flight,
        }


# ---------------------------------------------------------------------------------------------- HTTP


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
            answer = reply_for(model, messages)
            words = answer.split(" ")
            limit = request.get("max_tokens") or request.get("max_completion_tokens")
            finish = "stop"
            if isinstance(limit, int) and 0 < limit < len(words):
                words, finish = words[:limit], "length"
            answer = " ".join(words)
            usage = {
                "prompt_tokens": sum(_words(str(m.get("content") or "")) for m in messages),
                "completion_tokens": len(answer.split()),
            }
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
            base = {"id": f"chatcmpl-{key}", "created": int(time.time()), "model": model}
            if request.get("stream"):
                await self._stream(
                    writer, base, words, finish, usage, bool((request.get("stream_options") or {}).get("include_usage"))
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
                                    "message": {"role": "assistant", "content": answer},
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
        await event({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
        if include_usage:
            await event({"choices": [], "usage": usage})
        await event("[DONE]")
        writer.write(b"0\r\n\r\n")
        await writer.drain()


def behaviour_from_dict(options: dict[str, Any]) -> Behaviour:
    """A :class:`Behaviour` from JSON-ish options (lists become tuples)."""
    known = set(Behaviour.__dataclass_fields__)
    unknown = set(options) - known
    if unknown:
        raise ValueError(f"unknown behaviour options {sorted(unknown)}; known: {sorted(known)}")
    values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in options.items()}
    return Behaviour(**values)


# ---------------------------------------------------------------------------------------------- servers


class TestServer:
    """The server on a free loopback port, in a daemon thread: ``with TestServer(Behaviour(...)) as server:``."""

    __test__ = False  # not a pytest test class

    def __init__(self, behaviour: Behaviour | None = None, *, port: int = 0) -> None:
        self.state = _State(behaviour or Behaviour())
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The base URL to give the SDK (``http://127.0.0.1:PORT/v1``)."""
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def behaviour(self) -> Behaviour:
        return self.state.behaviour

    def configure(self, behaviour: Behaviour | None = None, *, reset: bool = False, **changes: Any) -> None:
        """Change the behaviour (a new one, or ``changes`` to the current one); ``reset`` clears the counters."""
        new = replace(behaviour or self.state.behaviour, **changes)
        self._call(lambda: self.state.configure(new, reset=reset))

    def stats(self) -> dict[str, Any]:
        """Requests, completions (charges), duplicate charges, faults by kind, peak concurrency."""
        return self._call(self.state.stats)

    def start(self) -> Self:
        ready = threading.Event()
        loop = self._loop = asyncio.new_event_loop()

        def serve() -> None:
            asyncio.set_event_loop(loop)
            server = self._server = loop.run_until_complete(
                asyncio.start_server(_Handler(self.state), "127.0.0.1", self.port, backlog=1024)
            )
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            loop.run_forever()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            loop.close()

        self._thread = threading.Thread(target=serve, name="studio-testserver", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the test server did not start within 10 s")
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop and thread and thread.is_alive():

            def shutdown() -> None:
                if self._server is not None:  # None only when start() gave up waiting for it
                    self._server.close()
                loop.stop()

            loop.call_soon_threadsafe(shutdown)
            thread.join(10)

    def _call(self, fn: Callable[[], _T]) -> _T:
        """Run ``fn`` on the server's loop (the counters belong to it) and return its result."""
        if self._loop is None or not self._loop.is_running():
            return fn()

        async def call() -> _T:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self._loop).result(10)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class ServerProcess:
    """The server in its own process (so a benchmark's client does not share its GIL)."""

    def __init__(self, process: subprocess.Popen, url: str) -> None:
        self.process = process
        self.url = url

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/_stats", timeout=10).json()

    def configure(self, behaviour: Behaviour, *, reset: bool = True) -> None:
        httpx.post(f"{self.url}/_configure", json={**asdict(behaviour), "reset": reset}, timeout=10).raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn_server(behaviour: Behaviour | None = None) -> ServerProcess:
    """Start ``python -m studio.testing.server`` on a free port and wait until it is ready."""
    options = json.dumps(asdict(behaviour or Behaviour()))
    process = subprocess.Popen(
        [sys.executable, "-m", "studio.testing.server", "--behaviour", options], stdout=subprocess.PIPE, text=True
    )
    line = process.stdout.readline().strip() if process.stdout else ""
    if not line.startswith("READY "):
        process.kill()
        raise RuntimeError(f"the test server process did not start: {line!r}")
    return ServerProcess(process, line.split(" ", 1)[1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.testing.server", description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--behaviour", default="{}", help="JSON object of Behaviour fields")
    parser.add_argument("--latency", type=float)
    parser.add_argument("--error-rate", type=float)
    args = parser.parse_args(argv)
    options = json.loads(args.behaviour)
    if args.latency is not None:
        options["latency"] = args.latency
    if args.error_rate is not None:
        options["error_rate"] = args.error_rate
    server = TestServer(behaviour_from_dict(options), port=args.port).start()
    print(f"READY {server.url}", flush=True)
    try:
        if server._thread is not None:
            server._thread.join()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
