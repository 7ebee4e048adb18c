"""Playground speed: 1,000 prompts against an OpenAI-compatible endpoint answering in 200 ms.

Goals (issue 8): the comparison runner is ≥ 10× faster than a sequential loop, and with 5 % injected 429/500
responses no row is lost and nothing is charged twice.

The endpoint is :mod:`studio.testing.server` in its own process (so it does not share the client's GIL). Functions
follow ``bench.tasks``: ``name(size) -> {"wall_s": ..., ...}``, for the harness to run in fresh processes;
``python bench/bench_playground.py`` runs all three and prints one dict.

- :func:`concurrent` — ``studio.playground.compare.run_compare`` (thread pool over the SDK, results saved row by row).
- :func:`sequential` — the baseline: a plain ``for`` loop of ``client.chat.completions.create``. A sequential
  loop's time is linear in the prompts, so ``size="1000/100"`` times 100 prompts and scales to 1,000
  (``extrapolated_from`` says so); ``size="1000"`` runs them all (about 200 s).
- :func:`faults` — the runner with 5 % 429/500 (seeded), then the same run again to show it resumes with nothing
  to do: lost rows, duplicate charges (the server counts completions per prompt), retries, re-requests.

One chat message, side by side (issue 16): ``size`` targets stream the same message at once
(:func:`studio.playground.answers.stream_side_by_side`, what the Playground's chat does), against each target
streaming it alone, one after another (the slowest of those is the baseline; their sum is what the page took
when it streamed target 1, then target 2).

- :func:`side_by_side` / :func:`side_by_side_alone` — the test server streaming 40 words at 50 ms each (2 s).
- :func:`side_by_side_engine` / :func:`side_by_side_engine_alone` — a ``studio engine --preload`` process with
  SmolLM2, 40 tokens each, greedy (reaches the goal only as far as the engine decodes concurrent requests
  together on the machine's cores).
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``studio`` and ``bench`` importable from the checkout
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import timed

LATENCY = 0.2
CONCURRENCY = 64
TARGETS = (("base", "base-model"), ("fine-tuned", "ft:base-model:studio:demo:abc123"))


def _sizes(size: str) -> tuple[int, int]:
    total, _, measured = str(size).partition("/")
    return int(total), int(measured or total)


def _cases(n: int):
    from studio.playground.compare import Case

    return [Case(i, ({"role": "user", "content": f"Prompt number {i}: say something short."},), None) for i in range(n)]


def _targets(url: str):
    from studio.playground.compare import Target
    from studio.providers.profiles import Profile

    return [Target(name, Profile("local", base_url=url), model) for name, model in TARGETS]


def _compare(url: str, n: int, *, workspace=None, concurrency: int = CONCURRENCY) -> dict:
    """Every target over ``n`` prompts with the studio's runner; wall time and what was saved."""
    from studio.playground.compare import Params, RetryPolicy, open_run, run_compare
    from studio.storage.workspace import Workspace

    workspace = workspace or Workspace(Path(tempfile.mkdtemp(prefix="bench-playground-")) / "studio.db")
    targets, cases, params = _targets(url), _cases(n), Params(max_tokens=64)
    run = open_run(workspace, targets, params, cases, source="bench")
    policy = RetryPolicy(max_attempts=8, base_delay=0.2, max_delay=2.0, timeout=30)
    with timed() as timing:
        results = run_compare(workspace, run, targets, cases, params, concurrency=concurrency, retry=policy)
    return {
        "wall_s": timing.wall_s,
        "cpu_s": timing.cpu_s,
        "workspace": workspace,
        "rows": len(results),
        "answered": int(results["error"].isna().sum()),
        "attempts": int(results["attempts"].sum()),
    }


def concurrent(size: str = "1000") -> dict:
    """The runner: ``size`` prompts × 2 targets at 200 ms per answer, 64 requests in flight."""
    from studio.testing.server import Behaviour, spawn_server

    n, _ = _sizes(size)
    with spawn_server(Behaviour(latency=LATENCY)) as server:
        out = _compare(server.url, n)
        stats = server.stats()
    return {
        "wall_s": out["wall_s"],
        "cpu_s": out["cpu_s"],
        "prompts": n,
        "requests": stats["requests"],
        "answered": out["answered"],
        "concurrency": CONCURRENCY,
        "peak_in_flight": stats["max_in_flight"],
    }


def sequential(size: str = "1000/100") -> dict:
    """Baseline: a ``for`` loop over prompts and targets with the openai SDK (timed on the measured part)."""
    import openai

    from studio.testing.server import Behaviour, spawn_server

    n, measured = _sizes(size)
    with spawn_server(Behaviour(latency=LATENCY)) as server:
        client = openai.OpenAI(base_url=server.url, api_key="bench")
        with timed() as timing:
            for case in _cases(measured):
                for _, model in TARGETS:
                    client.chat.completions.create(model=model, messages=list(case.messages), max_tokens=64)
    scale = n / measured
    out = {
        "wall_s": timing.wall_s * scale,
        "cpu_s": timing.cpu_s * scale,
        "prompts": n,
        "requests": measured * len(TARGETS),
    }
    if measured != n:
        out["extrapolated_from"] = measured
    return out


def faults(size: str = "1000") -> dict:
    """5 % of attempts answered 429 (Retry-After 0.2 s) or 500, seeded; then the same run again."""
    from studio.testing.server import Behaviour, spawn_server

    n, _ = _sizes(size)
    with spawn_server(
        Behaviour(latency=LATENCY, error_rate=0.05, errors=(429, 500), retry_after=0.2, seed=8)
    ) as server:
        first = _compare(server.url, n)
        after_first = server.stats()
        again = _compare(server.url, n, workspace=first["workspace"])  # a rerun resumes: nothing left to ask
        stats = server.stats()
    expected = n * len(TARGETS)
    return {
        "wall_s": first["wall_s"],
        "cpu_s": first["cpu_s"],
        "prompts": n,
        "expected_rows": expected,
        "lost_rows": expected - first["answered"],
        "duplicate_charges": stats["duplicates"],
        "charged": stats["completions"],
        "injected_faults": sum(after_first["faults"].values()),
        "retries": first["attempts"] - first["rows"],
        "rerun_requests": stats["requests"] - after_first["requests"],
        "rerun_wall_s": again["wall_s"],
    }


def run(size: str = "1000", *, sequential_size: str | None = None) -> dict:
    """All three measurements and the figures the goals name."""
    fast = concurrent(size)
    slow = sequential(sequential_size or f"{_sizes(size)[0]}/100")
    faulty = faults(size)
    return {
        "prompts": fast["prompts"],
        "targets": len(TARGETS),
        "latency_s": LATENCY,
        "concurrency": CONCURRENCY,
        "concurrent_s": round(fast["wall_s"], 2),
        "sequential_s": round(slow["wall_s"], 1),
        "sequential_extrapolated_from": slow.get("extrapolated_from"),
        "speedup": round(slow["wall_s"] / fast["wall_s"], 1),
        "faults_s": round(faulty["wall_s"], 2),
        "injected_faults": faulty["injected_faults"],
        "retries": faulty["retries"],
        "lost_rows": faulty["lost_rows"],
        "duplicate_charges": faulty["duplicate_charges"],
        "rerun_requests": faulty["rerun_requests"],
    }


STREAM_DELAY = 0.05
STREAM_WORDS = 40


def _stream_all(
    url: str, models: list[str], messages: list[dict], max_tokens: int, *, together: bool, warmed: Any = None
) -> dict:
    """``models`` (one target each) streaming ``messages``: all at once, or each alone one after another; after an
    untimed warm-up round (``warmed()`` is called after it)."""
    from studio.playground.compare import Params, StreamStats, Target, stream_side_by_side
    from studio.providers.profiles import Profile

    targets = [Target(f"target {i + 1}", Profile("local", base_url=url), m) for i, m in enumerate(models)]
    params = Params(max_tokens=max_tokens)
    groups = [targets] if together else [[t] for t in targets]
    warm = [StreamStats() for _ in targets]  # untimed: imports, clients and connections, as in a running page
    for _ in stream_side_by_side(targets, [messages] * len(targets), Params(max_tokens=1), warm):
        pass
    if warmed is not None:
        warmed()
    walls, cpus, stats, errors = [], [], [], []
    for group in groups:
        group_stats = [StreamStats(t.name, t.model) for t in group]
        with timed() as timing:
            for event in stream_side_by_side(group, [messages] * len(group), params, group_stats):
                if event.kind == "error":
                    errors.append(event.text)
        walls.append(timing.wall_s)
        cpus.append(timing.cpu_s)
        stats += group_stats
    if errors:
        raise RuntimeError(f"{len(errors)} target(s) failed: {errors[0]}")
    out = {
        "wall_s": max(walls),
        "cpu_s": sum(cpus),
        "targets": len(targets),
        "tokens_out": [s.tokens_out for s in stats],
        "first_token_max_s": max(s.first_token_s or 0.0 for s in stats),
    }
    if not together:
        out["sequential_s"] = sum(walls)  # what the page took when it streamed one target after another
    return out


def _server_side_by_side(size: str, *, together: bool) -> dict:
    from studio.testing.server import DEFAULT_MODELS, Behaviour, spawn_server

    n = int(size)
    prompt = [{"role": "user", "content": "ANSWER: " + " ".join(f"word{i}" for i in range(STREAM_WORDS))}]
    with spawn_server(Behaviour(chunk_delay=STREAM_DELAY)) as server:
        models = [DEFAULT_MODELS[i % len(DEFAULT_MODELS)] for i in range(n)]
        reset = functools.partial(server.configure, Behaviour(chunk_delay=STREAM_DELAY), reset=True)
        out = _stream_all(server.url, models, prompt, STREAM_WORDS, together=together, warmed=reset)
        out["peak_in_flight"] = server.stats()["max_in_flight"]
    return out


def side_by_side(size: str = "2") -> dict:
    """``size`` targets stream one message at once (40 words, 50 ms per word from the test server)."""
    return _server_side_by_side(size, together=True)


def side_by_side_alone(size: str = "2") -> dict:
    """Baseline: the same ``size`` targets, each streaming alone; ``wall_s`` is the slowest one."""
    return _server_side_by_side(size, together=False)


def _engine_side_by_side(size: str, *, together: bool) -> dict:
    from bench.engine import PROMPT, engine_process
    from studio.engine.models import DEFAULT_MODEL

    with engine_process() as (url, _, _):
        return _stream_all(url, [DEFAULT_MODEL] * int(size), PROMPT, STREAM_WORDS, together=together)


def side_by_side_engine(size: str = "2") -> dict:
    """``size`` targets (SmolLM2 on the local engine) stream one message at once, 40 tokens each."""
    return _engine_side_by_side(size, together=True)


def side_by_side_engine_alone(size: str = "2") -> dict:
    """Baseline: the same targets on the local engine, each streaming alone; ``wall_s`` is the slowest one."""
    return _engine_side_by_side(size, together=False)


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--prompts", default="1000")
    parser.add_argument("--full-sequential", action="store_true", help="time every sequential request")
    args = parser.parse_args()
    print(run(args.prompts, sequential_size=args.prompts if args.full_sequential else None))
