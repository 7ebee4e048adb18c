"""Per-answer metrics against a reference, per-target aggregates, disagreements and blind A/B win rates.

Every metric is a small pure function of one answer; :data:`METRICS` lists them once with a key and a label.
A metric is ``None`` (shown blank, left out of means) when it cannot apply: no reference, no substring or pattern
given, or the request failed. Aggregates say over how many answers they were taken (``scored``: "3 of 4" when a
request failed).

Tool-call metrics (:data:`TOOL_METRICS`) apply where the reference turn is a tool call: the same function(s)
called (as a multiset of names, order ignored), arguments equal as JSON (parsed, key order ignored, each call
matched to one of the same name), arguments valid against the called function's ``parameters`` schema
(``jsonschema``; applies to any answer that calls), and "answered in text instead of calling" (counted, not averaged).

Normalisation for exact match, similarity and disagreement: Unicode case-folding, whitespace runs collapsed to
one space, ends stripped.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
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

# ---------------------------------------------------------------------------------------------- tool calls

Calls = Sequence[Mapping[str, Any]]


def parse_calls(value: Any) -> list[dict[str, Any]] | None:
    """Tool calls (or tools) from a results cell: JSON text or a list; None when absent or empty."""
    if isinstance(value, str):
        value = json.loads(value) if value.strip() else None
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    items = [dict(v) for v in value if isinstance(v, Mapping)]
    return items or None


def _name(call: Mapping[str, Any]) -> str:
    function = call.get("function")
    return str(function.get("name") or "") if isinstance(function, Mapping) else ""


_UNPARSED = object()


def _arguments(call: Mapping[str, Any]) -> Any:
    """A call's parsed arguments (OpenAI sends a JSON string; some datasets store the object); ``_UNPARSED`` when
    they are not JSON."""
    function = call.get("function")
    raw = function.get("arguments") if isinstance(function, Mapping) else None
    if raw is None or raw == "":
        return {}
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return _UNPARSED


def same_functions(answer: Calls | None, reference: Calls | None) -> bool | None:
    """Whether the answer called exactly the reference's functions (names as a multiset, order ignored)."""
    if not reference:
        return None
    return sorted(map(_name, answer or [])) == sorted(map(_name, reference))


def arguments_equal(answer: Calls | None, reference: Calls | None) -> bool | None:
    """Whether the answer made the reference's calls with equal arguments, compared as parsed JSON (key order and
    spacing ignored); calls are matched by name, in any order. Arguments that are not JSON never equal."""
    if not reference:
        return None
    if not same_functions(answer, reference):
        return False

    def canonical(calls: Calls) -> list[tuple[str, str]] | None:
        out = []
        for call in calls:
            parsed = _arguments(call)
            if parsed is _UNPARSED:
                return None
            out.append((_name(call), json.dumps(parsed, sort_keys=True, ensure_ascii=False)))
        return sorted(out)

    ours, theirs = canonical(answer or []), canonical(reference)
    return ours is not None and ours == theirs


def arguments_valid(answer: Calls | None, tools: Calls | None) -> bool | None:
    """Whether every call of the answer names one of ``tools`` and its arguments are a JSON object valid against
    that function's ``parameters`` (JSON Schema, the draft the schema declares); None when the answer calls
    nothing or the case has no tools."""
    from jsonschema import SchemaError
    from jsonschema.validators import validator_for

    if not answer or not tools:
        return None
    schemas = {
        _name(t): (t.get("function") or {}).get("parameters") or {"type": "object"}
        for t in tools
        if isinstance(t.get("function"), Mapping)
    }
    for call in answer:
        schema = schemas.get(_name(call))
        arguments = _arguments(call)
        if schema is None or not isinstance(arguments, dict):
            return False
        try:
            if not validator_for(schema)(schema).is_valid(arguments):
                return False
        except SchemaError:
            return False
    return True


def text_instead(answer: Calls | None, reference: Calls | None) -> bool | None:
    """Whether the reference calls a tool and the answer called none (it answered in text, or not at all)."""
    if not reference:
        return None
    return not answer


@dataclass(frozen=True)
class ToolMetric:
    key: str
    label: str
    fn: Callable[[Calls | None, Calls | None, Calls | None], bool | None]  # (answer, reference, tools)


TOOL_METRICS: tuple[ToolMetric, ...] = (
    ToolMetric("same_functions", "called the same function(s)", lambda a, r, t: same_functions(a, r)),
    ToolMetric("arguments_equal", "arguments equal (JSON)", lambda a, r, t: arguments_equal(a, r)),
    ToolMetric("arguments_valid", "arguments valid (schema)", lambda a, r, t: arguments_valid(a, t)),
    ToolMetric("text_instead", "answered in text instead of calling", lambda a, r, t: text_instead(a, r)),
)
TOOL_METRIC_KEYS = tuple(m.key for m in TOOL_METRICS)
COUNTED = ("text_instead",)  # aggregated as a count of rows, not a share


def _text(value: Any) -> str | None:
    if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
        return None
    return str(value)


def score_rows(
    results: pd.DataFrame, *, pattern: str | SafePattern | None = None, substring: str | None = None
) -> pd.DataFrame:
    """A copy of ``results`` (columns ``answer``, ``reference``, ``error``; optional ``tool_calls``,
    ``reference_tool_calls``, ``tools`` as JSON text) with one column per metric, text then tool-call ones.

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
    none = [None] * len(out)
    columns = [out[c] if c in out.columns else none for c in ("tool_calls", "reference_tool_calls", "tools")]
    tool_values: dict[str, list[bool | None]] = {m.key: [] for m in TOOL_METRICS}
    for error, calls, reference, tools in zip(errors, *columns, strict=True):
        failed = bool(_text(error))
        parsed = (parse_calls(calls), parse_calls(reference), parse_calls(tools))
        for tool_metric in TOOL_METRICS:
            tool_values[tool_metric.key].append(None if failed else tool_metric.fn(*parsed))
    for key, column in tool_values.items():
        out[key] = pd.array(column, dtype="boolean")
    return out


def _quantile(values: pd.Series, q: float) -> float | None:
    values = values.dropna()
    return None if values.empty else float(values.astype(float).quantile(q))


def aggregate(scored: pd.DataFrame, targets: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per target: rows, errors, ``scored`` ("n/N": the answers the metrics are over; fewer than the rows
    when some failed), the mean of each metric (the count for :data:`COUNTED` ones), tokens, p50/p95 latency (s),
    total cost."""
    names = list(targets) if targets is not None else list(dict.fromkeys(scored["target"]))
    rows = []
    for name in names:
        group = scored[scored["target"] == name]
        ok = group[group["error"].isna()] if "error" in group.columns else group
        row: dict[str, Any] = {"target": name, "rows": len(group), "errors": len(group) - len(ok)}
        row["scored"] = f"{len(ok)}/{len(group)}"  # no words: the same in every language
        for key in (*METRIC_KEYS, *TOOL_METRIC_KEYS):
            if key not in ok.columns:
                continue
            column = ok[key].dropna().astype(float)
            row[key] = None if column.empty else float(column.sum() if key in COUNTED else column.mean())
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


def answer_with_calls(text: Any, calls: Any) -> str | None:
    """An answer for a table: its text, then its tool calls as one line (``→ get_weather(city=Paris)``)."""
    from studio.core.chat import tool_call_summary

    parsed = parse_calls(calls)
    summary = tool_call_summary({"tool_calls": parsed}) if parsed else ""
    return " ".join(p for p in (_text(text) or "", summary) if p) or _text(text)


def side_by_side(scored: pd.DataFrame, targets: Sequence[str], *, metric: str = "similarity") -> pd.DataFrame:
    """One row per prompt: row, prompt, reference, then each target's answer (or error) and ``metric``; tool calls
    are shown after the text as one line."""
    base = (
        scored.sort_values("row_index")
        .drop_duplicates("row_index")[["row_index", "prompt", "reference"]]
        .set_index("row_index")
    )
    if "reference_tool_calls" in scored.columns:
        calls = scored.sort_values("row_index").drop_duplicates("row_index").set_index("row_index")
        base["reference"] = [
            answer_with_calls(r, c) for r, c in zip(base["reference"], calls["reference_tool_calls"], strict=True)
        ]
    for name in targets:
        group = scored[scored["target"] == name].set_index("row_index")
        answers = group["answer"]
        if "tool_calls" in group.columns:
            answers = pd.Series(
                [answer_with_calls(a, c) for a, c in zip(group["answer"], group["tool_calls"], strict=True)],
                index=group.index,
            )
        shown = [f"⚠ {e}" if _text(e) else a for a, e in zip(answers, group["error"], strict=True)]
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


DIFF_CONTEXT = 5  # unchanged words kept on each side of a change; longer unchanged runs are cut to "…"
DIFF_MIN_SHARED = 0.4  # below this share of common words a word diff is all changes: say so instead


@dataclass(frozen=True)
class WordDiff:
    """A word diff made to read: ``shared`` is the share of words the two texts have in common (0..1, difflib's
    ``ratio``: 2 × matched words / all words); ``runs`` are :func:`diff_words` runs whose long unchanged stretches
    keep only :data:`DIFF_CONTEXT` words next to each change, with "…" for the rest."""

    shared: float
    runs: list[tuple[Literal["same", "del", "add"], str]]

    @property
    def identical(self) -> bool:
        return all(op == "same" for op, _ in self.runs)

    @property
    def helps(self) -> bool:
        """Whether a word diff is worth reading: the texts differ but share at least :data:`DIFF_MIN_SHARED`."""
        return not self.identical and self.shared >= DIFF_MIN_SHARED


def _trimmed(words: list[str], *, before: int, after: int) -> str:
    """Unchanged words, keeping ``before`` at the start and ``after`` at the end, "…" between when cut."""
    if len(words) <= before + after + 1:
        return " ".join(words)
    kept = [*words[:before], "…", *words[len(words) - after :]]
    return " ".join(kept)


def word_diff(a: str, b: str, *, context: int = DIFF_CONTEXT) -> WordDiff:
    """:class:`WordDiff` from ``a`` to ``b`` (words split on whitespace, compared exactly)."""
    import difflib

    left, right = a.split(), b.split()
    matcher = difflib.SequenceMatcher(a=left, b=right, autojunk=False)
    codes = matcher.get_opcodes()
    runs: list[tuple[Literal["same", "del", "add"], str]] = []
    for n, (op, i1, i2, j1, j2) in enumerate(codes):
        if op == "equal":
            before = context if n > 0 else 0  # words after the previous change
            after = context if n < len(codes) - 1 else 0  # words before the next change
            runs.append(("same", _trimmed(left[i1:i2], before=before, after=after) if len(codes) > 1 else ""))
            continue
        if i2 > i1:
            runs.append(("del", " ".join(left[i1:i2])))
        if j2 > j1:
            runs.append(("add", " ".join(right[j1:j2])))
    return WordDiff(shared=matcher.ratio() if left or right else 1.0, runs=runs)
