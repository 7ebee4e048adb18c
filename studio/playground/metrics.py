"""Per-answer metrics against a reference, per-target aggregates, disagreements and blind A/B win rates.

Every metric is a small pure function of one answer; :data:`METRICS` lists them once with a key and a label.
A metric is ``None`` (shown blank, left out of means) when it cannot apply: no reference, no substring or pattern
given, or the request failed.

Normalisation for exact match, similarity and disagreement: Unicode case-folding, whitespace runs collapsed to
one space, ends stripped.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd
from rapidfuzz import fuzz

from studio.quality.patterns import SafePattern, compile_pattern

_SPACES = re.compile(r"\s+")


def normalise(text: str | None) -> str:
    """Case-folded text with whitespace runs collapsed and ends stripped."""
    return _SPACES.sub(" ", text or "").strip().casefold()


def exact_match(answer: str | None, reference: str | None) -> bool | None:
    """Whether the answer equals the reference after normalisation."""
    if answer is None or reference is None:
        return None
    return normalise(answer) == normalise(reference)


def contains(answer: str | None, needle: str | None) -> bool | None:
    """Whether the normalised answer contains the normalised ``needle`` (the reference, or a given substring)."""
    if answer is None or needle is None or not normalise(needle):
        return None
    return normalise(needle) in normalise(answer)


def regex_match(answer: str | None, pattern: SafePattern | str | None) -> bool | None:
    """Whether the (RE2) pattern matches anywhere in the raw answer."""
    if answer is None or not pattern:
        return None
    safe = pattern if isinstance(pattern, SafePattern) else compile_pattern(pattern)
    return safe.search(answer)


def similarity(answer: str | None, reference: str | None) -> float | None:
    """Normalised Levenshtein similarity in [0, 1] (``rapidfuzz.fuzz.ratio`` on normalised texts / 100)."""
    if answer is None or reference is None:
        return None
    return fuzz.ratio(normalise(answer), normalise(reference)) / 100


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    fn: Callable[[str | None, str | None, SafePattern | None, str | None], Any]


# (answer, reference, pattern, substring) -> value. "contains" checks the substring when one is given.
METRICS: tuple[Metric, ...] = (
    Metric("exact_match", "exact match", lambda a, r, p, s: exact_match(a, r)),
    Metric("contains", "contains", lambda a, r, p, s: contains(a, s if s else r)),
    Metric("regex", "regex assertion", lambda a, r, p, s: regex_match(a, p)),
    Metric("similarity", "similarity", lambda a, r, p, s: similarity(a, r)),
    Metric("length", "answer length", lambda a, r, p, s: None if a is None else len(a)),
)
METRIC_KEYS = tuple(m.key for m in METRICS)


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def score_rows(
    results: pd.DataFrame, *, pattern: str | SafePattern | None = None, substring: str | None = None
) -> pd.DataFrame:
    """A copy of ``results`` (columns ``answer``, ``reference``, ``error``) with one column per metric.

    Failed rows (an ``error``) get no metrics.
    """
    safe = compile_pattern(pattern) if isinstance(pattern, str) and pattern else pattern or None
    out = results.copy()
    values: dict[str, list[Any]] = {m.key: [] for m in METRICS}
    errors = out["error"] if "error" in out.columns else pd.Series([None] * len(out), index=out.index)
    for answer, reference, error in zip(out["answer"], out["reference"], errors, strict=True):
        answer = None if _text(error) else _text(answer)
        reference = _text(reference)
        for metric in METRICS:
            values[metric.key].append(metric.fn(answer, reference, safe, substring or None))
    for metric in METRICS:
        dtype = "Float64" if metric.key == "similarity" else "Int64" if metric.key == "length" else "boolean"
        out[metric.key] = pd.array(values[metric.key], dtype=dtype)
    return out


def _quantile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.astype(float).quantile(q))


def aggregate(scored: pd.DataFrame, targets: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per target: rows, errors, mean of each metric, tokens, p50/p95 latency (s), total cost."""
    names = list(targets) if targets is not None else list(dict.fromkeys(scored["target"]))
    rows = []
    for name in names:
        group = scored[scored["target"] == name]
        ok = group[group["error"].isna()] if "error" in group.columns else group
        row: dict[str, Any] = {"target": name, "rows": len(group), "errors": len(group) - len(ok)}
        for key in METRIC_KEYS:
            column = ok[key].dropna().astype(float) if key in ok.columns else pd.Series(dtype=float)
            row[key] = None if column.empty else float(column.mean())
        for key in ("tokens_in", "tokens_out"):
            column = ok[key].dropna().astype(float)
            row[key] = None if column.empty else float(column.mean())
        row["latency_p50"] = _quantile(ok["latency_s"], 0.5)
        row["latency_p95"] = _quantile(ok["latency_s"], 0.95)
        costs = group["cost"].dropna().astype(float)
        row["cost"] = float(costs.sum()) if not costs.empty else None
        rows.append(row)
    return pd.DataFrame(rows)


def disagreements(results: pd.DataFrame) -> list[int]:
    """Row indexes where the targets' normalised answers differ (a failed answer counts as different)."""
    out = []
    for row_index, group in results.groupby("row_index", sort=True):
        answers = {
            "\x00error" if _text(e) else normalise(_text(a))
            for a, e in zip(group["answer"], group["error"], strict=True)
        }
        if len(answers) > 1 or (answers == {"\x00error"}):
            out.append(int(row_index))
    return out


def side_by_side(scored: pd.DataFrame, targets: Sequence[str], *, metric: str = "similarity") -> pd.DataFrame:
    """One row per prompt: row, prompt, reference, then each target's answer (or error) and ``metric``."""
    base = (
        scored.sort_values("row_index")
        .drop_duplicates("row_index")[["row_index", "prompt", "reference"]]
        .set_index("row_index")
    )
    for name in targets:
        group = scored[scored["target"] == name].set_index("row_index")
        shown = [f"⚠ {e}" if _text(e) else a for a, e in zip(group["answer"], group["error"], strict=True)]
        base[name] = pd.Series(shown, index=group.index, dtype=object)
        if metric in group.columns:
            base[f"{name} · {metric}"] = group[metric]
    return base.reset_index()


# ---------------------------------------------------------------------------------------------- A/B votes


def wilson_interval(successes: float, n: float, *, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (95 % by default); (0, 1) when there is no data."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass(frozen=True)
class WinRate:
    """How often ``target`` beat ``other``. Ties count half a win; "both bad" votes are left out of the rate."""

    target: str
    other: str
    wins: int
    losses: int
    ties: int
    both_bad: int
    rate: float | None
    low: float
    high: float

    @property
    def votes(self) -> int:
        return self.wins + self.losses + self.ties + self.both_bad


def win_rate(winners: Sequence[str | None], target: str, other: str) -> WinRate:
    """Win rate of ``target`` from per-vote outcomes: a target name, ``"tie"`` or ``"both_bad"``."""
    wins = sum(1 for w in winners if w == target)
    losses = sum(1 for w in winners if w == other)
    ties = sum(1 for w in winners if w == "tie")
    both_bad = sum(1 for w in winners if w == "both_bad")
    n = wins + losses + ties
    score = wins + ties / 2
    low, high = wilson_interval(score, n)
    return WinRate(target, other, wins, losses, ties, both_bad, score / n if n else None, low, high)


def diff_words(a: str, b: str) -> list[tuple[Literal["same", "del", "add"], str]]:
    """Word-level differences from ``a`` to ``b`` as (op, text) runs."""
    import difflib

    left, right = a.split(), b.split()
    out: list[tuple[Literal["same", "del", "add"], str]] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=left, b=right, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(("same", " ".join(left[i1:i2])))
            continue
        if i2 > i1:
            out.append(("del", " ".join(left[i1:i2])))
        if j2 > j1:
            out.append(("add", " ".join(right[j1:j2])))
    return out
