"""The runner's concurrency adapts to each target: it starts at the target's capacity, halves when the target pushes
back (retries) or slows down under load, and grows again on good answers. Against the fault-injecting server."""

from __future__ import annotations

import pytest

from studio.playground.answers import Answer
from studio.playground.compare import Case, Params, RetryPolicy, Target, open_run, run_compare
from studio.playground.runs import Window
from studio.providers.profiles import Profile
from studio.storage.workspace import Workspace
from studio.testing.server import Behaviour, TestServer

FAST = RetryPolicy(max_attempts=6, base_delay=0.01, max_delay=0.05, timeout=10)


def _ok(latency: float, tokens: int = 10, attempts: int = 1) -> Answer:
    return Answer(text="x", latency_s=latency, tokens_out=tokens, attempts=attempts)


@pytest.mark.parametrize(
    "ceiling,answers,limit,cuts",
    [
        (8, [], 8, 0),  # starts at the target's capacity
        (8, [(_ok(1.0, attempts=2), 0)], 4, 1),  # pushed back (429/5xx/timeout before the answer): halves
        (8, [(_ok(1.0, attempts=2), 0), (_ok(1.0, attempts=3), 0)], 4, 1),  # sent before the cut: no second cut
        (8, [(_ok(1.0, attempts=2), 0), (_ok(1.0, attempts=2), 1)], 2, 2),  # sent after it: cuts again
        (8, [(Answer(error="HTTP 503", attempts=5), 0)], 4, 1),  # gave up: halves
        (8, [(_ok(0.1), 0), (_ok(0.2), 0), (_ok(0.29), 0)], 8, 0),  # slower, but under 3× the best per token
        (8, [(_ok(0.1), 0), (_ok(0.5), 0)], 4, 1),  # latency per token climbed past 3× the best: halves
        (8, [(_ok(0.1, tokens=2), 0), (_ok(1.0, tokens=50), 0)], 8, 0),  # a longer answer is not a slower target
        (1, [(_ok(1.0, attempts=2), 0)], 1, 0),  # never below one
    ],
)
def test_window_cuts_on_pushback_and_climbing_latency(ceiling, answers, limit, cuts):
    window = Window(ceiling)
    for answer, epoch in answers:
        window.in_flight += 1
        window.record(answer, epoch)
    assert (window.limit, window.cuts, window.in_flight) == (limit, cuts, 0)


def test_window_grows_by_one_after_a_window_of_good_answers_up_to_its_ceiling():
    window = Window(4, limit=2)
    for _ in range(2):
        window.in_flight += 1
        window.record(_ok(0.1), window.epoch)
    assert window.limit == 3
    for _ in range(20):
        window.in_flight += 1
        window.record(_ok(0.1), window.epoch)
    assert window.limit == 4  # the ceiling


def _cases(n):
    return [Case(i, ({"role": "user", "content": f"question {i}"},), None) for i in range(n)]


def test_a_target_that_slows_down_under_load_gets_fewer_requests():
    """`busy` answers in 20 ms alone plus 100 ms per request already in flight; `flat` takes 200 ms whatever the
    load. Both start with room for 32; busy's window is cut, and from then on busy never has more in flight than
    its cut window allows."""
    with (
        TestServer(Behaviour(latency=0.2)) as flat,
        TestServer(Behaviour(latency=0.02, load_latency=0.1)) as busy,
    ):
        targets = [
            Target("flat", Profile("compatible", base_url=flat.url), "base-model"),
            Target("busy", Profile("compatible", base_url=busy.url), "base-model"),
        ]
        workspace, cases, windows = Workspace(), _cases(32), {}
        reset = []

        def watch(progress) -> None:
            window = windows.get("busy")
            if not reset and window is not None and window.cuts and window.in_flight <= window.limit:
                reset.append((window.limit, busy.stats()["max_in_flight"]))
                busy.configure(reset=True)  # from here on, count what the cut window sends

        run = open_run(workspace, targets, Params(), cases)
        results = run_compare(
            workspace, run, targets, cases, Params(), concurrency=32, retry=FAST, windows=windows, on_progress=watch
        )
        assert results["error"].isna().all() and len(results) == 64
        seen = (busy.stats(), flat.stats(), windows, reset)
        assert windows["busy"].cuts >= 1 and reset, seen
        [(limit_at_reset, _)] = reset
        assert busy.stats()["max_in_flight"] <= limit_at_reset < 32, seen
        assert windows["busy"].limit < windows["flat"].limit, seen


def test_a_target_that_answers_429_is_sent_fewer_requests_and_nothing_is_charged_twice():
    with TestServer(Behaviour(script=(429,) * 6, retry_after=0.01)) as server:
        targets = [
            Target("base", Profile("compatible", base_url=server.url), "base-model"),
            Target("tuned", Profile("compatible", base_url=server.url), "ft:base-model:studio:demo:abc123"),
        ]
        workspace, cases, windows = Workspace(), _cases(16), {}
        run = open_run(workspace, targets, Params(), cases)
        results = run_compare(workspace, run, targets, cases, Params(), concurrency=16, retry=FAST, windows=windows)
        assert results["error"].isna().all() and results["attempts"].sum() == 32 + 6
        assert sum(w.cuts for w in windows.values()) >= 1
        assert server.stats()["duplicates"] == 0
