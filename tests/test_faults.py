"""API faults through the real openai SDK against the fault-injecting loopback server (studio.testing.server).

``with_retries`` (every provider call of a fine-tuning job) and ``run_compare`` (the Playground's test sets) must
end in success when faults are transient, in one clear message when they persist, wait what the server asks
(Retry-After) and never lose, duplicate or pay twice for an answer. Waits are recorded by an injected ``sleep``,
never slept; every test makes at most 50 requests.
"""

from __future__ import annotations

import email.utils
import re
import time

import httpx
import openai
import pytest

from studio.errors import CompareError, JobError
from studio.playground.compare import (
    Case,
    Params,
    RetryPolicy,
    StreamStats,
    Target,
    load_results,
    open_run,
    run_compare,
    stream_answer,
)
from studio.providers.jobs import with_retries
from studio.providers.profiles import Profile, make_client
from studio.testing.server import Behaviour, TestServer, reply_for
from tests.engine_support import free_port

pytestmark = pytest.mark.timeout(60)

USER = [{"role": "user", "content": "hello there"}]
FT = "ft:base-model:studio:demo:abc123"
TIMEOUT = 1.0  # the client's per-request timeout (generous: the machine may be busy); a "hang" holds 3 s


@pytest.fixture
def server():
    with TestServer(Behaviour(hang=3.0, retry_after=0.25)) as running:
        yield running


def _client(server: TestServer, timeout: float = TIMEOUT) -> openai.OpenAI:
    # No SDK retries: the retries under test are ours, and each one must be visible to the server's counters.
    return make_client(Profile("compatible", base_url=server.url), api_key="sk-test", timeout=timeout, max_retries=0)


def _chat(client: openai.OpenAI):
    return lambda: client.chat.completions.create(model="base-model", messages=USER)


class Recorder:
    """The ``sleep`` and ``on_retry`` of with_retries: what it would have waited, and after which error."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.errors: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)

    def on_retry(self, attempt: int, exc: BaseException, delay: float) -> None:
        self.errors.append(type(exc).__name__)


# ---------------------------------------------------------------------------------------------- with_retries


@pytest.mark.parametrize(
    "script,errors",
    [
        ((429,), ["RateLimitError"]),
        ((500, 503), ["InternalServerError", "InternalServerError"]),
        (("hang",), ["APITimeoutError"]),
        (("drop", "drop"), ["APIConnectionError", "APIConnectionError"]),
        (
            (429, "hang", 500, "drop"),
            ["RateLimitError", "APITimeoutError", "InternalServerError", "APIConnectionError"],
        ),
    ],
)
def test_transient_faults_end_in_success(server, script, errors):
    server.configure(script=script)
    recorder = Recorder()
    response = with_retries(_chat(_client(server)), attempts=5, sleep=recorder.sleep, on_retry=recorder.on_retry)
    assert response.choices[0].message.content == reply_for("base-model", USER)
    assert recorder.errors == errors
    stats = server.stats()
    assert stats["requests"] == len(script) + 1 and stats["completions"] == 1


def test_retries_wait_what_retry_after_says_and_back_off_otherwise(server):
    server.configure(script=(429, 500, 503, "drop"), retry_after=0.25)
    recorder = Recorder()
    with_retries(_chat(_client(server)), attempts=5, base_delay=0.5, max_delay=20, sleep=recorder.sleep)
    assert len(recorder.delays) == 4
    assert recorder.delays[0] == pytest.approx(0.25)  # 429 Retry-After
    assert recorder.delays[2] == pytest.approx(0.25)  # 503 Retry-After
    assert 0 <= recorder.delays[1] <= 0.5 * 2**1  # 500: full jitter, attempt 2
    assert 0 <= recorder.delays[3] <= 0.5 * 2**3  # drop: full jitter, attempt 4


def test_a_retry_after_longer_than_the_cap_is_capped(server):
    server.configure(script=(429,), retry_after=3600)
    recorder = Recorder()
    with_retries(_chat(_client(server)), attempts=3, max_delay=20, sleep=recorder.sleep)
    assert recorder.delays == [20]


@pytest.mark.parametrize("retry_after", ["http-date", "retry-after-ms"])
def test_retry_after_as_an_http_date_or_in_milliseconds_is_honoured(retry_after):
    """RFC 9110 allows an HTTP date; OpenAI also sends ``retry-after-ms``. Neither may fall back to guessing."""
    if retry_after == "http-date":
        headers = {"retry-after": email.utils.formatdate(time.time() + 30, usegmt=True)}
    else:
        headers = {"retry-after-ms": "1500"}
    answers = [
        httpx.Response(
            429,
            headers=headers,
            json={"error": {"message": "slow down", "type": "requests", "param": None, "code": None}},
        ),
        httpx.Response(200, json={"object": "list", "data": []}),
    ]
    transport = httpx.MockTransport(lambda request: answers.pop(0))
    client = make_client(
        Profile("openai"), api_key="sk-test", max_retries=0, http_client=httpx.Client(transport=transport)
    )
    recorder = Recorder()
    with_retries(lambda: client.models.list(), attempts=3, max_delay=60, sleep=recorder.sleep)
    expected = pytest.approx(30, abs=2) if retry_after == "http-date" else pytest.approx(1.5)
    assert recorder.delays == [expected]


@pytest.mark.parametrize(
    "fault,message",
    [
        (429, r"Rate limited \(429\) after several retries: injected fault 429"),
        (500, r"The provider failed \(500\) after several retries: injected fault 500"),
        (503, r"The provider failed \(503\) after several retries: injected fault 503"),
        ("hang", r"did not answer in time \(timeout\) after several retries"),
        ("drop", r"Cannot reach the provider"),
    ],
)
def test_persistent_faults_end_in_one_clear_job_error(server, fault, message):
    server.configure(error_rate=1.0, errors=(fault,))
    recorder = Recorder()
    with pytest.raises(JobError, match=message) as caught:
        with_retries(_chat(_client(server)), attempts=4, sleep=recorder.sleep)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)
    assert isinstance(caught.value.__cause__, openai.OpenAIError)  # the SDK error stays available to a debugger
    assert len(recorder.delays) == 3 and server.stats()["requests"] == 4
    assert server.stats()["completions"] == 0


@pytest.mark.parametrize(
    "fault,message",
    [
        (400, r"Request rejected \(400\): injected fault 400"),
        (404, r"Not found \(404\)"),
    ],
)
def test_client_errors_are_not_retried(server, fault, message):
    server.configure(script=(fault,))
    recorder = Recorder()
    with pytest.raises(JobError, match=message):
        with_retries(_chat(_client(server)), attempts=5, sleep=recorder.sleep)
    assert recorder.delays == [] and server.stats()["requests"] == 1


def test_listing_models_with_a_wrong_key_or_nobody_listening():
    with TestServer(Behaviour(api_key="sk-right")) as running:
        client = make_client(Profile("compatible", base_url=running.url), api_key="sk-wrong", max_retries=0)
        recorder = Recorder()
        with pytest.raises(JobError, match=r"The API key was rejected \(401\)"):
            with_retries(lambda: client.models.list(), sleep=recorder.sleep)
        assert recorder.delays == []  # a wrong key does not get better by waiting
        good = make_client(Profile("compatible", base_url=running.url), api_key="sk-right", max_retries=0)
        assert [m.id for m in with_retries(lambda: good.models.list())] == ["base-model", FT]

    closed = make_client(
        Profile("compatible", base_url=f"http://127.0.0.1:{free_port()}/v1"),
        api_key="sk-x",
        timeout=TIMEOUT,
        max_retries=0,
    )
    recorder = Recorder()
    with pytest.raises(JobError, match="Cannot reach the provider"):
        with_retries(lambda: closed.models.list(), attempts=3, sleep=recorder.sleep)
    assert len(recorder.delays) == 2


# ---------------------------------------------------------------------------------------------- run_compare

FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=TIMEOUT)


def _cases(n: int) -> list[Case]:
    return [Case(i, ({"role": "user", "content": f"question {i}"},), None) for i in range(n)]


def _compare(workspace, targets, cases, *, retry=FAST, waits=None):
    run = open_run(workspace, targets, Params(), cases, source="faults")
    results = run_compare(
        workspace,
        run,
        targets,
        cases,
        Params(),
        concurrency=4,
        retry=retry,
        sleep=(waits.append if waits is not None else lambda s: None),
    )
    return run, results


def _pairs(results) -> list[tuple[int, str]]:
    return list(zip(results["row_index"], results["target"], strict=True))


def test_mixed_transient_faults_lose_and_duplicate_nothing(server):
    """Every fault kind at once, on 10 rows x 2 targets: each pair answered exactly once, nothing paid twice."""
    from studio.storage.workspace import Workspace

    # Each fault kind once (in arrival order), then 20% random faults of every kind.
    server.configure(
        script=(429, 500, 503, "drop", "hang"),
        error_rate=0.2,
        errors=(429, 500, 503, "drop", "hang"),
        retry_after=0.01,
        seed=3,
        latency=0.005,
        jitter=0.02,
    )
    workspace, cases = Workspace(), _cases(10)
    targets = [
        Target("base", Profile("local", base_url=server.url), "base-model"),
        Target("tuned", Profile("local", base_url=server.url), FT),
    ]
    waits: list[float] = []
    run, results = _compare(workspace, targets, cases, waits=waits)

    assert sorted(_pairs(results)) == [(i, t) for i in range(10) for t in ("base", "tuned")]  # none lost or doubled
    assert results["error"].isna().all(), results["error"].dropna().tolist()
    assert results["answer"].tolist() == [reply_for(t.model, list(c.messages)) for c in cases for t in targets]
    stats = server.stats()
    assert sum(stats["faults"].values()) >= 5 and set(stats["faults"]) >= {"429", "500", "503", "drop", "hang"}
    assert stats["requests"] <= 50
    assert stats["completions"] == 20 and stats["charged_keys"] == 20 and stats["duplicates"] == 0
    assert int(results["attempts"].sum()) == stats["requests"]  # every attempt counted, none hidden
    assert waits.count(0.01) >= stats["faults"]["429"]  # the 429s' Retry-After was what it waited
    with workspace.connect() as db:
        rows = db.execute(
            "SELECT row_index, target, COUNT(*) FROM compare_results WHERE run_id=? GROUP BY row_index, target",
            (run.id,),
        ).fetchall()
    assert len(rows) == 20 and all(r[2] == 1 for r in rows)


@pytest.mark.parametrize(
    "fault,message",
    [
        (503, r"HTTP 503: .*injected fault 503 \(gave up after 3 attempts\)"),
        (429, r"HTTP 429: .*injected fault 429 \(gave up after 3 attempts\)"),
        ("hang", r"APITimeoutError: Request timed out\. \(gave up after 3 attempts\)"),
        ("drop", r"APIConnectionError: Connection error\. \(gave up after 3 attempts\)"),
    ],
)
def test_persistent_faults_become_clear_error_rows_and_the_healthy_target_is_unaffected(fault, message):
    from studio.storage.workspace import Workspace

    with (
        TestServer() as healthy,
        TestServer(Behaviour(error_rate=1.0, errors=(fault,), hang=3.0, retry_after=0.01)) as broken,
    ):
        workspace, cases = Workspace(), _cases(4)
        targets = [
            Target("good", Profile("local", base_url=healthy.url), "base-model"),
            Target("bad", Profile("local", base_url=broken.url), "base-model"),
        ]
        retry = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, timeout=TIMEOUT)
        run, results = _compare(workspace, targets, cases, retry=retry)
        assert sorted(_pairs(results)) == sorted((i, t) for i in range(4) for t in ("good", "bad"))
        good, bad = results[results["target"] == "good"], results[results["target"] == "bad"]
        assert good["error"].isna().all() and (good["attempts"] == 1).all()
        assert bad["answer"].isna().all() and (bad["attempts"] == 3).all()
        # what the server said, then which target, how many attempts and how long it waited
        why = rf" \[bad: base-model at {re.escape(broken.url)}; 3 attempt\(s\) over \d+\.\d s\]"
        assert all(re.fullmatch(message + why, error) for error in bad["error"]), bad["error"].tolist()
        assert healthy.stats()["completions"] == 4 and broken.stats()["requests"] == 12
        assert broken.stats()["completions"] == 0

        # The fault clears: the next run asks only for the failed rows, and pays for each once.
        broken.configure(error_rate=0.0, reset=True)
        _, again = _compare(workspace, targets, cases, retry=retry)
        assert again["error"].isna().all() and len(again) == 8
        assert healthy.stats()["completions"] == 4 and broken.stats()["completions"] == 4
        assert broken.stats()["duplicates"] == 0
        assert (load_results(workspace, run.id)["target"] == "bad").sum() == 4


def test_slow_streams_arrive_whole_and_a_stalled_stream_is_a_clear_error():
    with TestServer(Behaviour(chunk_delay=0.05)) as slow:
        target = Target("slow", Profile("local", base_url=slow.url), "base-model")
        words = " ".join(f"w{i}" for i in range(12))
        stats = StreamStats()
        started = time.perf_counter()
        chunks = list(
            stream_answer(target, [{"role": "user", "content": f"ANSWER:{words}"}], Params(), stats, timeout=TIMEOUT)
        )
        assert "".join(chunks) == words == stats.text and len(chunks) == 12
        assert time.perf_counter() - started >= 11 * 0.05  # really streamed slowly, each gap under the timeout
        assert stats.tokens_out == 12 and stats.finish_reason == "stop"
        assert slow.stats()["completions"] == 1

        slow.configure(chunk_delay=2.5)  # a gap longer than the client's read timeout
        stalled = StreamStats()
        received = []
        with pytest.raises(CompareError, match=r"^slow: APITimeoutError: Request timed out\.$"):
            for chunk in stream_answer(
                target, [{"role": "user", "content": "ANSWER:a b c"}], Params(), stalled, timeout=TIMEOUT
            ):
                received.append(chunk)
        assert received == ["a"] and stalled.text == "a"  # what arrived is kept, nothing invented
