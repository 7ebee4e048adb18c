"""Rules over every turn: run a column check on each turn of each conversation and report per example.

The rule families (:mod:`~studio.quality.pattern_rules`, :mod:`~studio.quality.text_rules`,
:mod:`~studio.quality.answer_rules`) check text *columns*. Here a conversation's turns become the rows of a turn
table (from :func:`studio.data.turns.turn_view`) with one text column per field a rule can read:

- text rules (``TEXT_SCOPE``): ``system``, ``user``, ``assistant`` (the text of every turn of that role), ``tool``
  (tool results) and ``tool_calls`` (the ``arguments`` of every call);
- answer rules (``ANSWER_SCOPE``): ``assistant``, one row per *trained* assistant turn (``weight`` absent or not
  0) with its whole text.

The check runs once over the turn table; an example is flagged when any of its turns is, and its finding is its
first flagged turn's, naming the turn where it is not the one the grid shows in that column (first system, last
user, last assistant): ``e-mail address 'a@b.org' in turn 1 (user)``. The label is made for flagged rows only
(:func:`studio.quality.columns.where_labels`), from the table's ``turn``, ``__shown`` and ``__name`` columns.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from typing import Any, Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.data.frame import TEXT
from studio.data.turns import TOOL_CALL, turn_view
from studio.quality.columns import Check, RuleResult, reasons, rule_result, where_labels
from studio.quality.messages import say, turn_label
from studio.quality.patterns import arrow_strings

TEXT_FIELDS_ALL: tuple[str, ...] = ("system", "user", "assistant", "tool", "tool_calls")
Scope = Literal["text", "answer"]

_VIEWS: ContextVar[dict | None] = ContextVar("studio_turn_views", default=None)
_EVERY: ContextVar[list[tuple[int, int, str]] | None] = ContextVar("studio_every_turn", default=None)


@contextlib.contextmanager
def every_turn() -> Iterator[list[tuple[int, int, str]]]:
    """Within this block, a rule run over turns also lists every turn it flags, not only each example's first
    (what a row's finding and the grid's badge say): ``(frame position, turn, message)`` in turn order, the
    message naming the turn as a finding does. For one conversation in the conversation panel: each turn's
    findings under that turn."""
    found: list[tuple[int, int, str]] = []
    token = _EVERY.set(found)
    try:
        yield found
    finally:
        _EVERY.reset(token)


@contextlib.contextmanager
def turn_cache() -> Iterator[None]:
    """Within this block (one :func:`~studio.quality.rules.analyze`), a frame's turn tables are built once."""
    token = _VIEWS.set({})
    try:
        yield
    finally:
        _VIEWS.reset(token)


def _cached(frame: pd.DataFrame, scope: Scope) -> pd.DataFrame:
    cache = _VIEWS.get()
    key = (id(frame), len(frame), scope)
    if cache is not None and key in cache and cache[key][0] is frame:
        return cache[key][1]
    table = _text_table(frame) if scope == "text" else _answer_table(frame)
    if cache is not None:
        cache[key] = (frame, table)
    return table


def _last_of_group(groups: np.ndarray, turn: np.ndarray, first: bool) -> np.ndarray:
    """Per row (rows of one group adjacent, in turn order): True where its turn is the group's first (or last)."""
    if not len(groups):
        return np.zeros(0, dtype=bool)
    change = np.r_[True, groups[1:] != groups[:-1]]
    group_of_row = np.cumsum(change) - 1
    edge = np.flatnonzero(change) if first else np.r_[np.flatnonzero(change)[1:] - 1, len(groups) - 1]
    return turn == turn[edge][group_of_row]


def _grid_turns(position: np.ndarray, turn: np.ndarray, role: np.ndarray, roles: list[str]) -> np.ndarray:
    """Per turn row (rows in frame and turn order; ``role`` codes into ``roles``): True where it is the turn a
    grid column shows (first system, last user, last assistant). One numpy pass per role, no grouping by
    strings."""
    shown = np.zeros(len(turn), dtype=bool)
    for code, name in enumerate(roles):
        if name not in ("system", "user", "assistant"):
            continue
        rows = np.flatnonzero(role == code)
        shown[rows] = _last_of_group(position[rows], turn[rows], first=name == "system")
    return shown


def _codes(values: pa.ChunkedArray | pa.Array, missing: str) -> tuple[np.ndarray, list[str]]:
    """A low-cardinality string column as (int codes, names); null reads as ``missing``."""
    encoded = pc.dictionary_encode(pc.fill_null(values, missing))
    chunks = encoded.chunks if isinstance(encoded, pa.ChunkedArray) else [encoded]
    names: list[str] = []
    parts = []
    for chunk in chunks:  # each chunk has its own dictionary: map them onto one list of names
        local = chunk.dictionary.to_pylist()
        for name in local:
            if name not in names:
                names.append(name)
        remap = np.array([names.index(name) for name in local], dtype=np.int32)
        parts.append(remap[chunk.indices.to_numpy(zero_copy_only=False)] if len(local) else np.zeros(0, np.int32))
    return (np.concatenate(parts) if parts else np.zeros(0, dtype=np.int32)), names


def _text_table(frame: pd.DataFrame) -> pd.DataFrame:
    view = turn_view(frame)
    keep = pa.array(np.flatnonzero(view["text"].notna().to_numpy()))
    kind = arrow_strings(view["kind"]).take(keep)
    role = arrow_strings(view["role"]).take(keep)
    # the field a row is read as: its role, or "tool_calls" for a call's arguments
    field = pc.if_else(pc.equal(kind, TOOL_CALL), pa.scalar("tool_calls", kind.type), pc.fill_null(role, "?"))
    field_codes, fields = _codes(field, "?")
    role_codes, roles = _codes(role, "?")
    rows = keep.to_numpy()
    position, turn = view["position"].to_numpy()[rows], view["turn"].to_numpy()[rows]
    grid = _grid_turns(position, turn, role_codes, roles)
    columns = {
        "position": position,
        "turn": turn,
        "text": arrow_strings(view["text"]).take(keep),
        "name": arrow_strings(view["name"]).take(keep),
    }
    return _table(frame, columns, field_codes, fields, grid)


def _answer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trained assistant turn, its text parts joined (as :func:`studio.core.chat.content_text`)."""
    view = turn_view(frame)
    rows = np.flatnonzero(view["trained"].to_numpy())
    string = pa.large_string()
    if not len(rows):
        empty = {"position": np.zeros(0, np.int64), "turn": np.zeros(0, np.int32), "text": pa.array([], string)}
        table = _table(frame, {**empty, "name": pa.array([], string)}, np.zeros(0, np.int32), [], np.zeros(0, bool))
        table["assistant"] = pd.Series([], dtype=TEXT)
        table["has_tool_calls"] = np.array([], dtype=bool)
        return table
    ids, turn = view["id"].to_numpy()[rows], view["turn"].to_numpy()[rows]
    position = view["position"].to_numpy()[rows]
    # rows of one turn are adjacent (the view is in turn order): a turn starts where (id, turn) changes
    change = np.r_[True, (ids[1:] != ids[:-1]) | (turn[1:] != turn[:-1])]
    starts = np.flatnonzero(change)
    turn_of_row = np.cumsum(change) - 1
    kind = arrow_strings(view["kind"]).take(pa.array(rows))
    is_text = to_bool(pc.equal(kind, "text"))
    calls = np.zeros(len(starts), dtype=bool)
    np.logical_or.at(calls, turn_of_row, to_bool(pc.equal(kind, TOOL_CALL)))
    text = arrow_strings(view["text"]).take(pa.array(rows))
    text_rows = np.flatnonzero(is_text)
    parts_per_turn = np.bincount(turn_of_row[text_rows], minlength=len(starts))
    single = text_rows[parts_per_turn[turn_of_row[text_rows]] == 1]
    pick = np.full(len(starts), -1, dtype=np.int64)
    pick[turn_of_row[single]] = single  # most turns: one text part, taken as it is (Arrow, no Python strings)
    texts = pc.fill_null(text.take(pa.array(pick, mask=pick < 0)), "")
    several = np.flatnonzero(parts_per_turn > 1)
    if len(several):  # several text parts, joined as content_text joins them
        ends = np.r_[starts[1:], len(rows)]
        joined = []
        for t in several:
            parts = text.slice(starts[t], ends[t] - starts[t]).to_pylist()
            joined.append("\n".join(p for p, k in zip(parts, is_text[starts[t] : ends[t]], strict=True) if k and p))
        mask = np.zeros(len(starts), dtype=bool)
        mask[several] = True
        texts = pc.replace_with_mask(texts.combine_chunks(), pa.array(mask), pa.array(joined, type=texts.type))
    position, turn = position[starts], turn[starts]
    grid = _last_of_group(position, turn, first=False)  # the last trained answer is the one the grid shows
    columns = {"position": position, "turn": turn, "text": texts, "name": pa.nulls(len(starts), string)}
    table = _table(frame, columns, np.zeros(len(starts), dtype=np.int32), ["assistant"], grid)
    table["has_tool_calls"] = calls
    return table


def _chunked(array: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    return array if isinstance(array, pa.ChunkedArray) else pa.chunked_array([array], type=array.type)


def to_bool(array: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """A boolean Arrow array as numpy, null as False."""
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _table(
    frame: pd.DataFrame,
    columns: Mapping[str, Any],
    codes: np.ndarray,
    fields: list[str],
    grid: np.ndarray,
) -> pd.DataFrame:
    """The turn table from per-row ``columns`` (``position``, ``turn``, ``text``, ``name``), the field of each
    row (``codes`` into ``fields``) and whether it is the turn the grid shows (``grid``): ``id`` (its own row
    number), ``example`` (the frame position), ``turn``, ``order`` (the row's place in turn order), per field a
    text column, and what :func:`studio.quality.columns.where_labels` makes a finding's label of (``__shown``,
    ``__name``) — built for the flagged rows only, never for all.

    Rows are grouped by field (in turn order within one), so each field's column is null chunks around a
    zero-copy slice of the turn text: the table holds the text once, however many fields there are."""
    by_field = np.argsort(codes, kind="stable")
    codes = codes[by_field]
    shown_fields = np.isin(np.asarray(fields, dtype=object), ("system", "user", "assistant"))
    take = pa.array(by_field)
    table = pd.DataFrame(
        {
            "id": np.arange(len(codes), dtype=np.int64),
            "example": np.asarray(columns["position"])[by_field],
            "turn": np.asarray(columns["turn"])[by_field],
            "order": by_field.astype(np.int64),
            "__shown": grid[by_field] & (shown_fields[codes] if len(fields) else np.zeros(0, dtype=bool)),
        }
    )
    text = _chunked(columns["text"].take(take)).combine_chunks()
    table["__name"] = pd.Series(pd.arrays.ArrowStringArray(_chunked(columns["name"].take(take))), dtype=TEXT)
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True]) if len(codes) else np.zeros(1, dtype=int)
    for start, stop in itertools.pairwise(bounds):
        chunks = [pa.nulls(start, type=text.type), text.slice(start, stop - start)]
        chunks.append(pa.nulls(len(codes) - stop, type=text.type))
        column = pa.chunked_array([c for c in chunks if len(c)], type=text.type)
        table[fields[codes[start]]] = pd.Series(pd.arrays.ArrowStringArray(column), dtype=TEXT)
    return table


def over_turns(check: Check, scope: Scope = "text") -> Check:
    """``check`` run on every turn of ``scope`` instead of the frame's three text columns (see the module)."""

    def run(frame: pd.DataFrame, params: Mapping[str, Any]) -> RuleResult:
        table = _cached(frame, scope)
        n = len(frame)
        if not len(table):
            return rule_result(
                frame, np.zeros(n, dtype=bool), reasons(frame), pd.Series(None, index=frame.index, dtype=object)
            )
        result = check(table, params)
        hit = np.flatnonzero(result.mask.to_numpy(dtype=bool))
        hit = hit[np.argsort(table["order"].to_numpy()[hit], kind="stable")]  # the flagged rows in turn order
        rows = table.iloc[hit]
        first = ~pd.Series(rows["example"].to_numpy()).duplicated().to_numpy()
        every = _EVERY.get()
        if every is not None:  # every flagged turn, not only the first (see every_turn)
            said = _said(result.reason.to_numpy()[hit], _where(table, result.field, hit))
            every.extend(zip(rows["example"].tolist(), rows["turn"].tolist(), said, strict=True))
        examples = rows["example"].to_numpy()[first]
        mask = np.zeros(n, dtype=bool)
        mask[examples] = True
        reason = np.full(n, None, dtype=object)
        reason[examples] = _said(result.reason.to_numpy()[hit][first], _where(table, result.field, hit[first]))
        field = np.full(n, None, dtype=object)
        fields = (
            result.field.to_numpy()[hit]
            if isinstance(result.field, pd.Series)
            else np.full(len(hit), result.field, dtype=object)
        )
        field[examples] = fields[first]
        turn = np.full(n, -1, dtype=np.int64)
        turn[examples] = rows["turn"].to_numpy()[first]
        return rule_result(
            frame, mask, reasons(frame, reason), pd.Series(field, index=frame.index, dtype=object), turn=turn
        )

    run.__doc__ = check.__doc__
    run.__name__ = getattr(check, "__name__", "check")
    return run


def _said(found: np.ndarray, where: np.ndarray) -> list[Any]:
    """Each finding's message, with the turn in front where it does not say it (answer rules) and the turn is an
    earlier one than the grid shows (``where``: :func:`_where`'s labels)."""
    return [
        r if w is None or w in ("system", "user", "assistant") or w in str(r) else say("in_turn", at=w, finding=r)
        for r, w in zip(found, where, strict=True)
    ]


def _where(table: pd.DataFrame, field: pd.Series | str, hit: np.ndarray) -> np.ndarray:
    """The label (:func:`~studio.quality.columns.where_labels`) of each flagged row ``hit`` of ``table``."""
    names = field.to_numpy()[hit] if isinstance(field, pd.Series) else np.full(len(hit), field, dtype=object)
    out = np.full(len(hit), None, dtype=object)
    for name in set(names) - {None}:
        mine = names == name
        out[mine] = where_labels(table, name, hit[mine])
    return out


def answer_turns(frame: pd.DataFrame) -> pd.DataFrame:
    """The answer rules' turn table of ``frame`` (cached within :func:`turn_cache`)."""
    return _cached(frame, "answer")


def finding_where(messages: Any, turn: int | None, field: str | None, lang: str = "en") -> str:
    """Where a finding (a row of :attr:`~studio.quality.rules.Analysis.issues`: its ``turn`` and ``field``) is,
    for a flag badge: ``""`` when it is in the turn the grid shows in that column (first system, last user, last
    assistant) or about the whole example (no turn), else ``"turn 1 (user)"`` or ``"turn 4 (tool call)"``
    (:func:`studio.quality.messages.turn_label` in ``lang``). ``messages`` is the example's conversation."""
    if turn is None or pd.isna(turn) or not isinstance(field, str):
        return ""
    turn = int(turn)
    if field in ("system", "user", "assistant"):
        at = [i for i, m in enumerate(messages or []) if isinstance(m, Mapping) and m.get("role") == field]
        if at and turn == (at[0] if field == "system" else at[-1]):
            return ""
    return turn_label(turn, field, lang)
