"""The rules over a file too large for one frame: read in parts, on every core, with the findings of one frame.

:func:`analyze_file` cuts a UTF-8 JSONL file into parts at line ends (:func:`studio.data.parts.plan_parts`);
each part is loaded and checked on its own, in a pool of :func:`~studio.core.cores.worker_count` processes, and
only its findings come back: what the per-row rules found (:func:`~studio.quality.rules.analyze` on the part's
frame: the same rule functions the Dataset page runs) and, for the rules that compare rows (``exact_duplicate``,
``normalized_duplicate``, ``duplicate_prompt``), 128-bit content keys per row
(:func:`studio.quality.duplicates.part_keys`). The duplicate groups are resolved from the keys at the end; rows
whose cheap key another row shares are read again from the file (their lines only) to compare their whole
conversation, as the one-frame path does. The result is the :class:`~studio.quality.rules.Analysis` that
``analyze(load_dataset(path).frame)`` gives, with memory bounded by the part size instead of the file.

Near-duplicates need every row at once: a request for them is :class:`~studio.data.parts.NotStreamable`, and so
is a file the parts would read differently from the whole load (not UTF-8, CR line ends, an unclear format):
the caller then loads it whole.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from studio.core.cores import worker_count
from studio.core.memory import available_memory
from studio.data.formats import ColumnMapping, Schema
from studio.data.loader import LoadCounts, load_warnings
from studio.data.memory import check_memory
from studio.data.parts import FilePart, NotStreamable, line_spans, load_lines, load_part, plan_parts
from studio.quality import duplicates
from studio.quality.columns import RuleResult
from studio.quality.duplicate_rules import exact_result, normalized_result, prompt_result
from studio.quality.rules import Analysis, Findings, analyze, rule_keys

ACROSS_ROWS = ("exact_duplicate", "normalized_duplicate", "duplicate_prompt")
"""The rules that compare rows; every other rule but near-duplicates reads one row at a time."""

PART_BYTES = 32 * 2**20
"""Bytes of JSONL per part (~28k multi-turn or ~110k single-turn examples)."""

_BYTES_PER_PART_BYTE = 20
"""Peak memory of one worker per byte of its part (Python objects, the turn view, the rules' columns): 0.6 GB for
a 32 MB part of the multi-turn set."""


@dataclass(frozen=True)
class PartFindings:
    """What one part sends back: its row count, what the per-row rules found (ids from 0 in the part), its
    duplicate keys (:func:`~studio.quality.duplicates.part_keys`), each row's source line, and what its load
    warnings count."""

    rows: int
    analysis: Analysis
    keys: Mapping[str, np.ndarray]
    source_rows: np.ndarray
    counts: LoadCounts


@dataclass(frozen=True)
class FileAnalysis:
    """:func:`analyze_file`'s answer: the ``analysis`` (as :func:`~studio.quality.rules.analyze` gives it on the
    whole frame: ids are 0..rows-1), each row's ``source_rows`` (1-based lines), the load ``warnings`` and how
    many worker processes ran."""

    analysis: Analysis
    rows: int
    source_rows: np.ndarray
    warnings: tuple[str, ...]
    workers: int
    unit: str = "line"


def analyze_file(
    path: str,
    *,
    rules: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
    schema: Schema | None = None,
    mapping: ColumnMapping | None = None,
    part_bytes: int | None = None,
    workers: int | None = None,
) -> FileAnalysis:
    """Run ``rules`` (as :func:`~studio.quality.rules.analyze`: default all, ``regex`` only with a pattern) over
    the JSONL file ``path`` read in parts of ``part_bytes`` (default :data:`PART_BYTES`), on ``workers``
    processes (default: one per core, fewer when the free memory would not hold them).

    Raises :class:`~studio.data.parts.NotStreamable` (load the file whole instead) for near-duplicates or a file
    the parts would read differently, ``ValueError`` for an unknown rule or parameter,
    :class:`~studio.errors.LoadError` naming the first malformed line, and
    :class:`~studio.errors.ResourceError` when not even one part fits in the free memory."""
    params = dict(params or {})
    keys = rule_keys(rules, params)
    if "near_duplicate" in keys:
        raise NotStreamable(path)
    part_bytes = part_bytes or PART_BYTES
    parts = plan_parts(path, part_bytes=part_bytes, schema=schema, mapping=mapping)
    workers = _affordable(worker_count(workers), min(part_bytes, max(p.stop - p.start for p in parts)))
    with _pool(workers if len(parts) > 1 else 1) as pool:
        found = list(_mapped(pool, _run_part, [(part, keys, params) for part in parts]))
        joined = _joined([f.keys for f in found])
        candidates = duplicates.candidates(joined) if joined else {}
        whole = _empty_whole(sum(f.rows for f in found))
        offsets = np.r_[0, np.cumsum([f.rows for f in found])].astype(np.int64)
        tasks = []
        for part, f, offset in zip(parts, found, offsets, strict=False):
            wanted = {name: rows[offset : offset + f.rows] for name, rows in candidates.items()}
            if any(w.any() for w in wanted.values()):
                tasks.append((part, f.source_rows, wanted, offset))
        for offset, keys_of_rows in _mapped(pool, _part_whole, tasks):
            for name, (rows, value) in keys_of_rows.items():
                whole[name][rows + offset] = value
    analysis = combine([f.analysis for f in found], joined, keys, whole, candidates)
    source_rows = np.concatenate([f.source_rows for f in found]) if found else np.zeros(0, dtype=np.int64)
    warnings = load_warnings([], [f.counts for f in found], "line")
    return FileAnalysis(analysis, len(source_rows), source_rows, tuple(warnings), workers)


def analyze_frames(
    frames: Iterable[pd.DataFrame],
    *,
    rules: Sequence[str] | None = None,
    params: Mapping[str, Mapping[str, Any]] | None = None,
) -> Analysis:
    """:func:`analyze_file` over frames already loaded, in order (each with ids from 0, as
    :func:`~studio.data.parts.load_part` gives them): the Analysis of their concatenation. Rows whose cheap
    duplicate key is shared are compared whole from the frames kept here (for tests and small inputs)."""
    params = dict(params or {})
    keys = rule_keys(rules, params)
    if "near_duplicate" in keys:
        raise NotStreamable("near_duplicate needs every row at once")
    kept = list(frames)
    found = [part_findings(frame, keys, params) for frame in kept]
    joined = _joined([k for _, k in found])
    candidates = duplicates.candidates(joined) if joined else {}
    whole = _empty_whole(sum(len(frame) for frame in kept))
    if candidates:
        frame = pd.concat(kept, ignore_index=True)
        for name, rows in candidates.items():
            if rows.any():
                chosen = frame.iloc[np.flatnonzero(rows)].reset_index(drop=True)
                whole[name][rows] = duplicates.whole_keys(chosen, (name,))[name]
    return combine([a for a, _ in found], joined, keys, whole, candidates)


def part_findings(
    frame: pd.DataFrame, keys: Sequence[str], params: Mapping[str, Mapping[str, Any]]
) -> tuple[Analysis, dict[str, np.ndarray]]:
    """What one part's frame gives: the per-row rules' :class:`~studio.quality.rules.Analysis` and, when a rule
    compares rows, its duplicate keys."""
    row_rules = [k for k in keys if k not in ACROSS_ROWS]
    with duplicates.fold_cache():
        analysis = analyze(frame, rules=row_rules, params={k: v for k, v in params.items() if k in row_rules})
        part = duplicates.part_keys(frame) if any(k in keys for k in ACROSS_ROWS) else {}
    return analysis, part


def combine(
    analyses: Sequence[Analysis],
    joined: Mapping[str, np.ndarray],
    keys: Sequence[str],
    whole: Mapping[str, np.ndarray],
    candidates: Mapping[str, np.ndarray],
) -> Analysis:
    """The parts' per-row findings, in order, and the duplicate rules resolved from their ``joined`` keys
    (``whole``: the :func:`~studio.quality.duplicates.whole_keys` of the ``candidates``, the rows whose cheap key
    is shared), as one :class:`~studio.quality.rules.Analysis` of the concatenated rows."""
    sizes = [len(a.flags) for a in analyses]
    n = int(sum(sizes))
    offsets = np.r_[0, np.cumsum(sizes)[:-1]].astype(np.int64) if sizes else np.zeros(0, dtype=np.int64)
    ids = np.arange(n, dtype=np.int64)
    findings = Findings(ids, pd.RangeIndex(n))
    frame = pd.DataFrame({"id": ids})
    for key in keys:
        if key in ACROSS_ROWS:
            findings.add(key, _across(key, frame, joined, whole, candidates))
            continue
        mask = np.concatenate([a.flags[key].to_numpy(dtype=bool) for a in analyses]) if n else np.zeros(0, bool)
        tables = []
        for analysis, offset in zip(analyses, offsets, strict=True):
            table = analysis.issues[analysis.issues["rule"] == key]
            tables.append(table.assign(id=table["id"].to_numpy() + offset))
        note = next((a.notes[key] for a in analyses if key in a.notes), None)
        findings.add_found(key, mask, tables, note)
    return findings.analysis(keys)


def _across(
    key: str,
    frame: pd.DataFrame,
    joined: Mapping[str, np.ndarray],
    whole: Mapping[str, np.ndarray],
    candidates: Mapping[str, np.ndarray],
) -> RuleResult:
    """The result of the row-comparing rule ``key`` over every row, from the joined keys."""
    if key == "duplicate_prompt":
        codes = duplicates.digest_codes(joined["prompt"], candidates["prompt"], whole["prompt"])
        answers = duplicates.digest_codes(joined["answer"])
        return prompt_result(frame, duplicates.first_ids(frame, codes), answers, joined["user_blank"])
    name = "exact" if key == "exact_duplicate" else "normalized"
    codes = duplicates.digest_codes(joined[name], candidates[name], whole[name])
    groups = duplicates.first_ids(frame, codes)
    return exact_result(frame, groups) if key == "exact_duplicate" else normalized_result(frame, groups)


def _joined(keys_of_parts: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The parts' duplicate keys end to end (empty when no rule compares rows)."""
    if not keys_of_parts or not keys_of_parts[0]:
        return {}
    return {name: np.concatenate([k[name] for k in keys_of_parts]) for name in keys_of_parts[0]}


def _empty_whole(n: int) -> dict[str, np.ndarray]:
    return {name: np.zeros((n, 2), dtype=np.uint64) for name in duplicates.WHOLE_KEYS}


def _part_whole(
    part: FilePart, source_rows: np.ndarray, wanted: Mapping[str, np.ndarray], offset: int
) -> tuple[int, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """In a worker: the whole keys of the rows of ``part`` (at lines ``source_rows``) that need them (``wanted``:
    per key, a mask over the part's rows), read again from the file: per key, (rows, digests)."""
    needed = np.zeros(len(source_rows), dtype=bool)
    for rows in wanted.values():
        needed |= rows
    chosen = np.flatnonzero(needed)
    frame = load_lines(part, line_spans(part, source_rows[chosen]))
    out = {}
    for name, rows in wanted.items():
        mine = rows[chosen]
        if mine.any():
            subset = frame if mine.all() else frame[mine].reset_index(drop=True)
            out[name] = (chosen[mine], duplicates.whole_keys(subset, (name,))[name])
    return offset, out


def _run_part(part: FilePart, keys: Sequence[str], params: Mapping[str, Mapping[str, Any]]) -> PartFindings:
    """In a worker: load ``part`` and find what is in it."""
    frame, counts = load_part(part)
    analysis, part_keys = part_findings(frame, keys, params)
    source_rows = frame["source_row"].to_numpy(dtype=np.int64)
    return PartFindings(len(frame), analysis, part_keys, source_rows, counts)


@contextlib.contextmanager
def _pool(workers: int) -> Iterator[ProcessPoolExecutor | None]:
    """A pool of ``workers`` processes (fork on Linux: they start with the modules already imported), or None
    for one: work runs in this process."""
    if workers <= 1:
        yield None
        return
    context = multiprocessing.get_context("fork" if sys.platform == "linux" else None)
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield pool


def _mapped(pool: ProcessPoolExecutor | None, fn: Callable[..., Any], tasks: Sequence[tuple]) -> Iterator[Any]:
    """``fn(*task)`` for each task, results in task order; the first error in that order is raised."""
    if pool is None:
        for task in tasks:
            yield fn(*task)
        return
    futures = [pool.submit(fn, *task) for task in tasks]
    try:
        for future in futures:
            yield future.result()
    finally:
        for future in futures:
            future.cancel()


def _affordable(workers: int, part_bytes: int) -> int:
    """``workers``, fewer when the free memory holds fewer parts at once; :class:`~studio.errors.ResourceError`
    when it does not hold one."""
    per_worker = part_bytes * _BYTES_PER_PART_BYTE
    check_memory(per_worker, "Reading the file in parts for the quality rules")
    free = available_memory()
    if free is None:
        return workers
    return max(1, min(workers, int(0.9 * free // per_worker)))
