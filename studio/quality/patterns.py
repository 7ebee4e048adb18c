"""User-supplied regular expressions, run safely: RE2 syntax, linear time, vectorised with pyarrow.

Patterns typed by a user are untrusted. A backtracking engine (Python's ``re``) can spend minutes on
``(a+)+$`` against a long line; RE2 cannot: it runs in time linear in the text, so a filter over 100k rows
stays in the tens of milliseconds whatever the pattern. The price is a slightly smaller syntax
(:data:`SYNTAX_HELP`).

Matching goes through ``pyarrow.compute`` (RE2 inside) over whole columns; ``google-re2`` serves single
strings.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.data.frame import TEXT, TEXT_FIELDS
from studio.errors import PatternError

SYNTAX_HELP = (
    "Patterns use RE2 syntax (like Python's re, minus backtracking features): literals, . [] [^] \\d \\w "
    "\\s \\b, \\p{L} Unicode classes, * + ? {m,n} and their lazy forms, | alternation, ( ) (?:) (?P<name>) "
    "groups, ^ $ anchors, and (?i) (?m) (?s) flags. Not supported: backreferences (\\1, (?P=name)), "
    "lookahead/lookbehind ((?=) (?!) (?<=) (?<!)), atomic groups and possessive quantifiers. In a "
    "replacement, "
    "\\1..\\9 insert a group and \\0 the whole match; write \\\\ for a literal backslash."
)
MAX_PATTERN_CHARS = 2000
# RE2's own budget for the compiled program; bigger programs fail to compile instead of eating memory.
_MAX_MEM = 64 << 20

# Constructs RE2 rejects, with the name we show; searched in this order so the message names the first.
_UNSUPPORTED = (
    (re.compile(r"\(\?<?[=!]"), "lookahead/lookbehind"),
    (re.compile(r"\(\?P=\w+\)"), "named backreference"),
    (re.compile(r"\(\?>"), "atomic group"),
    (re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]"), "backreference"),
)


@dataclass(frozen=True)
class SafePattern:
    """A validated RE2 pattern: ``pattern`` as typed; ``regex`` the engine pattern (flags folded in)."""

    pattern: str
    ignore_case: bool = False

    @property
    def regex(self) -> str:
        return f"(?i){self.pattern}" if self.ignore_case else self.pattern

    def search(self, text: str) -> bool:
        """Whether the pattern matches anywhere in one string."""
        return _re2(self.regex).search(text) is not None

    def mask(self, values: pd.Series) -> pd.Series:
        """Boolean mask of the strings in ``values`` that contain a match; missing values never match."""
        matched = pc.match_substring_regex(arrow_strings(values), self.pattern, ignore_case=self.ignore_case)
        return _bool_series(matched, values.index)


def compile_pattern(pattern: str, *, ignore_case: bool = False) -> SafePattern:
    """Validate ``pattern`` for RE2; :class:`PatternError` names the position of the problem."""
    if not isinstance(pattern, str) or pattern == "":
        raise PatternError("the pattern is empty")
    if len(pattern) > MAX_PATTERN_CHARS:
        raise PatternError(f"the pattern is {len(pattern)} characters long; the limit is {MAX_PATTERN_CHARS}")
    for finder, name in _UNSUPPORTED:
        found = finder.search(pattern)
        if found:
            raise PatternError(
                f"{name} {found.group(0)!r} at position {found.start()} is not supported "
                "(RE2 syntax: no backreferences, lookarounds or atomic groups)"
            )
    try:  # the pattern as typed: an error must not quote a "(?i)" the user never wrote (the flag cannot break it)
        _re2(pattern)
        # pyarrow bundles its own RE2; make sure the engine that runs the columns accepts it too.
        pc.match_substring_regex(pa.array([], type=pa.string()), pattern, ignore_case=ignore_case)
    except (re2_error(), pa.ArrowInvalid) as exc:
        raise PatternError(_describe_error(pattern, exc)) from None
    return SafePattern(pattern=pattern, ignore_case=ignore_case)


def match_mask(
    data: pd.Series | pd.DataFrame,
    pattern: str | SafePattern,
    *,
    fields: Sequence[str] | None = None,
    ignore_case: bool = False,
) -> pd.Series:
    """Rows where ``pattern`` matches in any of ``fields`` (a frame) or in the series itself.

    ``fields`` defaults to the text fields (system, user, assistant). Linear time in the text (RE2).
    """
    safe = pattern if isinstance(pattern, SafePattern) else compile_pattern(pattern, ignore_case=ignore_case)
    if isinstance(data, pd.Series):
        return safe.mask(data)
    columns = list(fields) if fields is not None else [f for f in TEXT_FIELDS if f in data.columns]
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise PatternError(f"no column {missing[0]!r} to search; columns are {', '.join(map(str, data.columns))}")
    out = pd.Series(False, index=data.index)
    for column in columns:
        out |= safe.mask(data[column])
    return out


def replace_all(values: pd.Series, pattern: SafePattern, replacement: str) -> pd.Series:
    """``values`` with every match replaced (RE2 rewrite syntax: ``\\1``, ``\\0``, ``\\\\``); NA stays NA."""
    try:
        replaced = pc.replace_substring_regex(arrow_strings(values), pattern.regex, replacement)
    except pa.ArrowInvalid as exc:
        raise PatternError(f"invalid replacement {replacement!r}: {str(exc).partition(': ')[2] or exc}") from None
    return pd.Series(pd.array(replaced, dtype=TEXT), index=values.index)


def check_replacement(pattern: SafePattern, replacement: str) -> None:
    """Raise :class:`PatternError` if ``replacement`` refers to groups the pattern does not have."""
    replace_all(pd.Series([""], dtype=TEXT), pattern, replacement)


def arrow_strings(values: pd.Series) -> pa.ChunkedArray:
    """The series as a pyarrow string array, without copying when it is already pyarrow-backed."""
    array = values.array
    if hasattr(array, "__arrow_array__"):
        arrow = array.__arrow_array__()
        if pa.types.is_string(arrow.type) or pa.types.is_large_string(arrow.type):
            return arrow if isinstance(arrow, pa.ChunkedArray) else pa.chunked_array([arrow])
    converted = values.astype(object).where(values.notna(), None)
    cleaned = [v if v is None or isinstance(v, str) else str(v) for v in converted]
    return pa.chunked_array([pa.array(cleaned, type=pa.large_string())])


def _bool_series(matched: pa.ChunkedArray | pa.Array, index: pd.Index) -> pd.Series:
    filled = pc.fill_null(matched, False)
    return pd.Series(filled.to_numpy(zero_copy_only=False), index=index, dtype=bool)


def re2_error() -> type[Exception]:
    import re2

    return re2.error


def _describe_error(pattern: str, exc: Exception) -> str:
    detail = _re2_message(exc).removeprefix("Invalid regular expression: ")
    position = _python_error_position(pattern)
    if position is None:
        # RE2 quotes the offending fragment ("bad repetition operator: **"); point at where it starts.
        fragment = detail.rpartition(": ")[2]
        found = pattern.find(fragment) if fragment and fragment != pattern else -1
        position = found if found >= 0 else None
    where = f" at position {position}" if position is not None else ""
    return f"invalid pattern{where}: {detail}"


def _python_error_position(pattern: str) -> int | None:
    """Python's parser reports exact positions; use it when it also rejects the pattern's syntax."""
    try:
        re.compile(pattern)
    except re.error as exc:
        if exc.pos is not None and "bad escape" not in exc.msg:
            return exc.pos
    except (OverflowError, RecursionError):
        return None
    return None


def _re2_message(exc: Exception) -> str:
    detail: Any = exc.args[0] if exc.args else str(exc)
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)


_CACHE: dict[str, Any] = {}


def _re2(regex: str) -> Any:
    compiled = _CACHE.get(regex)
    if compiled is None:
        import re2

        options = re2.Options()
        options.log_errors = False  # RE2 would otherwise print every rejected pattern to stderr
        options.max_mem = _MAX_MEM
        compiled = re2.compile(regex, options)
        if len(_CACHE) > 256:
            _CACHE.clear()
        _CACHE[regex] = compiled
    return compiled
