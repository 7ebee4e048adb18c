"""Slow is not failure: requests queued longer than the client's timeout succeed, a retry never decodes twice, and
a client that leaves frees its place in the batch. The real engine over HTTP (uvicorn in a thread, the tiny model),
with each decode step slowed down so that queueing is certain on any machine."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest

from studio.engine import batching
from studio.playground.runs import target_capacity
from studio.playground.targets import build_target
from studio.providers.profiles import Profile, make_client
from studio.providers.retry import RetryPolicy
from tests.engine_support import TINY, ThreadServer, cli_app
from tests.waiting import wait_until

pytest_plugins = ("tests.engine_fixtures",)

STEP_S = 0.02  # added to every decode step


@pytest.fixture
def slow_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    step = batching.DecodeLoop._step

    def slow(self, rows, cache):
        time.sleep(STEP_S)
        return step(self, rows, cache)

    monkeypatch.setattr(batching.DecodeLoop, "_step", slow)
    monkeypatch.setattr(batching, "MAX_BATCH", 1)  # loops created from now on decode one row at a time


@contextmanager
def _server(tmp_path, tiny_model_dir, **options) -> Iterator[ThreadServer]:
    """The engine with the tiny model loaded (a model load is not a queue: the engine preloads its models)."""
    app = cli_app(tmp_path / "engine", models={TINY: str(tiny_model_dir)}, run_jobs=False, **options)
    with ThreadServer(app) as server:
        app.state.engine.preload([TINY])
        yield server


def _chat(server: ThreadServer) -> dict:
    return httpx.get(f"{server.base_url}/health", timeout=5).json()["chat"]


def test_requests_queued_past_the_client_timeout_all_succeed_once(slow_steps, tmp_path, tiny_model_dir):
    """8 requests at once, through the studio's client and retry policy, to an engine that decodes one row at a
    time: most wait far longer than the client's 3 s timeout, and every one is answered at its first attempt,
    decoded once."""
    with _server(tmp_path, tiny_model_dir, heartbeat_s=0.2) as server:
        client = make_client(Profile("local", base_url=f"{server.base_url}/v1"), api_key="x", timeout=3.0)
        policy = RetryPolicy(timeout=3.0, base_delay=0.1)
        attempts, latencies, answers = [0] * 8, [0.0] * 8, [""] * 8

        def ask(i: int) -> None:
            def once():
                attempts[i] += 1
                return client.chat.completions.create(
                    model=TINY,
                    messages=[{"role": "user", "content": f"Tell me about ships number {i}."}],
                    max_tokens=40,
                    temperature=0,
                )

            began = time.perf_counter()
            answers[i] = policy.call(once).choices[0].message.content or ""
            latencies[i] = time.perf_counter() - began

        threads = [threading.Thread(target=ask, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        chat = _chat(server)
        capacity = target_capacity(build_target("a", "local", TINY, base_url=f"{server.base_url}/v1"), 8)
    assert capacity == 1  # the runner starts at the batch size the engine reports
    assert all(answers) and attempts == [1] * 8
    assert max(latencies) > 2 * 3.0  # they really waited past the client's timeout
    assert chat["started"] == 8 and chat["attached"] == 0  # one generation per request, none repeated


def test_a_retry_attaches_to_the_generation_in_flight(slow_steps, tmp_path, tiny_model_dir):
    """Without keep-alive bytes (a 30 s heartbeat) the 0.5 s client times out and retries; the retries carry the
    same Idempotency-Key, so they wait for the one generation instead of starting it again."""
    with _server(tmp_path, tiny_model_dir, heartbeat_s=30.0) as server:
        client = make_client(Profile("local", base_url=f"{server.base_url}/v1"), api_key="x", timeout=0.5)
        attempts = []
        policy = RetryPolicy(max_attempts=20, base_delay=0.05, max_delay=0.1, timeout=0.5)
        response = policy.call(
            lambda: (
                attempts.append(1)
                or client.chat.completions.create(
                    model=TINY,
                    messages=[{"role": "user", "content": "Why is the sky blue?"}],
                    max_tokens=60,
                    temperature=0,
                )
            )
        )
        chat = _chat(server)
    assert response.choices[0].message.content and len(attempts) > 1
    assert chat["started"] == 1 and chat["attached"] == len(attempts) - 1


def _stream_first_chunk_then_leave(server: ThreadServer, prompt: str) -> None:
    body = {"model": TINY, "messages": [{"role": "user", "content": prompt}], "max_tokens": 400, "stream": True}
    with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", json=body, timeout=30) as response:
        for line in response.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"][0]["delta"].get("content"):
                break  # the first real token: the client goes away now


def test_a_client_that_leaves_frees_its_place_in_the_batch(slow_steps, tmp_path, tiny_model_dir):
    """Two 400-token streams (one decoding, one queued behind it); both clients leave after their first token and
    the engine cancels both rows; a non-streamed request whose client times out is cancelled too."""
    with _server(tmp_path, tiny_model_dir, heartbeat_s=0.2) as server:
        leavers = [
            threading.Thread(target=_stream_first_chunk_then_leave, args=(server, p)) for p in ("Hi", "Tell me a joke")
        ]
        for thread in leavers:
            thread.start()
        for thread in leavers:
            thread.join(timeout=60)
        wait_until(lambda: _chat(server)["cancelled"] == 2, timeout=10, message="both rows cancelled")
        assert _chat(server)["decoding"] == 0
        # a non-streamed request (no Idempotency-Key): keep-alive spaces come while it decodes; its client gives
        # up after three of them, and the engine cancels it as soon as the connection is gone
        body = {"model": TINY, "messages": [{"role": "user", "content": "Bonjour"}], "max_tokens": 400}
        with httpx.stream("POST", f"{server.base_url}/v1/chat/completions", json=body, timeout=5) as response:
            assert response.status_code == 200
            received = b""
            for chunk in response.iter_raw():
                received += chunk
                if len(received) >= 3:
                    break
        assert received.strip() == b""  # spaces, which JSON parsers skip
        wait_until(lambda: _chat(server)["cancelled"] == 3, timeout=10, message="the timed-out request cancelled")
        chat = _chat(server)
    assert chat["in_flight"] == 0 and chat["started"] == 3
