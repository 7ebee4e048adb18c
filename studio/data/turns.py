"""The turn view: every part of every turn of every conversation, one row each, for rules and search.

The canonical frame keeps each conversation losslessly in ``messages``; this view flattens it so that rules,
search and replace read *all* turns at column speed instead of the three convenience columns. Columns:

- ``id`` (int64): the example id; ``turn`` (int32): the message's 0-based index in ``messages`` (so a system
  prompt is turn 0 and the first user turn is usually turn 1); ``part`` (int32): 0-based index within the turn
  (the content part, or the tool call);
- ``role`` (string): the message's role (``system``, ``user``, ``assistant``, ``tool``, ``function``…);
- ``kind`` (string): ``text`` (a string content or a text part), ``tool_call`` (one entry of ``tool_calls``:
  ``text`` holds its ``arguments``, ``name`` the function) or the ``type`` of a non-text part (``image_url``,
  ``input_audio``, ``file``…, with ``text`` null);
- ``text`` (string): what a text rule reads; ``name`` (string): the message's ``name`` or the called function;
- ``weight`` (float64): the message's ``weight`` (NaN when absent); ``trained`` (bool): an assistant turn whose
  weight is not 0 — what fine-tuning learns from; ``position`` (int64): the example's row in the frame.

The view of a frame is built once (a Python pass over the messages, ~1 s per 100k three-turn examples) and
kept while that frame's ``messages`` column is alive: the live search runs on it at each keystroke. Frames are
never modified in place here (every operation returns a new frame with a new ``messages`` column), which is what
makes caching by identity safe.

A turn with neither content nor tool calls still has one row (``kind`` ``text``, ``text`` ``""``), so an empty
answer is visible to the rules. Non-dict messages are skipped (the validator reports them).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

TEXT = pd.StringDtype("pyarrow")
TURN_COLUMNS = ("id", "turn", "part", "role", "kind", "text", "name", "weight", "trained", "position")
TOOL_CALL = "tool_call"


def message_parts(message: Mapping[str, Any]) -> list[tuple[str, str | None, str | None]]:
    """(kind, text, name) for each row the turn view gives one message, in order: its content parts (a string
    is one; list items that are neither objects nor strings are skipped), then its tool calls, or one blank text
    row when it has neither."""
    out: list[tuple[str, str | None, str | None]] = []
    name = message.get("name") if isinstance(message.get("name"), str) else None
    content = message.get("content")
    if isinstance(content, str):
        out.append(("text", content, name))
    elif isinstance(content, list):
        for part in content:
            if isinstance(part, Mapping):
                kind = declared if isinstance(declared := part.get("type"), str) else "text"
                text = part.get("text")
                if kind == "text" or isinstance(text, str):
                    out.append(("text", text if isinstance(text, str) else "", name))
                else:
                    out.append((kind, None, name))
            elif isinstance(part, str):
                out.append(("text", part, name))
    elif content is not None:
        out.append(("text", str(content), name))
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            arguments = function.get("arguments")
            text = arguments if isinstance(arguments, str) else None if arguments is None else str(arguments)
            called = function.get("name") if isinstance(function.get("name"), str) else None
            out.append((TOOL_CALL, text, called))
    if not out:
        out.append(("text", "", name))
    return out


_CACHE: OrderedDict[tuple, tuple[weakref.ref, pd.DataFrame]] = OrderedDict()
_CACHE_SIZE = 4
_CACHE_LOCK = threading.Lock()


def turn_view(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per part of every turn of ``frame``'s conversations (columns :data:`TURN_COLUMNS`), in frame and
    turn order, with a fresh RangeIndex. The frame is not modified; the result is shared (do not modify it)."""
    key, base = _cache_key(frame)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0]() is base:
            _CACHE.move_to_end(key)
            return hit[1]
    view = _build_view(frame)
    with _CACHE_LOCK:
        _CACHE[key] = (weakref.ref(base), view)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return view


def _cache_key(frame: pd.DataFrame) -> tuple[tuple, np.ndarray]:
    """The cache key of ``frame``'s view, and the array it names."""
    # pandas (copy-on-write) hands out a new Series at each frame["messages"]: the key is the array underneath,
    # alive as long as a frame holds it (a weak reference checks that), and the view of it this frame has.
    values = frame["messages"].to_numpy()
    base = values
    while isinstance(base.base, np.ndarray):
        base = base.base
    return (id(base), values.__array_interface__["data"][0], values.shape, values.strides), base


def _build_view(frame: pd.DataFrame) -> pd.DataFrame:
    """One Python pass over the messages; per row it keeps only the turn, part, role and kind codes, the text,
    name and weight (the example's id and position are repeated by numpy, roles and kinds decoded by Arrow from
    their codes), so no per-row tuple or string is made."""
    turns: list[int] = []
    parts: list[int] = []
    roles: list[int] = []
    kinds: list[int] = []
    texts: list[str | None] = []
    names: list[str | None] = []
    weights: list[float] = []
    counts = np.zeros(len(frame), dtype=np.int64)
    role_codes: dict[str | None, int] = {}
    kind_codes: dict[str, int] = {"text": 0}
    add_turn, add_part, add_role, add_kind = turns.append, parts.append, roles.append, kinds.append
    add_text, add_name, add_weight = texts.append, names.append, weights.append
    nan = np.nan
    for position, messages in enumerate(frame["messages"]):
        if not isinstance(messages, list):
            continue
        start = len(texts)
        for turn, message in enumerate(messages):
            if type(message) is not dict and not isinstance(message, Mapping):  # the exact type first: fast
                continue
            role = message.get("role")
            if type(role) is not str:
                role = role if isinstance(role, str) else None
            role_code = role_codes.get(role)
            if role_code is None:
                role_code = role_codes[role] = len(role_codes)
            weight = message.get("weight")
            if weight is None:
                weight_value = nan
            else:
                usable = isinstance(weight, int | float) and not isinstance(weight, bool)
                weight_value = float(weight) if usable else nan
            content = message.get("content")
            if type(content) is str and not message.get("tool_calls") and "name" not in message:  # the usual turn
                add_turn(turn)
                add_part(0)
                add_role(role_code)
                add_kind(0)
                add_text(content)
                add_name(None)
                add_weight(weight_value)
                continue
            for part, (kind, text, name) in enumerate(message_parts(message)):
                kind_code = kind_codes.get(kind)
                if kind_code is None:
                    kind_code = kind_codes[kind] = len(kind_codes)
                add_turn(turn)
                add_part(part)
                add_role(role_code)
                add_kind(kind_code)
                add_text(text)
                add_name(name)
                add_weight(weight_value)
        counts[position] = len(texts) - start
    weight_array = np.asarray(weights, dtype=np.float64)
    role_array = _decoded(roles, role_codes)
    is_assistant = _to_bool(pc.equal(role_array, "assistant"))
    view = pd.DataFrame(
        {
            "id": np.repeat(frame["id"].to_numpy(dtype=np.int64), counts),
            "turn": np.asarray(turns, dtype=np.int32),
            "part": np.asarray(parts, dtype=np.int32),
            "role": _series(role_array),
            "kind": _series(_decoded(kinds, kind_codes)),
            "text": _strings(texts),
            "name": _strings(names),
            "weight": weight_array,
            "trained": is_assistant & (np.isnan(weight_array) | (weight_array != 0)),
            "position": np.repeat(np.arange(len(frame), dtype=np.int64), counts),
        }
    )
    return view


def _decoded(codes: list[int], names: Mapping[Any, int]) -> pa.Array:
    """A string array from per-row ``codes`` into ``names`` (a None name is null), decoded by Arrow."""
    dictionary = pa.array(list(names), type=pa.large_string())
    indices = pa.array(np.asarray(codes, dtype=np.int32))
    if not len(codes):
        return pa.array([], type=pa.large_string())
    return pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.large_string())


def _to_bool(array: pa.Array) -> np.ndarray:
    return np.asarray(pc.fill_null(array, False).to_numpy(zero_copy_only=False), dtype=bool)


def _series(array: pa.Array) -> pd.Series:
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([array])), dtype=TEXT)


def _strings(values: list | tuple) -> pd.Series:
    """A string column (``TEXT``) straight from Python strings and Nones, through Arrow (pandas' own path checks
    every value in Python first)."""
    array = pa.array(values, type=pa.large_string())
    return pd.Series(pd.arrays.ArrowStringArray(pa.chunked_array([array])), dtype=TEXT)


def turn_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per example: ``turns`` (messages in the conversation) and ``roles`` (e.g. ``"system user assistant ×3"``:
    each role in order of first appearance, with its count when above 1), indexed like ``frame``."""
    counts: list[int] = []
    summaries: list[str] = []
    for messages in frame["messages"]:
        seen: dict[str, int] = {}
        conversation = messages if isinstance(messages, list) else []
        for message in conversation:
            role = message.get("role") if isinstance(message, Mapping) else None
            key = role if isinstance(role, str) else "?"
            seen[key] = seen.get(key, 0) + 1
        counts.append(len(conversation))
        summaries.append(" ".join(role if n == 1 else f"{role} ×{n}" for role, n in seen.items()))
    return pd.DataFrame(
        {"turns": np.asarray(counts, dtype=np.int32), "roles": pd.Series(summaries, dtype=TEXT)}, index=frame.index
    )


# -- carried over a one-example edit ------------------------------------------------------------------------------

_CARRY_CHUNKS = 256
"""A carried view whose text column has more chunks than this is built afresh instead (one build compacts it)."""


def carry_view(before: pd.DataFrame, after: pd.DataFrame, positions: Sequence[int] | np.ndarray) -> bool:
    """Cache ``after``'s turn view from ``before``'s (when that one is cached) for frames that differ only in the
    conversations at ``positions`` (same rows in the same order otherwise, as after a cell or conversation-panel
    edit): those examples' rows are built again and spliced in, every other row's Arrow buffers are shared, so an
    edit costs no full build (~1.3 s CPU at 100k multi-turn examples). Returns whether it did; the view is the one
    :func:`turn_view` would build."""
    if len(before) != len(after) or not len(positions):
        return False
    key, base = _cache_key(before)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is None or hit[0]() is not base:
        return False
    old = hit[1]
    if old["text"].array.__arrow_array__().num_chunks > _CARRY_CHUNKS:
        return False
    chosen = np.unique(np.asarray(positions, dtype=np.int64))
    fresh = _build_view(after.iloc[chosen])
    fresh["position"] = chosen[fresh["position"].to_numpy()]
    at = old["position"].to_numpy()
    starts, ends = np.searchsorted(at, chosen, side="left"), np.searchsorted(at, chosen, side="right")
    bounds = [*np.searchsorted(fresh["position"].to_numpy(), chosen, side="left").tolist(), len(fresh)]
    pieces, start = [], 0
    for k, (first, last) in enumerate(zip(starts.tolist(), ends.tolist(), strict=True)):
        pieces += [old.iloc[start:first], fresh.iloc[bounds[k] : bounds[k + 1]]]
        start = last
    pieces.append(old.iloc[start:])
    kept = [p for p in pieces if len(p)]  # Arrow columns: chunks joined, not copied
    view = pd.concat(kept, ignore_index=True) if kept else fresh.reset_index(drop=True)
    new_key, new_base = _cache_key(after)
    with _CACHE_LOCK:
        _CACHE[new_key] = (weakref.ref(new_base), view)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return True


# -- kept with a stored version (studio.storage keeps each version's view, so it is built once per version) --------


def cached_view(frame: pd.DataFrame) -> pd.DataFrame | None:
    """``frame``'s turn view when one is cached (built, carried over an edit or remembered), else None; builds
    nothing."""
    key, base = _cache_key(frame)
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    return hit[1] if hit is not None and hit[0]() is base else None


def remember_view(frame: pd.DataFrame, view: pd.DataFrame) -> None:
    """Cache ``view`` as ``frame``'s turn view, so that :func:`turn_view` returns it without a build. ``view``
    must be what :func:`turn_view` builds for ``frame`` (the view stored with the frame's version, read back)."""
    key, base = _cache_key(frame)
    with _CACHE_LOCK:
        _CACHE[key] = (weakref.ref(base), view)
        _CACHE.move_to_end(key)
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
