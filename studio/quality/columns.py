"""What every quality rule returns, and the pyarrow column helpers the rule families share.

A check is ``check(frame, params) -> RuleResult``: it reads whole text columns as pyarrow arrays and gives a
boolean mask and a reason per row, indexed like the frame. Python only touches the few rows a regex already picked
out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.data.frame import TEXT
from studio.quality import patterns
from studio.quality.messages import say
from studio.quality.patterns import arrow_strings

Check = Callable[[pd.DataFrame, Mapping[str, Any]], "RuleResult"]


@dataclass(frozen=True)
class RuleResult:
    """What one rule found: ``mask`` (bool) and ``reason`` (string, NA where not flagged), indexed like the
    frame.

    ``field`` names the text field a finding is about (one per row, or one for all); ``group`` carries the
    duplicate group / near-duplicate cluster id per row for the duplicate rules; ``note`` says, for the whole
    run, what the user should know about how it ran (e.g. a cap was hit); ``turn`` (Int32, NA where not
    flagged or not about one turn) is the index in ``messages`` of the turn a finding is in, for rules that
    read turns. Unpacks as ``mask, reason``.
    """

    mask: pd.Series
    reason: pd.Series
    field: pd.Series | str
    group: pd.Series | None = None
    note: str | None = None
    turn: pd.Series | None = None

    def __iter__(self) -> Iterator[pd.Series]:
        yield self.mask
        yield self.reason


def text_column(frame: pd.DataFrame, name: str) -> pa.ChunkedArray:
    """Column ``name`` as a pyarrow string array (all nulls when the frame has no such column)."""
    if name not in frame.columns:
        return pa.chunked_array([pa.nulls(len(frame), type=pa.large_string())])
    return arrow_strings(frame[name])


def where_labels(frame: pd.DataFrame, name: str, positions: np.ndarray) -> np.ndarray:
    """How a finding in column ``name`` at ``positions`` says where it is: the column's name, or, in a turn table
    (see :mod:`studio.quality.turn_scope`), the turn: ``turn 3 (user)``, ``turn 4 (tool call get_invoice)``, or
    the field's name for the turn the grid shows in that column (first system, last user, last assistant).
    Made for these rows only."""
    if "__shown" not in frame.columns:
        return np.full(len(positions), name, dtype=object)
    shown = frame["__shown"].to_numpy()[positions]
    turns = frame["turn"].to_numpy()[positions]
    if name == "tool_calls":
        called = frame["__name"].iloc[positions].tolist()
        inner = [say("tool_call", name=c if isinstance(c, str) else "?") for c in called]
    else:
        inner = [name] * len(positions)
    return np.array(
        [name if s else say("turn", turn=t, role=i) for s, t, i in zip(shown, turns, inner, strict=True)],
        dtype=object,
    )


def to_numpy(array: pa.ChunkedArray | pa.Array, fill: Any = False) -> np.ndarray:
    """``array`` as numpy, nulls replaced by ``fill``."""
    return pc.fill_null(array, fill).to_numpy(zero_copy_only=False)


_FEW_ROWS = 64
"""Up to this many rows (a re-check after a cell edit) a compiled RE2 pattern is faster than pyarrow's kernel,
which compiles the pattern again on every call (~3 ms for the long rule patterns)."""


def matches(text: pa.ChunkedArray, regex: str) -> np.ndarray:
    """Bool per row: the RE2 ``regex`` matches somewhere in the text (False for null)."""
    if len(text) <= _FEW_ROWS:
        compiled = patterns._re2(regex)
        return np.array([v is not None and compiled.search(v) is not None for v in text.to_pylist()], dtype=bool)
    # a turn table's field column is null chunks around a slice of the text: only that slice is searched
    pieces = [
        np.zeros(len(chunk), dtype=bool)
        if chunk.null_count == len(chunk)
        else to_numpy(pc.match_substring_regex(chunk, regex)).astype(bool)
        for chunk in text.chunks
    ]
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=bool)


def blank(text: pa.ChunkedArray) -> np.ndarray:
    """Bool per row: null, empty or only whitespace."""
    return to_numpy(pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0), True).astype(bool)


def reasons(frame: pd.DataFrame, values: np.ndarray | None = None) -> pd.Series:
    """``values`` (one reason or None per row; all NA when omitted) as a string Series indexed like ``frame``."""
    if values is None:
        array = pa.nulls(len(frame), type=pa.large_string())
    else:  # straight to Arrow (pandas' own path checks every value in Python first; most are None here)
        array = pa.array(np.asarray(values, dtype=object), type=pa.large_string(), from_pandas=True)
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([array])), index=frame.index, dtype=TEXT)


def flagged_text(frame: pd.DataFrame, mask: np.ndarray, text: pd.Series | str) -> pd.Series:
    """``text`` on flagged rows, NA elsewhere."""
    base = text if isinstance(text, pd.Series) else pd.Series(text, index=frame.index, dtype=TEXT)
    return base.astype(TEXT).where(pd.Series(mask, index=frame.index))


def ids_text(frame: pd.DataFrame, group: pd.Series) -> pd.Series:
    """Example ids (Int64, NA allowed) as text for reasons."""
    return group.astype("string").astype(TEXT)


def rule_result(
    frame: pd.DataFrame,
    mask: np.ndarray,
    reason: pd.Series,
    field: pd.Series | str,
    group: pd.Series | None = None,
    turn: np.ndarray | None = None,
) -> RuleResult:
    """A :class:`RuleResult` from a numpy ``mask`` (and ``turn``: per row, the turn index or -1 for none)."""
    turns = (
        None if turn is None else pd.Series(pd.array(np.where(turn >= 0, turn, -1), dtype="Int32"), index=frame.index)
    )
    if turns is not None:
        turns = turns.mask(turns < 0)
    return RuleResult(
        mask=pd.Series(mask, index=frame.index, dtype=bool), reason=reason, field=field, group=group, turn=turns
    )


def escape_word(word: str) -> str:
    """``word`` as a literal regex, any run of whitespace in it matching any run."""
    escaped = re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", word.strip())
    return re.sub(r"\s+", r"\\s+", escaped)
