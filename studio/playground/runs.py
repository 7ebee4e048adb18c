"""Playground runs: targets × cases answered with bounded concurrency, every answer saved as it arrives.

A *run* is targets + shared parameters + a test set; it is identified by a hash of those, so starting the same run
again resumes it. Test sets run on a thread pool over one sync SDK client per target, and one result row is saved
per (row, target) as soon as it is known. A row saved with an answer is never requested again, so a rerun after a
crash or an interruption pays only for what is missing; a row whose retries ran out is saved with its error (never
raised) and requested again on the next run. Tables: ``compare_runs`` and ``compare_results``
(:mod:`studio.storage.migrations`). Only ``Profile.public()`` is stored; keys stay in memory.
"""

from __future__ import annotations

import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass
from typing import Any, Literal

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
) -> pd.DataFrame:
    """Ask every target every case not yet answered in ``run``, saving each answer as it arrives.

    Returns :func:`load_results` of the run. ``on_progress`` is called from the calling thread. Setting
    ``stop`` lets in-flight requests finish (and be saved) and starts no new ones; an exception in the calling
    thread (Ctrl-C, a Streamlit rerun) does the same, and cuts retry waits short. ``sleep`` replaces the wait
    between attempts (tests record the delays with it).
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
    jobs = [(case, target) for case in cases for target in targets if (case.index, target.name) not in done]
    total, skipped = len(cases) * len(targets), len(cases) * len(targets) - len(jobs)
    errors = 0

    def work(case: Case, target: Target) -> Answer | None:
        if halt.is_set() or (stop is not None and stop.is_set()):
            halt.set()
            return None
        messages = with_system(case.messages, params.system_prompt)
        rng = random.Random(f"{seed}:{case.index}:{target.name}")
        answer = callers[target.name].ask(messages, rng, case.request_options())
        _save(workspace, run.id, case, target, messages, answer)  # here, so a crash of the caller loses nothing
        return answer

    if on_progress:
        on_progress(Progress(skipped, total, 0, skipped))
    pool = ThreadPoolExecutor(max_workers=min(concurrency, max(1, len(jobs))), thread_name_prefix="compare")
    try:
        futures = [pool.submit(work, case, target) for case, target in jobs]
        finished = skipped
        for future in as_completed(futures):
            answer = future.result()
            if answer is None:
                continue
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
