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
user, last assistant): ``e-mail address 'a@b.org' in turn 1 (user)``. Alongside each column, ``<field>__where``
holds that label (read by :func:`studio.quality.columns.where_labels`).
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
from studio.quality.columns import Check, RuleResult, reasons, rule_result
from studio.quality.patterns import arrow_strings

TEXT_FIELDS_ALL: tuple[str, ...] = ("system", "user", "assistant", "tool", "tool_calls")
Scope = Literal["text", "answer"]

_VIEWS: ContextVar[dict | None] = ContextVar("studio_turn_views", default=None)


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


def _grid_turns(view: pd.DataFrame) -> pd.Series:
    """Per turn row: True where it is the turn a grid column shows (first system, last user, last assistant)."""
    role = view["role"].astype(object).to_numpy()
    ids, turn = view["id"].to_numpy(), view["turn"].to_numpy()
    keys = pd.DataFrame({"id": ids, "role": role, "turn": turn})
    first = keys.groupby(["id", "role"], sort=False)["turn"].transform("min").to_numpy()
    last = keys.groupby(["id", "role"], sort=False)["turn"].transform("max").to_numpy()
    return pd.Series(np.where(role == "system", turn == first, turn == last), index=view.index)


def _labels(view: pd.DataFrame, grid: pd.Series, field: np.ndarray) -> pd.Series:
    """Where each turn row is, for messages: its field name for the turn a grid column shows, else the turn
    (``turn 3 (user)``, ``turn 4 (tool call get_invoice)``); built with Arrow kernels over every row."""
    string = pa.large_string()
    turn = pc.cast(pc.cast(pa.array(view["turn"].to_numpy()), pa.string()), string)
    role = pc.fill_null(pc.cast(arrow_strings(view["role"]), string), "?")
    name = pc.fill_null(pc.cast(arrow_strings(view["name"]), string), "?")

    def lit(text: str) -> pa.Scalar:
        return pa.scalar(text, type=string)

    called = pc.binary_join_element_wise(lit("tool call "), name, lit(""))
    inner = pc.if_else(pa.array(field == "tool_calls"), called, role)
    labels = pc.binary_join_element_wise(lit("turn "), turn, lit(" ("), inner, lit(")"), lit(""))
    shown = grid.to_numpy() & np.isin(field, ("system", "user", "assistant"))
    labels = pc.if_else(pa.array(shown), pa.array(field.astype(str), type=string), labels)
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([labels]) if len(view) else labels), dtype=TEXT)


def _text_table(frame: pd.DataFrame) -> pd.DataFrame:
    view = turn_view(frame)
    text_rows = view["text"].notna().to_numpy()
    view = view[text_rows].reset_index(drop=True)
    kind = view["kind"].astype(object).to_numpy()
    role = view["role"].astype(object).fillna("?").to_numpy()
    field = np.where(kind == TOOL_CALL, "tool_calls", role).astype(object)
    table = _table(frame, view, field, _labels(view, _grid_turns(view), field))
    return table


def _answer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per trained assistant turn, its text parts joined (as :func:`studio.core.chat.content_text`)."""
    view = turn_view(frame)
    view = view[view["trained"].to_numpy()].reset_index(drop=True)
    if not len(view):
        empty = pd.DataFrame(
            {"id": [], "turn": [], "position": [], "text": [], "tool_calls": [], "role": [], "name": []}
        ).astype({"id": "int64", "turn": "int32", "position": "int64", "tool_calls": bool})
        table = _table(frame, empty, np.array([], dtype=object), pd.Series([], dtype=TEXT))
        table["assistant"] = pd.Series([], dtype=TEXT)
        table["assistant__where"] = np.array([], dtype=object)
        table["has_tool_calls"] = np.array([], dtype=bool)
        return table
    ids, turn = view["id"].to_numpy(), view["turn"].to_numpy()
    # rows of one turn are adjacent (the view is in turn order): a turn starts where (id, turn) changes
    starts = np.flatnonzero(np.r_[True, (ids[1:] != ids[:-1]) | (turn[1:] != turn[:-1])])
    turn_of_row = np.cumsum(np.r_[False, (ids[1:] != ids[:-1]) | (turn[1:] != turn[:-1])])
    kind = view["kind"].astype(object).to_numpy()
    text = view["text"].astype(object).to_numpy()
    is_text = kind == "text"
    calls = np.zeros(len(starts), dtype=bool)
    np.logical_or.at(calls, turn_of_row, kind == TOOL_CALL)
    texts = np.full(len(starts), "", dtype=object)
    text_rows = np.flatnonzero(is_text)
    parts_per_turn = np.bincount(turn_of_row[text_rows], minlength=len(starts))
    single = text_rows[parts_per_turn[turn_of_row[text_rows]] == 1]
    texts[turn_of_row[single]] = [v if isinstance(v, str) else "" for v in text[single]]  # most turns: one part
    ends = np.r_[starts[1:], len(view)]
    for t in np.flatnonzero(parts_per_turn > 1):  # several text parts, joined as content_text joins them
        rows = slice(starts[t], ends[t])
        texts[t] = "\n".join(p for p in text[rows][is_text[rows]] if isinstance(p, str))
    turns = pd.DataFrame({"id": ids[starts], "turn": turn[starts], "position": view["position"].to_numpy()[starts]})
    turns["text"] = texts
    turns["tool_calls"] = calls
    turns["role"] = "assistant"
    turns["name"] = None
    grid = _grid_turns(turns.astype({"role": object}))
    field = np.full(len(turns), "assistant", dtype=object)
    table = _table(frame, turns, field, _labels(turns, grid, field))
    table["has_tool_calls"] = turns["tool_calls"].to_numpy()
    return table


def _table(frame: pd.DataFrame, view: pd.DataFrame, field: np.ndarray, where: pd.Series) -> pd.DataFrame:
    """The turn table: ``id`` (its own row number), ``example`` (the frame position), ``turn``, ``order`` (the
    row's place in turn order), and per field a text column with ``<field>__where`` (the labels, one shared
    column) beside it.

    Rows are grouped by field (in turn order within one), so each field's column is null chunks around a
    zero-copy slice of the turn text: the table holds the text once, however many fields there are."""
    codes = pd.factorize(field)[0]
    by_field = np.argsort(codes, kind="stable")
    field, codes = field[by_field], codes[by_field]
    table = pd.DataFrame(
        {
            "id": np.arange(len(view), dtype=np.int64),
            "example": view["position"].to_numpy()[by_field],
            "turn": view["turn"].to_numpy()[by_field],
            "order": by_field.astype(np.int64),
        }
    )
    text = arrow_strings(view["text"]) if len(view) else pa.chunked_array([], type=pa.large_string())
    text = text.take(pa.array(by_field)).combine_chunks() if len(view) else text.combine_chunks()
    labels = where.array.__arrow_array__() if len(view) else None
    where = (
        pd.Series(pd.arrays.ArrowStringArray(labels.take(pa.array(by_field))), dtype=TEXT)
        if labels is not None
        else where
    )
    bounds = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1], True]) if len(codes) else np.zeros(1, dtype=int)
    for start, stop in itertools.pairwise(bounds):
        chunks = [pa.nulls(start, type=text.type), text.slice(start, stop - start)]
        chunks.append(pa.nulls(len(field) - stop, type=text.type))
        column = pa.chunked_array([c for c in chunks if len(c)], type=text.type)
        table[field[start]] = pd.Series(pd.arrays.ArrowStringArray(column), dtype=TEXT)
        table[f"{field[start]}__where"] = where
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
        examples = rows["example"].to_numpy()[first]
        mask = np.zeros(n, dtype=bool)
        mask[examples] = True
        reason = np.full(n, None, dtype=object)
        found = result.reason.to_numpy()[hit][first]
        where = _where(rows, result.field, hit)[first]
        # A message that does not say where (answer rules) gets the turn in front when it is an earlier one.
        reason[examples] = [
            r if w is None or w in ("system", "user", "assistant") or w in str(r) else f"{w}: {r}"
            for r, w in zip(found, where, strict=True)
        ]
        field = np.full(n, None, dtype=object)
        fields = (
            result.field.to_numpy()[hit]
            if isinstance(result.field, pd.Series)
            else np.full(len(hit), result.field, dtype=object)
        )
        field[examples] = fields[first]
        return rule_result(frame, mask, reasons(frame, reason), pd.Series(field, index=frame.index, dtype=object))

    run.__doc__ = check.__doc__
    run.__name__ = getattr(check, "__name__", "check")
    return run


def _where(rows: pd.DataFrame, field: pd.Series | str, hit: np.ndarray) -> np.ndarray:
    names = field.to_numpy()[hit] if isinstance(field, pd.Series) else np.full(len(rows), field, dtype=object)
    out = np.full(len(rows), None, dtype=object)
    for name in set(names) - {None}:
        column = f"{name}__where"
        if column in rows.columns:
            mine = names == name
            out[mine] = rows[column].to_numpy()[mine]
    return out


def answer_turns(frame: pd.DataFrame) -> pd.DataFrame:
    """The answer rules' turn table of ``frame`` (cached within :func:`turn_cache`)."""
    return _cached(frame, "answer")
