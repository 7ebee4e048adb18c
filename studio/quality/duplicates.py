"""Duplicate examples: exact copies, copies after folding, the same prompt, and unions of groupings.

Every function returns a group id per row, as an ``Int64`` series indexed like the frame: the ``id`` of the
group's first row in frame order. A row with no duplicate is its own group (its own id), so every row has one,
:func:`duplicated_mask` tells which rows share their group, and :func:`repeats_earlier` which rows repeat an
earlier one (the rows a "keep first" clean-up would remove).

Example identity covers every turn, and has one definition (:func:`grouping_codes`): content keys per row,
which a file read in parts (:mod:`studio.quality.streamed`) compares across its parts the same way. Every row
gets a cheap key (:func:`part_keys`: its three text columns, or the edges of its prompt); rows whose cheap key
another row shares and that it does not tell whole (more turns, tool calls, a blank answer; a prompt of more
than three turns) are compared on their whole conversation (:func:`whole_keys`).

Near-duplicate clusters are :mod:`studio.quality.near_duplicates`; the folding and code helpers here are
shared with it.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.data.frame import TEXT_FIELDS
from studio.quality.patterns import arrow_strings

_FOLDED: ContextVar[dict | None] = ContextVar("studio_folded", default=None)


@contextlib.contextmanager
def fold_cache() -> Iterator[None]:
    """Within this block, folded text columns are computed once per (frame, field) and reused."""
    token = _FOLDED.set({})
    try:
        yield
    finally:
        _FOLDED.reset(token)


def fold_column(frame: pd.DataFrame, field: str) -> pa.ChunkedArray:
    """:func:`fold_text` of ``frame[field]`` (NA if there is no such column), cached in :func:`fold_cache`."""
    cache = _FOLDED.get()
    key = (id(frame), field)
    if cache is not None and key in cache:
        return cache[key][1]
    if field in frame.columns:
        folded = fold_text(frame[field])
    else:
        folded = pa.chunked_array([pa.nulls(len(frame), type=pa.large_string())])
    if cache is not None:
        cache[key] = (frame, folded)  # holding the frame keeps id(frame) from being reused meanwhile
    return folded


def first_ids(frame: pd.DataFrame, codes: np.ndarray) -> pd.Series:
    """For each row, the ``id`` of the first row with the same code (Int64)."""
    return _groups(frame, codes)


def fold_text(values: pd.Series | pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Text folded for comparison: lower case, no accents, runs of punctuation and whitespace as one space.

    A column that repeats its values (a templated system prompt) folds each distinct value once."""
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    text = values if isinstance(values, pa.ChunkedArray) else arrow_strings(values)
    if len(text) >= _DISTINCT_MIN_ROWS:
        encoded = pc.dictionary_encode(text.combine_chunks())
        if len(encoded.dictionary) * _DISTINCT_SHARE < len(encoded):
            folded = _combined(_folded(pa.chunked_array([encoded.dictionary])))
            return pa.chunked_array([folded.take(encoded.indices)])
    return _folded(text)


_DISTINCT_MIN_ROWS = 1_000
_DISTINCT_SHARE = 2
"""A column of at least ``_DISTINCT_MIN_ROWS`` rows with fewer than 1 in ``_DISTINCT_SHARE`` distinct is folded
value by value (the regex passes cost per byte; the dictionary costs one hash per row)."""


def _folded(text: pa.ChunkedArray) -> pa.ChunkedArray:
    # Unicode normalisation is the slow step; ASCII rows have no accents to strip.
    accented = pc.invert(pc.fill_null(pc.string_is_ascii(text), True))
    if pc.any(accented).as_py():
        subset = text.filter(accented)
        stripped = pc.replace_substring_regex(pc.utf8_normalize(subset, form="NFKD"), r"\p{Mn}+", "")
        text = pc.replace_with_mask(text.combine_chunks(), accented.combine_chunks(), stripped.combine_chunks())
    text = pc.utf8_lower(text)
    # Two passes with few matches each beat one pass over every space (RE2 cost is per match).
    text = pc.replace_substring_regex(text, r"[\p{P}\p{S}]+", " ")
    text = pc.replace_substring_regex(text, r"\s\s+|[\t\n\r\f\v]", " ")
    return pc.utf8_trim_whitespace(text)


def exact_groups(frame: pd.DataFrame) -> pd.Series:
    """Group id per row: rows whose every turn is identical share the id of the first of them."""
    return _groups(frame, grouping_codes(frame, "exact"))


def normalized_groups(frame: pd.DataFrame) -> pd.Series:
    """Group id per row after folding case, whitespace, punctuation and accents of every turn."""
    return _groups(frame, grouping_codes(frame, "normalized"))


def duplicated_mask(groups: pd.Series) -> pd.Series:
    """Rows whose group has at least two members."""
    return groups.duplicated(keep=False) & groups.notna()


def repeats_earlier(frame: pd.DataFrame, groups: pd.Series) -> pd.Series:
    """Rows that belong to a group whose first row comes earlier in the frame."""
    return (groups != frame["id"]).fillna(False).astype(bool)


def group_order(groups: pd.Series, *, only_duplicates: bool = True) -> pd.Index:
    """Frame index labels ordered so each group's members sit together (groups by first appearance).

    ``frame.loc[group_order(groups)]`` shows the duplicates next to each other; with ``only_duplicates`` rows
    alone in their group are left out.
    """
    positions = np.arange(len(groups))
    codes, _ = pd.factorize(groups.to_numpy(), use_na_sentinel=False)
    first = np.full(codes.max() + 1 if len(codes) else 0, len(groups), dtype=np.int64)
    np.minimum.at(first, codes, positions)
    order = np.lexsort((positions, first[codes]))
    if only_duplicates:
        keep = duplicated_mask(groups).to_numpy()
        order = order[keep[order]]
    return groups.index[order]


def prompt_groups(frame: pd.DataFrame) -> pd.Series:
    """Group id per row: rows whose prompt — the whole conversation before the last assistant turn (system,
    earlier turns, tool calls and results), each turn folded like :func:`normalized_groups` — is the same.

    A row without an assistant turn uses its whole conversation. Two rows asking the same question with
    different answers share a group here, though neither exact nor normalized duplicates do."""
    return _groups(frame, grouping_codes(frame, "prompt"))


def _prompt_rows(view: pd.DataFrame, n: int) -> np.ndarray:
    """The turn-view rows (positions, in example and turn order) of each of the ``n`` examples' prompt: every
    turn before its last assistant turn, or its whole conversation when it has none."""
    positions = view["position"].to_numpy()
    turn = view["turn"].to_numpy().astype(np.int64)
    assistant = (view["role"] == "assistant").fillna(False).to_numpy(dtype=bool)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, positions[assistant], turn[assistant])
    last[last < 0] = np.iinfo(np.int64).max  # no assistant turn: the whole conversation
    return np.flatnonzero(turn < last[positions])


def union_groups(frame: pd.DataFrame, *groupings: pd.Series) -> pd.Series:
    """Group id per row joining every grouping: rows linked through any of them (A~B in one, B~C in another)
    share the id of the first row of their union, in frame order."""
    n = len(frame)
    if not n:
        return pd.Series([], index=frame.index, dtype="Int64")
    positions = np.arange(n)
    pairs = []
    for groups in groupings:
        codes, _ = pd.factorize(groups.to_numpy(), use_na_sentinel=False)
        first = first_positions(codes)
        pairs.append(np.column_stack([first[codes], positions]))
    labels = _components(n, np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64))
    return _groups(frame, pd.factorize(labels)[0].astype(np.int64))


def _complex_rows(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose three text columns do not tell the whole conversation (more turns, tool calls)."""
    if "messages" not in frame.columns:
        return np.zeros(len(frame), dtype=bool)
    try:
        lengths = np.fromiter(map(len, frame["messages"]), dtype=np.int64, count=len(frame))
    except TypeError:  # a missing conversation (None/NaN) somewhere
        lengths = frame["messages"].map(lambda m: len(m) if isinstance(m, list | tuple) else 0).to_numpy()
    present = sum(frame[f].notna().to_numpy().astype(np.int64) for f in TEXT_FIELDS if f in frame.columns)
    answer = pc.fill_null(pc.utf8_trim_whitespace(arrow_strings(frame["assistant"])), "")
    blank_answer = pc.equal(pc.utf8_length(answer), 0).to_numpy(zero_copy_only=False)
    return (lengths != present) | blank_answer


def factorize(values: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """Codes in order of first appearance (null is a value of its own) and how many distinct values."""
    encoded = pc.dictionary_encode(values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values)
    indices = pc.fill_null(encoded.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    codes, uniques = pd.factorize(indices)
    return codes.astype(np.int64), len(uniques)


def _combine(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Codes of the pairs (left, right), in order of first appearance; stays below len(left)."""
    if not len(left):
        return left
    combined = left * (int(right.max()) + 2) + (right + 1)
    codes, _ = pd.factorize(combined)
    return codes.astype(np.int64)


def first_positions(codes: np.ndarray) -> np.ndarray:
    """Position of the first row of each code (codes numbered by first appearance)."""
    return np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())


def _groups(frame: pd.DataFrame, codes: np.ndarray) -> pd.Series:
    ids = frame["id"].to_numpy()
    first = first_positions(codes)
    return pd.Series(ids[first[codes]], index=frame.index, dtype="Int64")


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads integer keys over 64 bits."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Connected-component label per node: the smallest node of its component (hooking + pointer jumping)."""
    labels = np.arange(n)
    if not len(pairs):
        return labels
    left, right = pairs[:, 0], pairs[:, 1]
    while True:
        # every label is a root here (labels[labels] == labels); hook each root to the smallest one it touches
        low = np.minimum(labels[left], labels[right])
        np.minimum.at(labels, labels[left], low)
        np.minimum.at(labels, labels[right], low)
        while True:
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
        if np.array_equal(labels[left], labels[right]):
            return labels


# -- the keys: what makes two examples duplicates -------------------------------------------------------------
# Content keys are 128-bit BLAKE2b digests of an unambiguous encoding of what a grouping compares, so they mean
# the same in one frame and in every part of a file read in parts. Equal keys <=> same group.

_STRING = pa.large_string()


def grouping_codes(frame: pd.DataFrame, name: str) -> np.ndarray:
    """One int64 code per row of ``frame`` (numbered by first appearance) for the grouping ``name`` (one of
    :data:`WHOLE_KEYS`): equal codes <=> the rows are duplicates under it. The cheap keys of :func:`part_keys`,
    and the :func:`whole_keys` of the rows :func:`candidates` picks: the comparison a file read in parts makes
    across its parts."""
    if not len(frame):
        return np.zeros(0, dtype=np.int64)
    keys = part_keys(frame)
    chosen = candidates(keys)[name]
    whole = np.zeros((len(frame), 2), dtype=np.uint64)
    if chosen.any():
        whole[chosen] = whole_keys(frame.iloc[np.flatnonzero(chosen)].reset_index(drop=True), (name,))[name]
    return digest_codes(keys[name], chosen, whole)


def candidates(keys: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per grouping of :data:`WHOLE_KEYS`, the rows (of :func:`part_keys` ``keys``, one frame's or a whole
    file's end to end) whose whole conversation must be compared: their cheap key is shared and does not tell
    it whole (the exact and normalized keys of a ``complex`` row; a prompt of more than 3 turn-view rows)."""

    def shared(digest: np.ndarray) -> np.ndarray:
        return pd.Series(digest_codes(digest)).duplicated(keep=False).to_numpy()

    return {
        "exact": keys["complex"] & shared(keys["exact"]),
        "normalized": keys["complex"] & shared(keys["normalized"]),
        "prompt": shared(keys["prompt"]) & (keys["prompt_rows"] > 3),  # up to 3 rows the cheap key is whole
    }


def part_keys(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    """Per row of ``frame``: ``exact``, ``normalized`` and ``prompt`` (cheap keys: digests, shape (n, 2) uint64;
    ``prompt_rows``: the prompt's turn-view rows, all of them in its cheap key when 3 or fewer),
    ``complex`` (bool: its three text columns do not tell its whole conversation), ``answer`` (digest of the
    folded answer, what ``duplicate_prompt`` compares) and ``user_blank`` (bool). Computed once per frame
    within :func:`fold_cache`."""
    cache = _FOLDED.get()
    key = (id(frame), "part_keys")
    if cache is not None and key in cache:
        return cache[key][1]
    keys = _part_keys(frame)
    if cache is not None:
        cache[key] = (frame, keys)
    return keys


def _part_keys(frame: pd.DataFrame) -> dict[str, np.ndarray]:
    n = len(frame)
    complex_rows = _complex_rows(frame)
    tag = pa.array(np.where(complex_rows, "C", "S").astype(object), type=_STRING)
    raw = [_encoded(_text(frame, field)) for field in TEXT_FIELDS]
    folded = [_encoded(fold_column(frame, field)) for field in TEXT_FIELDS]
    from studio.data.turns import turn_view

    view = turn_view(frame)
    positions = view["position"].to_numpy()
    rows = _prompt_rows(view, n)
    lengths = np.bincount(positions[rows], minlength=n).astype(np.int64)
    starts = np.r_[0, np.cumsum(lengths)[:-1]].astype(np.int64)
    present = lengths > 0
    # the cheap prompt key: its length and its first, second and last rows (a system prompt, the first question,
    # the last question or tool result), folded; the first and last alone are shared by many templated prompts
    chosen = [starts, starts + np.minimum(1, lengths - 1), starts + lengths - 1]
    index = np.full(n, -1, dtype=np.int64)
    index[present] = np.arange(int(present.sum()))
    pick = pa.array(index, mask=index < 0)
    # each edge on its own: a templated system prompt is folded once (fold_text)
    edges = [pc.fill_null(_row_tokens(view, rows[c[present]]).take(pick), "") for c in chosen]
    count = pa.array(lengths.astype(str).astype(object), type=_STRING)
    answer = pc.fill_null(_combined(fold_column(frame, "assistant")), "")
    from studio.quality.columns import blank, text_column

    return {
        "exact": digests(_join(tag, *raw)),
        "normalized": digests(_join(tag, *folded)),
        "prompt": digests(_join(*(_encoded(edge) for edge in edges), count)),
        "prompt_rows": lengths,
        "complex": complex_rows,
        "answer": digests(answer),
        "user_blank": blank(text_column(frame, "user")),
    }


WHOLE_KEYS = ("exact", "normalized", "prompt")


def whole_keys(frame: pd.DataFrame, names: Sequence[str] = WHOLE_KEYS) -> dict[str, np.ndarray]:
    """Per row of ``frame``, digests of what the groupings compare when cheap keys are shared (``names`` of
    them): ``exact`` (the conversation's JSON, keys sorted), ``normalized`` (every turn-view row's role, kind,
    name and folded text) and ``prompt`` (the same over the prompt's rows)."""
    n = len(frame)
    out = {}
    if "exact" in names:
        import orjson

        dumps = [orjson.dumps(m, option=orjson.OPT_SORT_KEYS) for m in frame["messages"]]
        out["exact"] = digests(pa.array(dumps, type=pa.large_binary()))
    if "normalized" in names or "prompt" in names:
        from studio.data.turns import turn_view

        view = turn_view(frame)
        positions = view["position"].to_numpy()
        if "normalized" in names:
            every = np.arange(len(view))
            out["normalized"] = digests(_per_example(_row_tokens(view, every), positions, n))
        if "prompt" in names:
            prompt = _prompt_rows(view, n)
            out["prompt"] = digests(_per_example(_row_tokens(view, prompt), positions[prompt], n))
    return out


def digest_codes(*keys: np.ndarray) -> np.ndarray:
    """Codes (numbered by first appearance) of the rows of the digests ``keys`` side by side."""
    if not len(keys[0]):
        return np.zeros(0, dtype=np.int64)
    codes: np.ndarray | None = None
    for key in keys:
        for column in key.reshape(len(key), -1).T:
            column_codes = pd.factorize(column)[0].astype(np.int64)
            codes = column_codes if codes is None else _combine(codes, column_codes)
    assert codes is not None, "at least one key"
    return codes


def digests(values: pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The 128-bit BLAKE2b digest of each value's bytes (no nulls), shape (n, 2) uint64."""
    import hashlib

    array = _combined(values)
    if array.type != pa.large_binary():
        array = array.cast(pa.large_binary())
    n = len(array)
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int64, count=n + 1, offset=array.offset * 8).tolist()
    data = array.buffers()[2]
    memory = memoryview(data) if data is not None else memoryview(b"")
    blake2b = hashlib.blake2b
    joined = b"".join([blake2b(memory[a:b], digest_size=16).digest() for a, b in itertools.pairwise(offsets)])
    return np.frombuffer(joined, dtype=np.uint64).reshape(n, 2) if n else np.zeros((0, 2), dtype=np.uint64)


def _combined(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _text(frame: pd.DataFrame, field: str) -> pa.Array:
    if field not in frame.columns:
        return pa.nulls(len(frame), type=_STRING)
    return _combined(arrow_strings(frame[field]))


def _encoded(values: pa.Array | pa.ChunkedArray) -> pa.Array:
    """Each value as ``"<byte length>:<text>"``, null as ``"n"``: joined side by side, never ambiguous."""
    values = _combined(values).cast(_STRING)
    length = pc.cast(pc.binary_length(values), _STRING)
    return pc.fill_null(pc.binary_join_element_wise(length, values, pa.scalar(":", _STRING)), pa.scalar("n", _STRING))


def _join(*columns: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(*columns, pa.scalar("", _STRING))


def _row_tokens(view: pd.DataFrame, rows: np.ndarray) -> pa.Array:
    """Per turn-view row in ``rows``: its role, kind, name and folded text, encoded: what makes two turns the
    same for the normalized and prompt groupings."""
    take = pa.array(rows, type=pa.int64())
    text = _combined(fold_text(_combined(arrow_strings(view["text"])).take(take)))
    columns = [_encoded(_combined(arrow_strings(view[c])).take(take)) for c in ("role", "kind", "name")]
    return _join(*columns, _encoded(text))


def _per_example(tokens: pa.Array, positions: np.ndarray, n: int) -> pa.Array:
    """``tokens`` (rows in example order, ``positions`` their example) joined into one string per example."""
    lengths = np.bincount(positions, minlength=n).astype(np.int64)
    offsets = pa.array(np.r_[0, np.cumsum(lengths)].astype(np.int64))
    lists = pa.LargeListArray.from_arrays(offsets, tokens.cast(_STRING))
    return pc.fill_null(pc.binary_join(lists, pa.scalar("", _STRING)), "")


def keep_one_mask(groups: pd.Series, scope: np.ndarray, *, length: np.ndarray | None = None) -> np.ndarray:
    """Which rows keeping one per group keeps (bool per row; :class:`~studio.editing.ops.KeepOnePerGroup`): every
    row outside ``scope`` (bool per row) or without a group (NA), and of each group's rows in ``scope`` one: the
    longest by ``length`` (characters per row; ties: the first) or, without ``length``, the first.
    ``(~mask).sum()`` is how many it deletes."""
    codes, _ = pd.factorize(groups.to_numpy(), use_na_sentinel=True)
    candidates = scope & (codes >= 0)
    positions = np.flatnonzero(candidates)
    ranking = pd.DataFrame(
        {
            "group": codes[positions],
            "length": -np.asarray(length)[positions] if length is not None else 0,
            "position": positions,
        }
    )
    winners = ranking.sort_values(["group", "length", "position"], kind="stable").drop_duplicates("group")
    keep = ~candidates
    keep[winners["position"].to_numpy()] = True
    return keep
