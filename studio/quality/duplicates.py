"""Duplicate examples: exact copies, copies after folding, and near-duplicate clusters.

Every function returns a group id per row, as an ``Int64`` series indexed like the frame: the ``id`` of the
group's first row in frame order. A row with no duplicate is its own group (its own id), so every row has one,
:func:`duplicated_mask` tells which rows share their group, and :func:`repeats_earlier` which rows repeat an
earlier one (the rows a "keep first" clean-up would remove).

Example identity covers every turn. Single-turn rows (at most one system, user and assistant message) compare
their three text columns, which is vectorised; multi-turn rows and rows whose assistant turn is blank (tool
calls) also compare their full serialised conversation.

Near-duplicates (:func:`near_duplicate_clusters`): MinHash signatures over word unigrams and bigrams of the
folded text, banded LSH to find candidate pairs, then ``rapidfuzz`` confirms each pair with the normalised
Indel similarity (``fuzz.ratio / 100``: the share of characters the two texts have in common, in order) at or
above ``threshold``. Clusters are the connected components of the confirmed pairs, so A~B and B~C put A and C
in one cluster even if A and C differ more. Everything is numpy/pyarrow over whole columns.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.data.frame import TEXT_FIELDS
from studio.errors import ResourceError
from studio.quality.patterns import arrow_strings

NEAR_FIELDS: tuple[str, ...] = ("user", "assistant")
_NUM_PERM = 64
_BANDS = 16  # 16 bands of 4 rows: a pair with shingle Jaccard 0.6 is a candidate 89% of the time, 0.7 98%
_NEIGHBOURS = 8  # within one LSH bucket, pair each member with its next 8 (bounds work on huge buckets)
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
MAX_BUCKET = 10_000
"""Default cap on the members of one LSH bucket compared in a band (near-copies of one text rarely reach it)."""
PAIR_CHUNK = 200_000
"""Candidate pairs confirmed at once: bounds the memory of the texts handed to rapidfuzz (~0.6 KB a pair)."""
REJECTED_SLOTS = 1 << 22
"""Slots of the table of pairs found dissimilar (32 MB), so other bands do not compare them again."""
SIGNATURE_CHUNK = 100_000
"""Rows whose MinHash signatures are computed at once (bounds the token arrays)."""


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


def fold_codes(frame: pd.DataFrame, field: str) -> np.ndarray:
    """One int code per row; equal codes mean equal folded ``field`` text (missing and blank are equal)."""
    return _factorize(pc.fill_null(fold_column(frame, field), ""))[0]


def first_ids(frame: pd.DataFrame, codes: np.ndarray) -> pd.Series:
    """For each row, the ``id`` of the first row with the same code (Int64)."""
    return _groups(frame, codes)


def fold_text(values: pd.Series | pa.ChunkedArray | pa.Array) -> pa.ChunkedArray:
    """Text folded for comparison: lower case, no accents, runs of punctuation and whitespace as one space."""
    if isinstance(values, pa.Array):
        values = pa.chunked_array([values])
    text = values if isinstance(values, pa.ChunkedArray) else arrow_strings(values)
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
    return _groups(frame, _example_codes(frame, normalized=False))


def normalized_groups(frame: pd.DataFrame) -> pd.Series:
    """Group id per row after folding case, whitespace, punctuation and accents of every turn."""
    return _groups(frame, _example_codes(frame, normalized=True))


@dataclass(frozen=True)
class NearDuplicates:
    """What :func:`near_duplicates` found.

    - ``clusters``: cluster id per row (Int64, indexed like the frame; the id of the cluster's first row);
    - ``compared``: candidate pairs confirmed with rapidfuzz (pairs already in one cluster are not compared);
    - ``capped_buckets`` / ``capped_rows``: LSH buckets over ``max_bucket`` members, and how many of their
      members (summed over the bands) were left out of that band's comparisons;
    - ``note``: a sentence for the user when a cap was hit, else ``None``.
    """

    clusters: pd.Series
    compared: int = 0
    capped_buckets: int = 0
    capped_rows: int = 0
    max_bucket: int = MAX_BUCKET

    @property
    def note(self) -> str | None:
        return self.note_in("en")

    def note_in(self, lang: str) -> str | None:
        """:attr:`note` in ``lang`` (studio/locales/dataset.toml ``near_cap_note``)."""
        if not self.capped_buckets:
            return None
        from studio.i18n import plural

        return plural(
            "dataset.near_cap_note",
            self.capped_buckets,
            lang,
            max_bucket=self.max_bucket,
            members=plural("dataset.near_cap_members", self.capped_rows, lang),
        )


def near_duplicate_clusters(
    frame: pd.DataFrame,
    *,
    threshold: float = 0.8,
    fields: Sequence[str] = NEAR_FIELDS,
    seed: int = 1,
    max_bucket: int = MAX_BUCKET,
) -> pd.Series:
    """Cluster id per row: examples whose folded ``fields`` text is at least ``threshold`` similar share one.

    ``threshold`` is a similarity in (0, 1]; 0.8 groups texts that share ~80% of their characters in order.
    A row with no near-duplicate is its own cluster. Deterministic for a given ``seed``. See
    :func:`near_duplicates` for the caps and the memory check (``ResourceError``).
    """
    return near_duplicates(frame, threshold=threshold, fields=fields, seed=seed, max_bucket=max_bucket).clusters


def near_duplicates(
    frame: pd.DataFrame,
    *,
    threshold: float = 0.8,
    fields: Sequence[str] = NEAR_FIELDS,
    seed: int = 1,
    max_bucket: int = MAX_BUCKET,
) -> NearDuplicates:
    """Near-duplicate clusters of ``frame`` with what it cost (:class:`NearDuplicates`).

    Memory does not grow with the number of candidate pairs: signatures are built in row chunks, each LSH band
    yields its pairs one neighbour step at a time, pairs already in one cluster are dropped, the rest are
    confirmed in chunks of :data:`PAIR_CHUNK` and joined at once (union-find over an int64 label per row).
    Peak memory is about the folded text plus ~0.4 KB per row; when :func:`near_duplicate_memory` says that is
    more than the machine has free, ``ResourceError`` is raised before any work. ``max_bucket`` (≥ 2) caps the
    members of one LSH bucket compared in a band (see :attr:`NearDuplicates.note`).
    """
    if not 0 < threshold <= 1:
        raise ValueError(f"threshold must be in (0, 1], got {threshold!r}")
    if max_bucket < 2:
        raise ValueError(f"max_bucket must be at least 2, got {max_bucket!r}")
    missing = [f for f in fields if f not in frame.columns]
    if missing:
        raise ValueError(f"no column {missing[0]!r} to compare")
    n = len(frame)
    if n == 0:
        return NearDuplicates(pd.Series([], index=frame.index, dtype="Int64"), max_bucket=max_bucket)
    check_memory(near_duplicate_memory(frame, fields), f"near-duplicates over {n:,} rows")
    texts = _joined_folded(frame, fields)
    # Identical folded texts are trivially one cluster: compare only one representative of each.
    rep_codes, _ = _factorize(texts)
    rep_positions = _first_positions(rep_codes)
    rep_texts = texts.take(pa.array(rep_positions))
    del texts
    labels, stats = _stream_clusters(rep_texts, threshold=threshold, seed=seed, max_bucket=max_bucket)
    # Cluster id = id of the cluster's first row; reps are in first-appearance order: the min position wins.
    first_rep = np.full(len(rep_positions), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_rep, labels, rep_positions)
    row_first = first_rep[labels][rep_codes]
    ids = frame["id"].to_numpy()
    clusters = pd.Series(ids[row_first], index=frame.index, dtype="Int64")
    return NearDuplicates(clusters, max_bucket=max_bucket, **stats)


def near_duplicate_memory(frame: pd.DataFrame, fields: Sequence[str] = NEAR_FIELDS) -> int:
    """Bytes :func:`near_duplicates` needs beyond the frame, estimated: the folded texts (three copies: per
    field, joined, representatives), their tokens for one row chunk, and ~0.4 KB per row (signature, band keys,
    labels). Measured peaks are below this."""
    n = len(frame)
    text_bytes = 0
    for name in fields:
        if name in frame.columns:
            text_bytes += _text_bytes(frame[name])
    chunk_rows = min(n, SIGNATURE_CHUNK)
    chunk_text = text_bytes * chunk_rows // max(n, 1)
    return 3 * text_bytes + 8 * chunk_text + n * 400 + PAIR_CHUNK * 600


def _text_bytes(column: pd.Series) -> int:
    array = getattr(column.array, "_pa_array", None)
    if isinstance(array, pa.ChunkedArray):
        return int(array.nbytes)
    return int(column.memory_usage(deep=True))


def available_memory() -> int | None:
    """Bytes the kernel says a new allocation can still get (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # not Linux: no check
        pass
    return None


def check_memory(needed: int, what: str) -> None:
    """Raise ``ResourceError`` when ``needed`` bytes are more than 90% of the memory available now."""
    free = available_memory()
    if free is not None and needed > 0.9 * free:
        raise ResourceError(
            f"{what} would need about {needed / 2**30:.1f} GB of memory and {free / 2**30:.1f} GB are free; "
            "run it on part of the data (or a machine with more memory), or skip this rule"
        )


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
    different answers share a group here, though neither exact nor normalized duplicates do. Vectorised over
    the turn view (:func:`studio.data.turns.turn_view`); only prompts whose first and last turns and length
    match another's are folded whole.
    """
    from studio.data.turns import turn_view

    n = len(frame)
    if not n:
        return pd.Series([], index=frame.index, dtype="Int64")
    view = turn_view(frame)
    positions = view["position"].to_numpy()
    turn = view["turn"].to_numpy().astype(np.int64)
    assistant = (view["role"] == "assistant").fillna(False).to_numpy(dtype=bool)
    last = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last, positions[assistant], turn[assistant])
    last[last < 0] = np.iinfo(np.int64).max  # no assistant turn: the whole conversation
    rows = np.flatnonzero(turn < last[positions])  # the prompt's rows, in example and turn order
    lengths = np.bincount(positions[rows], minlength=n).astype(np.int64)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    present = lengths > 0
    ends = rows[starts[present] + lengths[present] - 1]
    edge_codes = _folded_row_codes(view, np.r_[rows[starts[present]], ends])
    first, final = np.full(n, -1, dtype=np.int64), np.full(n, -1, dtype=np.int64)
    first[present], final[present] = np.split(edge_codes, 2)
    codes = _combine(_combine(first, final), lengths)
    candidates = pd.Series(codes).duplicated(keep=False).to_numpy()
    if candidates.any():
        chosen = rows[candidates[positions[rows]]]
        whole = _sequence_codes(n, positions[chosen], _folded_row_codes(view, chosen))
        codes = _combine(codes, np.where(candidates, whole, -1))
    return _groups(frame, codes)


def _folded_row_codes(view: pd.DataFrame, rows: np.ndarray) -> np.ndarray:
    """One int64 code per turn-view row in ``rows`` (positions): equal codes mean the same role, kind, name
    and folded text. Codes compare only within one call."""
    if not len(rows):
        return np.zeros(0, dtype=np.int64)
    take = pa.array(rows)
    codes = _factorize(fold_text(arrow_strings(view["text"]).take(take)))[0]
    for column in ("role", "kind", "name"):
        codes = _combine(codes, _factorize(arrow_strings(view[column]).take(take))[0])
    return codes


def _sequence_codes(n: int, positions: np.ndarray, row_codes: np.ndarray) -> np.ndarray:
    """One code per example ``0..n-1`` for the sequence of ``row_codes`` of its rows (``positions`` ascending,
    rows of one example in order); equal codes mean equal sequences (a 64-bit hash, checked exactly where two
    examples share one)."""
    lengths = np.bincount(positions, minlength=n).astype(np.int64)
    starts = np.r_[0, np.cumsum(lengths)[:-1]]
    total = np.zeros(n, dtype=np.uint64)
    if len(positions):
        rank = np.arange(len(positions), dtype=np.int64) - starts[positions]
        with np.errstate(over="ignore"):
            hashed = _mix64(_mix64(row_codes) + rank.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
        present = lengths > 0
        total[present] = np.add.reduceat(hashed, starts[present])
    codes = pd.factorize(_mix64(total ^ lengths.astype(np.uint64)))[0].astype(np.int64)
    shared = pd.Series(codes).duplicated(keep=False).to_numpy()
    if shared.any():
        ends = starts + lengths
        exact = [row_codes[starts[i] : ends[i]].tobytes() for i in np.flatnonzero(shared)]
        extra = np.full(n, -1, dtype=np.int64)
        extra[shared] = pd.factorize(np.asarray(exact, dtype=object))[0]
        codes = _combine(codes, extra)
    return codes


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
        first = _first_positions(codes)
        pairs.append(np.column_stack([first[codes], positions]))
    labels = _components(n, np.concatenate(pairs) if pairs else np.empty((0, 2), dtype=np.int64))
    return _groups(frame, pd.factorize(labels)[0].astype(np.int64))


# -- exact / normalized --------------------------------------------------------------------------------------


def _example_codes(frame: pd.DataFrame, *, normalized: bool) -> np.ndarray:
    """One int64 code per row; equal codes mean equal examples."""
    codes: np.ndarray | None = None
    for field in TEXT_FIELDS:
        if normalized:
            values = fold_column(frame, field)
        elif field in frame.columns:
            values = arrow_strings(frame[field])
        else:
            values = pa.chunked_array([pa.nulls(len(frame), type=pa.large_string())])
        field_codes, _ = _factorize(values)
        codes = field_codes if codes is None else _combine(codes, field_codes)
    assert codes is not None, "TEXT_FIELDS is not empty"
    # Rows whose conversation the three columns do not tell whole need all their turns compared, but only
    # where their three columns already equal another row's: elsewhere they cannot be duplicates.
    complex_rows = _complex_rows(frame) & pd.Series(codes).duplicated(keep=False).to_numpy()
    if complex_rows.any():
        extra = np.full(len(frame), -1, dtype=np.int64)
        if normalized:  # every turn (text parts, tool calls, tool results) folded, from the turn view
            from studio.data.turns import turn_view

            view = turn_view(frame)
            positions = view["position"].to_numpy()
            rows = np.flatnonzero(complex_rows[positions])
            whole = _sequence_codes(len(frame), positions[rows], _folded_row_codes(view, rows))
            extra[complex_rows] = whole[complex_rows]
        else:  # every byte of the conversation, keys sorted
            extra[complex_rows] = _dump_codes(frame["messages"].to_numpy()[complex_rows])
        codes = _combine(codes, extra)
    return codes


def _dump_codes(conversations: np.ndarray) -> np.ndarray:
    """One code per conversation; equal codes mean equal JSON (keys sorted). Hashes the dumps one at a time (no
    copy of every dump is kept) and compares the dumps themselves only where two hashes are equal."""
    import orjson

    def dump(messages: object) -> bytes:
        return orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)

    hashes = np.fromiter((hash(dump(m)) for m in conversations), dtype=np.int64, count=len(conversations))
    codes = pd.factorize(hashes)[0].astype(np.int64)
    shared = pd.Series(codes).duplicated(keep=False).to_numpy()
    if shared.any():
        extra = np.full(len(codes), -1, dtype=np.int64)
        extra[shared] = pd.factorize(np.asarray([dump(m) for m in conversations[shared]], dtype=object))[0]
        codes = _combine(codes, extra)
    return codes


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


def _factorize(values: pa.ChunkedArray) -> tuple[np.ndarray, int]:
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


def _first_positions(codes: np.ndarray) -> np.ndarray:
    """Position of the first row of each code (codes numbered by first appearance)."""
    return np.flatnonzero(~pd.Series(codes).duplicated().to_numpy())


def _groups(frame: pd.DataFrame, codes: np.ndarray) -> pd.Series:
    ids = frame["id"].to_numpy()
    first = _first_positions(codes)
    return pd.Series(ids[first[codes]], index=frame.index, dtype="Int64")


# -- near duplicates -----------------------------------------------------------------------------------------


def _joined_folded(frame: pd.DataFrame, fields: Sequence[str]) -> pa.Array:
    parts = [pc.fill_null(fold_column(frame, f), "") for f in fields]
    separator = pa.scalar(" ", type=parts[0].type)
    joined = pc.binary_join_element_wise(*parts, separator) if len(parts) > 1 else parts[0]
    joined = pc.utf8_trim_whitespace(joined)
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: spreads integer keys over 64 bits."""
    with np.errstate(over="ignore"):
        x = x.astype(np.uint64)
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _band_keys(signature: np.ndarray, band: int) -> np.ndarray:
    """One uint64 key per row for LSH band ``band`` (its rows of the signature hashed together)."""
    rows = _NUM_PERM // _BANDS
    block = signature[:, band * rows : (band + 1) * rows]
    band_key = np.zeros(len(block), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(rows):
            band_key = _mix64(band_key * np.uint64(0x100000001B3) ^ block[:, k].astype(np.uint64))
    return band_key


def _band_pairs(band_key: np.ndarray, max_bucket: int) -> Iterator[tuple[np.ndarray, np.ndarray, int, int]]:
    """Candidate pairs of one band, one neighbour step at a time: ``(left, right, capped buckets, capped rows)``
    (the counts come with the first step). Within a bucket (rows sharing the key, in row order) each member is
    paired with its next :data:`_NEIGHBOURS`; members past ``max_bucket`` are left out."""
    order = np.argsort(band_key, kind="stable")
    sorted_key = band_key[order]
    n = len(order)
    starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
    sizes = np.diff(np.r_[starts, n])
    over = sizes > max_bucket
    capped = (int(over.sum()), int((sizes[over] - max_bucket).sum()))
    if capped[0]:
        rank = np.arange(n) - np.repeat(starts, sizes)
        keep = rank < max_bucket
    for step in range(1, min(_NEIGHBOURS, n - 1) + 1):
        same = np.flatnonzero(sorted_key[step:] == sorted_key[:-step])
        if capped[0]:
            same = same[keep[same + step]]
        yield order[same], order[same + step], *(capped if step == 1 else (0, 0))
        if not len(same):
            break


def _stream_clusters(texts: pa.Array, *, threshold: float, seed: int, max_bucket: int) -> tuple[np.ndarray, dict]:
    """Component label per text (the smallest member's position) and the counts for :class:`NearDuplicates`."""
    n = len(texts)
    labels = np.arange(n, dtype=np.int64)
    stats = {"compared": 0, "capped_buckets": 0, "capped_rows": 0}
    if n < 2:
        return labels, stats
    signature = _signatures(texts, seed=seed)
    # Pairs found dissimilar, kept in a fixed-size table (one slot per pair hash, newest wins): another band
    # often yields the same pair again; memory stays REJECTED_SLOTS * 8 bytes however many pairs there are.
    rejected = np.full(REJECTED_SLOTS, -1, dtype=np.int64)
    for band in range(_BANDS):
        for left, right, buckets, rows in _band_pairs(_band_keys(signature, band), max_bucket):
            stats["capped_buckets"] += buckets
            stats["capped_rows"] += rows
            for start in range(0, len(left), PAIR_CHUNK):
                a, b = left[start : start + PAIR_CHUNK], right[start : start + PAIR_CHUNK]
                apart = labels[a] != labels[b]  # a pair already in one cluster changes nothing
                a, b = np.minimum(a[apart], b[apart]), np.maximum(a[apart], b[apart])
                key = a * n + b
                slot = (_mix64(key) % np.uint64(REJECTED_SLOTS)).astype(np.int64)
                fresh = rejected[slot] != key
                if not fresh.any():
                    continue
                a, b, key, slot = a[fresh], b[fresh], key[fresh], slot[fresh]
                stats["compared"] += len(a)
                similar = _similar(texts, a, b, threshold)
                rejected[slot[~similar]] = key[~similar]
                labels = _union(labels, a[similar], b[similar])
    return labels, stats


def _similar(texts: pa.Array, left: np.ndarray, right: np.ndarray, threshold: float) -> np.ndarray:
    """Bool per pair: rapidfuzz's normalised Indel similarity of the two texts is at least ``threshold``."""
    from rapidfuzz import fuzz, process

    cutoff = threshold * 100
    scores = process.cpdist(
        texts.take(pa.array(left)).to_pylist(),
        texts.take(pa.array(right)).to_pylist(),
        scorer=fuzz.ratio,
        score_cutoff=cutoff,
        workers=1,
    )
    return np.asarray(scores) >= cutoff


def _union(labels: np.ndarray, left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``labels`` (each node's root: the smallest node of its component) with the pairs joined, still flat."""
    while len(left):
        a, b = labels[left], labels[right]
        apart = a != b
        if not apart.any():
            break
        a, b, left, right = a[apart], b[apart], left[apart], right[apart]
        low = np.minimum(a, b)
        np.minimum.at(labels, a, low)  # roots hook to the smallest root they touch
        np.minimum.at(labels, b, low)
        while True:  # pointer jumping until every node points at a root again
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    return labels


def _signatures(texts: pa.Array, *, seed: int) -> np.ndarray:
    """MinHash signature (rows x _NUM_PERM, uint32) over each text's word unigrams and bigrams, computed
    :data:`SIGNATURE_CHUNK` rows at a time; token ids come from one vocabulary shared by the chunks."""
    rng = np.random.default_rng(seed)
    # Odd multipliers make x -> a*x + b (mod 2^32) a permutation of 32-bit keys: cheap, good enough for LSH.
    multipliers = rng.integers(0, 2**32, size=_NUM_PERM, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    increments = rng.integers(0, 2**32, size=_NUM_PERM, dtype=np.uint64).astype(np.uint32)
    vocabulary: dict[str, int] = {}
    signature = np.empty((len(texts), _NUM_PERM), dtype=np.uint32)
    for start in range(0, len(texts), SIGNATURE_CHUNK):
        chunk = texts.slice(start, SIGNATURE_CHUNK)
        signature[start : start + len(chunk)] = _chunk_signature(chunk, vocabulary, multipliers, increments)
    return signature


def _chunk_signature(
    texts: pa.Array, vocabulary: dict[str, int], multipliers: np.ndarray, increments: np.ndarray
) -> np.ndarray:
    tokens = pc.split_pattern(texts, " ")  # folded text: single spaces, and "" still gives one token
    offsets = tokens.offsets.to_numpy().astype(np.int64)
    offsets -= offsets[0]
    lengths = np.diff(offsets)
    encoded = pc.dictionary_encode(tokens.flatten())
    words = encoded.dictionary.to_pylist()
    # this chunk's dictionary -> ids of the shared vocabulary (a token keeps its id across chunks)
    local = np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for w in words), dtype=np.int64, count=len(words))
    token_ids = local[encoded.indices.to_numpy().astype(np.int64)]
    is_last = np.zeros(len(token_ids), dtype=bool)
    is_last[offsets[1:] - 1] = True
    follows = ~is_last[:-1]
    # bigram keys (a + 1) << 32 | b never equal a unigram's id (ids stay below 2^32)
    bigrams = ((token_ids[:-1][follows] + 1) << 32) | token_ids[1:][follows]
    with_bigrams = lengths > 1
    bigram_starts = np.concatenate([[0], np.cumsum(np.maximum(lengths - 1, 0))])[:-1][with_bigrams]
    unigram_keys = (_mix64(token_ids) >> np.uint64(32)).astype(np.uint32)
    bigram_keys = (_mix64(bigrams) >> np.uint64(32)).astype(np.uint32)
    del token_ids, bigrams, is_last, follows
    signature = np.empty((len(lengths), _NUM_PERM), dtype=np.uint32)
    with np.errstate(over="ignore"):
        for j in range(_NUM_PERM):
            signature[:, j] = np.minimum.reduceat(unigram_keys * multipliers[j] + increments[j], offsets[:-1])
            if len(bigram_starts):
                hashed = np.minimum.reduceat(bigram_keys * multipliers[j] + increments[j], bigram_starts)
                signature[with_bigrams, j] = np.minimum(signature[with_bigrams, j], hashed)
    return signature


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
