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
``ANSWER:``, the rest of it verbatim (so a test can make a model say anything). When the request sends ``tools``
and the last user message is ``CALL: <JSON>``, the answer is those tool calls
(:func:`~studio.testing.behaviour.tool_calls_for`). Token counts are word counts. ``requests()`` (``GET
/_requests``) gives the latest chat request bodies as received, so a test asserts what went over HTTP.
A *charge* is a successful completion; ``stats()["duplicates"]`` counts keys charged more than once.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
from collections.abc import Callable
from dataclasses import asdict, replace
from typing import Any, Self, TypeVar

import httpx

from studio.testing.behaviour import (
    DEFAULT_MODELS,
    FAULT_KINDS,
    Behaviour,
    Fault,
    _State,
    behaviour_from_dict,
    reply_for,
    request_key,
    tool_calls_for,
)
from studio.testing.http import _Handler

__all__ = [
    "DEFAULT_MODELS",
    "FAULT_KINDS",
    "Behaviour",
    "Fault",
    "ServerProcess",
    "TestServer",
    "behaviour_from_dict",
    "reply_for",
    "request_key",
    "spawn_server",
    "tool_calls_for",
]

_T = TypeVar("_T")

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

    def requests(self) -> list[dict[str, Any]]:
        """The latest chat request bodies (up to 1,000), as received, oldest first."""
        return self._call(lambda: list(self.state.bodies))

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

    def requests(self) -> list[dict[str, Any]]:
        return httpx.get(f"{self.url}/_requests", timeout=10).json()

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
