"""Measured functions, each run in a fresh process by the harness. Each returns ``{"wall_s": ..., ...}``.

Setup (building or reading inputs) happens before the timer starts; the process's peak RSS covers everything.
"""

from __future__ import annotations

import time

from bench.data import chat_jsonl


def _timed(function, *args, **kwargs):
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return value, time.perf_counter() - started


# -- load ------------------------------------------------------------------------------------------------------


def load_ours(size: str) -> dict:
    from studio.io import load_dataset

    path = chat_jsonl(size)
    result, wall = _timed(load_dataset, path)
    return {"wall_s": wall, "rows": len(result.frame)}


def load_baseline(size: str) -> dict:
    """pandas.read_json(lines=True): the usual one-liner, without canonical columns."""
    import pandas as pd

    path = chat_jsonl(size)
    frame, wall = _timed(pd.read_json, path, lines=True)
    return {"wall_s": wall, "rows": len(frame)}


# -- rules -----------------------------------------------------------------------------------------------------


def _frame(size: str):
    from studio.io import load_dataset

    return load_dataset(chat_jsonl(size)).frame


def rules_ours(size: str) -> dict:
    from studio.rules import RULES, analyze

    frame = _frame(size)
    keys = [k for k in RULES.keys() if k not in ("near_duplicate", "regex")]
    analysis, wall = _timed(analyze, frame, rules=keys)
    return {"wall_s": wall, "rows": len(frame), "flagged": int(sum(analysis.counts.values()))}


def near_ours(size: str) -> dict:
    from studio.duplicates import near_duplicate_clusters

    frame = _frame(size)
    clusters, wall = _timed(near_duplicate_clusters, frame, threshold=0.8)
    return {"wall_s": wall, "rows": len(frame), "clustered": int(clusters.duplicated(keep=False).sum())}


# -- regex filter ----------------------------------------------------------------------------------------------

PATTERN = r"(?i)fever|fiebre|\d{3}[- ]?\d{3}"


def regex_ours(size: str) -> dict:
    from studio.grid import ViewSpec, filter_rows

    frame = _frame(size)
    spec = ViewSpec(regex=PATTERN, ignore_case=False)
    filter_rows(frame, None, spec)  # warm-up: the first call compiles the pattern
    rows, wall = _timed(filter_rows, frame, None, spec)
    return {"wall_s": wall, "rows": len(frame), "matched": len(rows)}


def regex_baseline(size: str) -> dict:
    """A per-row Python ``re.search`` loop over the three text columns."""
    import re

    frame = _frame(size)
    pattern = re.compile(PATTERN)
    columns = [frame[c].tolist() for c in ("system", "user", "assistant")]

    def loop():
        return [i for i, texts in enumerate(zip(*columns)) if any(t and pattern.search(t) for t in texts)]

    rows, wall = _timed(loop)
    return {"wall_s": wall, "rows": len(frame), "matched": len(rows)}
