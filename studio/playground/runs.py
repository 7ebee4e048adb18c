"""Playground runs: targets × cases answered with adaptive concurrency, every answer saved as it arrives.

A *run* is targets + shared parameters + a test set; it is identified by a hash of those, so starting the same run
again resumes it. Test sets run on a thread pool over one sync SDK client per target, and one result row is saved
per (row, target) as soon as it is known. How many requests each target has in flight is its own
:class:`Window`: it starts at the target's capacity (the local engine's batch size from its ``/health``, else the
``concurrency`` asked for), halves when the target pushes back (an answer that needed retries: 429, 5xx, timeouts)
or its latency per token climbs past a multiple of the best seen, and grows by one after a window of good answers.
A row saved with an answer is never requested again, so a rerun after a crash or an interruption pays only for
what is missing; a row whose retries ran out is saved with its error (never raised; it names the target, the
attempts and the seconds waited) and requested again on the next run. Tables: ``compare_runs`` and ``compare_results``
(:mod:`studio.storage.migrations`). Only ``Profile.public()`` is stored; keys stay in memory.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import asdict, dataclass
from typing import Any, Literal

import httpx
import pandas as pd

from studio.playground.answers import Answer, Caller, Params
from studio.playground.cases import Case, with_system
from studio.playground.costs import PriceMap
from studio.playground.targets import CompareError, Target, check_targets
from studio.providers.retry import RetryPolicy
from studio.storage.workspace import Workspace

RESULT_COLUMNS = (
    "run_id",
    "row_index",
    "target",
    "model",
    "prompt",
    "reference",
    "answer",
    "tokens_in",
    "tokens_out",
    "latency_s",
    "cost",
    "error",
    "attempts",
    "finish_reason",
    "tool_calls",
    "reference_tool_calls",
    "tools",
)
# JSON text in the table and in exports: the answer's tool calls, the reference's, the case's tools (None: none).
_JSON_COLUMNS = ("tool_calls", "reference_tool_calls", "tools")


@dataclass(frozen=True)
class RunInfo:
    id: int
    key: str
    name: str
    targets: tuple[dict[str, Any], ...]
    params: dict[str, Any]
    source: str
    rows: int
    created_at: float

    @property
    def target_names(self) -> list[str]:
        return [t["name"] for t in self.targets]


def run_key(targets: Sequence[Target], params: Params, cases: Sequence[Case]) -> str:
    """What makes a run the same run: targets, parameters and the prompts with their references (and their tools
    and reference tool calls, when a case has them)."""

    def case_key(c: Case) -> list[Any]:
        key: list[Any] = [list(c.messages), c.reference]
        if c.reference_tool_calls or c.tools:
            key += [c.reference_tool_calls, c.tools, c.parallel_tool_calls]
        return key

    payload = json.dumps(
        [[t.public() for t in targets], asdict(params), [case_key(c) for c in cases]],
        sort_keys=True,
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def open_run(
    workspace: Workspace,
    targets: Sequence[Target],
    params: Params,
    cases: Sequence[Case],
    *,
    name: str = "",
    source: str = "",
) -> RunInfo:
    """The run for these targets, parameters and cases: the saved one (to resume) or a new one."""
    check_targets(targets)
    key = run_key(targets, params, cases)
    with workspace.transaction() as db:
        db.execute(
            "INSERT OR IGNORE INTO compare_runs(key, name, targets, params, source, rows, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                key,
                name or source or "run",
                json.dumps([t.public() for t in targets]),
                json.dumps(asdict(params)),
                source,
                len(cases),
                time.time(),
            ),
        )
        row = db.execute("SELECT * FROM compare_runs WHERE key=?", (key,)).fetchone()
    return _run_info(row)


def _run_info(row: Any) -> RunInfo:
    return RunInfo(
        id=row["id"],
        key=row["key"],
        name=row["name"],
        targets=tuple(json.loads(row["targets"])),
        params=json.loads(row["params"]),
        source=row["source"],
        rows=row["rows"],
        created_at=row["created_at"],
    )


def list_runs(workspace: Workspace) -> list[RunInfo]:
    """Saved runs, newest first."""
    with workspace.transaction() as db:
        rows = db.execute("SELECT * FROM compare_runs ORDER BY id DESC").fetchall()
    return [_run_info(r) for r in rows]


def get_run(workspace: Workspace, run_id: int) -> RunInfo:
    with workspace.transaction() as db:
        row = db.execute("SELECT * FROM compare_runs WHERE id=?", (run_id,)).fetchone()
    if row is None:
        raise CompareError(f"no comparison run with id {run_id} in {workspace.path}")
    return _run_info(row)


def _done(workspace: Workspace, run_id: int) -> set[tuple[int, str]]:
    with workspace.transaction() as db:
        rows = db.execute(
            "SELECT row_index, target FROM compare_results WHERE run_id=? AND error IS NULL", (run_id,)
        ).fetchall()
    return {(r["row_index"], r["target"]) for r in rows}


def _save(
    workspace: Workspace, run_id: int, case: Case, target: Target, messages: list[dict[str, Any]], answer: Answer
) -> None:
    # A saved answer is never overwritten by a later error (a stale retry cannot undo a paid success).
    with workspace.transaction() as db:
        db.execute(
            "INSERT INTO compare_results(run_id, row_index, target, model, messages, prompt, reference, answer,"
            " tokens_in, tokens_out, latency_s, cost, error, attempts, finish_reason, updated_at,"
            " tool_calls, reference_tool_calls, tools)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
            " ON CONFLICT(run_id, row_index, target) DO UPDATE SET answer=excluded.answer,"
            " tool_calls=excluded.tool_calls,"
            " tokens_in=excluded.tokens_in, tokens_out=excluded.tokens_out, latency_s=excluded.latency_s,"
            " cost=excluded.cost, error=excluded.error, attempts=compare_results.attempts + excluded.attempts,"
            " finish_reason=excluded.finish_reason, updated_at=excluded.updated_at"
            " WHERE compare_results.error IS NOT NULL",
            (
                run_id,
                case.index,
                target.name,
                target.model,
                json.dumps(messages, ensure_ascii=False),
                case.prompt,
                case.reference,
                answer.text,
                answer.tokens_in,
                answer.tokens_out,
                answer.latency_s,
                answer.cost,
                answer.error,
                answer.attempts,
                answer.finish_reason,
                time.time(),
                _json(answer.tool_calls),
                _json(case.reference_tool_calls),
                _json(case.tools),
            ),
        )


def _json(value: Any) -> str | None:
    return None if not value else json.dumps(list(value), ensure_ascii=False)


@dataclass(frozen=True)
class Progress:
    done: int
    total: int
    errors: int
    skipped: int


LATENCY_FACTOR = 3.0
"""A target whose latency per token climbs past this multiple of its best so far is sent fewer requests."""


@dataclass
class Window:
    """How many requests one target may have in flight: additive increase, multiplicative decrease.

    ``limit`` starts at ``ceiling`` (the target's capacity) and stays in [1, ``ceiling``]. An answer that needed
    retries (the target pushed back: 429, 5xx, a timeout) or whose seconds per output token exceed
    ``LATENCY_FACTOR`` × the best seen halves it, once per window (answers to requests sent before the cut do not
    cut again); ``limit`` good answers in a row add one. ``cuts`` counts the halvings.
    """

    ceiling: int
    limit: int = 0
    in_flight: int = 0
    best: float | None = None  # lowest seconds per output token seen
    epoch: int = 0  # bumped by each cut: answers to requests sent before it do not cut again
    good: int = 0
    cuts: int = 0

    def __post_init__(self) -> None:
        self.ceiling = max(1, self.ceiling)
        self.limit = self.limit or self.ceiling

    @property
    def open(self) -> bool:
        return self.in_flight < self.limit

    def record(self, answer: Answer, epoch: int) -> None:
        """Take one finished request (sent in ``epoch``) into account."""
        self.in_flight -= 1
        per_token = None
        if answer.ok and answer.latency_s is not None:
            per_token = answer.latency_s / max(1, answer.tokens_out or 0)
        slow = per_token is not None and self.best is not None and per_token > LATENCY_FACTOR * self.best
        if per_token is not None and (self.best is None or per_token < self.best):
            self.best = per_token
        if answer.attempts > 1 or slow:
            self.good = 0
            if epoch == self.epoch and self.limit > 1:
                self.limit, self.epoch, self.cuts = max(1, self.limit // 2), self.epoch + 1, self.cuts + 1
            return
        if answer.ok:
            self.good += 1
            if self.good >= self.limit and self.limit < self.ceiling:
                self.limit, self.good = self.limit + 1, 0


def target_capacity(target: Target, default: int) -> int:
    """Requests ``target`` serves at once: the local engine's batch size (``/health``'s ``chat.max_batch``), or
    ``default`` for other providers (and an engine that does not say)."""
    if target.profile.kind != "local":
        return default
    root = target.profile.url.removesuffix("/v1")
    try:
        reported = httpx.get(f"{root}/health", timeout=2.0).json().get("chat", {}).get("max_batch")
    except (httpx.HTTPError, ValueError, AttributeError):
        return default
    return reported if isinstance(reported, int) and reported > 0 else default


def _why(answer: Answer, target: Target, waited: float) -> str:
    """The error of an answer, with which target it was, how long it waited and over how many attempts."""
    where = f"{target.name}: {target.model} at {target.profile.url}"
    return f"{answer.error} [{where}; {answer.attempts} attempt(s) over {waited:.1f} s]"


def run_compare(
    workspace: Workspace,
    run: RunInfo,
    targets: Sequence[Target],
    cases: Sequence[Case],
    params: Params,
    *,
    concurrency: int = 8,
    retry: RetryPolicy = RetryPolicy(),
    api_keys: Mapping[str, str] | None = None,
    prices: PriceMap | None = None,
    on_progress: Callable[[Progress], object] | None = None,
    stop: threading.Event | None = None,
    seed: int = 0,
    sleep: Callable[[float], Any] | None = None,
    windows: dict[str, Window] | None = None,
) -> pd.DataFrame:
    """Ask every target every case not yet answered in ``run``, saving each answer as it arrives.

    Returns :func:`load_results` of the run. At most ``concurrency`` requests are in flight, shared by the
    targets in turn; each target has fewer when its capacity is lower or it slows down (:class:`Window`; pass
    ``windows``, an empty dict, to read each target's window afterwards). A row whose retries ran out is saved
    with an error that names the target, the attempts and the seconds waited. ``on_progress`` is called from the
    calling thread. Setting ``stop`` lets in-flight requests finish (and be saved) and starts no new ones; an
    exception in the calling thread (Ctrl-C, a Streamlit rerun) does the same, and cuts retry waits short.
    ``sleep`` replaces the wait between attempts (tests record the delays with it).
    """
    if concurrency < 1:
        raise CompareError(f"concurrency must be at least 1, got {concurrency}")
    check_targets(targets)
    keys = api_keys or {}
    halt = threading.Event()
    if stop is not None and stop.is_set():
        halt.set()
    callers = {t.name: Caller(t, keys.get(t.name), retry, params, prices, sleep or halt.wait, halt) for t in targets}
    done = _done(workspace, run.id)
    queues = {t.name: deque(c for c in cases if (c.index, t.name) not in done) for t in targets}
    total = len(cases) * len(targets)
    skipped = total - sum(len(q) for q in queues.values())
    windows = {} if windows is None else windows
    for target in targets:
        if queues[target.name]:
            windows[target.name] = Window(min(concurrency, target_capacity(target, concurrency)))
    errors = 0

    def work(case: Case, target: Target) -> Answer | None:
        if halt.is_set() or (stop is not None and stop.is_set()):
            halt.set()
            return None
        messages = with_system(case.messages, params.system_prompt)
        rng = random.Random(f"{seed}:{case.index}:{target.name}")
        began = time.perf_counter()
        answer = callers[target.name].ask(messages, rng, case.request_options())
        if answer.error is not None:
            answer.error = _why(answer, target, time.perf_counter() - began)
        _save(workspace, run.id, case, target, messages, answer)  # here, so a crash of the caller loses nothing
        return answer

    if on_progress:
        on_progress(Progress(skipped, total, 0, skipped))
    workers = max(1, min(concurrency, sum(w.ceiling for w in windows.values())))
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="compare")
    running: dict[Future[Answer | None], tuple[Target, int]] = {}
    try:
        finished = skipped
        while True:
            if not halt.is_set() and not (stop is not None and stop.is_set()):
                ready = True
                while ready and len(running) < concurrency:  # round robin: each target in turn, while it has room
                    ready = False
                    for target in targets:
                        queue, window = queues[target.name], windows.get(target.name)
                        if queue and window is not None and window.open and len(running) < concurrency:
                            window.in_flight += 1
                            running[pool.submit(work, queue.popleft(), target)] = (target, window.epoch)
                            ready = True
            if not running:
                break
            completed, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in completed:
                target, epoch = running.pop(future)
                answer = future.result()
                if answer is None:
                    windows[target.name].in_flight -= 1
                    continue
                windows[target.name].record(answer, epoch)
                finished += 1
                errors += not answer.ok
                if on_progress:
                    on_progress(Progress(finished, total, errors, skipped))
    except BaseException:
        halt.set()  # in-flight requests finish and are saved; queued ones are dropped, retry waits end
        raise
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return load_results(workspace, run.id, [t.name for t in targets])


def load_results(workspace: Workspace, run_id: int, targets: Sequence[str] | None = None) -> pd.DataFrame:
    """The run's saved rows, ordered by row then target (in ``targets`` order when given)."""
    with workspace.transaction() as db:
        rows = db.execute("SELECT * FROM compare_results WHERE run_id=? ORDER BY row_index", (run_id,)).fetchall()
    frame = pd.DataFrame([{c: r[c] for c in RESULT_COLUMNS} for r in rows], columns=list(RESULT_COLUMNS))
    frame = frame.astype(dict.fromkeys(("answer", "error", "reference", *_JSON_COLUMNS), object))
    frame = frame.where(frame.notna(), None)
    order = list(targets) if targets is not None else list(dict.fromkeys(frame["target"]))
    rank = {name: i for i, name in enumerate(order)}
    frame = frame[frame["target"].isin(rank)]
    frame = frame.assign(_rank=frame["target"].map(rank)).sort_values(["row_index", "_rank"], kind="stable")
    return frame.drop(columns="_rank").reset_index(drop=True)


def export_results(frame: pd.DataFrame, fmt: Literal["csv", "jsonl"]) -> bytes:
    """Results as CSV (formula-looking cells neutralised for spreadsheets) or JSONL (one object per row)."""
    if fmt == "jsonl":
        records = frame.astype(object).where(frame.notna(), None).to_dict(orient="records")
        return "".join(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records).encode()
    if fmt == "csv":
        from studio.data.writers import csv_bytes

        return csv_bytes(frame)
    raise CompareError(f"unknown export format {fmt!r}; use csv or jsonl")
