"""Near-duplicate examples: clusters of examples whose text is at least a threshold similar.

MinHash signatures over word unigrams and bigrams of the folded text (:func:`studio.quality.duplicates.fold_text`),
banded LSH to find candidate pairs, then ``rapidfuzz`` confirms each pair with the normalised
Indel similarity (``fuzz.ratio / 100``: the share of characters the two texts have in common, in order) at or
above ``threshold``. Clusters are the connected components of the confirmed pairs, so A~B and B~C put A and C
in one cluster even if A and C differ more. Everything is numpy/pyarrow over whole columns, and the two costly
steps use every core (:func:`studio.core.cores.worker_count`) on threads: the MinHash permutations (numpy
releases the GIL) and rapidfuzz's ``cpdist``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from studio.core.cores import worker_count
from studio.data.memory import check_memory
from studio.i18n import text
from studio.quality.duplicates import factorize, first_positions, fold_column, mix64

NEAR_FIELDS: tuple[str, ...] = ("user", "assistant")
_NUM_PERM = 64
_BANDS = 16  # 16 bands of 4 rows: a pair with shingle Jaccard 0.6 is a candidate 89% of the time, 0.7 98%
_NEIGHBOURS = 8  # within one LSH bucket, pair each member with its next 8 (bounds work on huge buckets)
MAX_BUCKET = 10_000
"""Default cap on the members of one LSH bucket compared in a band (near-copies of one text rarely reach it)."""
PAIR_CHUNK = 200_000
"""Candidate pairs confirmed at once: bounds the memory of the texts handed to rapidfuzz (~0.6 KB a pair)."""
REJECTED_SLOTS = 1 << 22
"""Slots of the table of pairs found dissimilar (32 MB), so other bands do not compare them again."""
SIGNATURE_CHUNK = 50_000
"""Rows whose MinHash signatures are computed at once (bounds the token arrays)."""


@dataclass(frozen=True)
class NearDuplicates:
    """What :func:`near_duplicates` found.

    - ``clusters``: cluster id per row (Int64, indexed like the frame; the id of the cluster's first row);
    - ``compared``: candidate pairs checked: by their lengths, then with rapidfuzz (pairs already in one cluster
      are not compared);
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
    workers: int | None = None,
) -> NearDuplicates:
    """Near-duplicate clusters of ``frame`` with what it cost (:class:`NearDuplicates`).

    Memory does not grow with the number of candidate pairs: signatures are built in row chunks (only their
    band keys are kept), each LSH band yields its pairs one neighbour step at a time, pairs already in one
    cluster are dropped, the rest are confirmed in chunks of :data:`PAIR_CHUNK` and joined at once (union-find
    over an int64 label per row). Peak memory is about the folded text plus ~0.4 KB per row; when
    :func:`near_duplicate_memory` says that is more than the machine has free, ``ResourceError`` is raised
    before any work. ``max_bucket`` (≥ 2) caps the members of one LSH bucket compared in a band (see
    :attr:`NearDuplicates.note`). ``workers`` threads (default: one per core) share the work; the result does
    not depend on it.
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
    check_memory(near_duplicate_memory(frame, fields), partial(text, "memory.near_duplicates", rows=f"{n:,}"))
    texts = _joined_folded(frame, fields)
    # Identical folded texts are trivially one cluster: compare only one representative of each.
    rep_codes, _ = factorize(texts)
    rep_positions = first_positions(rep_codes)
    rep_texts = texts.take(pa.array(rep_positions))
    del texts
    labels, stats = _stream_clusters(
        rep_texts, threshold=threshold, seed=seed, max_bucket=max_bucket, workers=worker_count(workers)
    )
    # Cluster id = id of the cluster's first row; reps are in first-appearance order: the min position wins.
    first_rep = np.full(len(rep_positions), np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_rep, labels, rep_positions)
    row_first = first_rep[labels][rep_codes]
    ids = frame["id"].to_numpy()
    clusters = pd.Series(ids[row_first], index=frame.index, dtype="Int64")
    return NearDuplicates(clusters, max_bucket=max_bucket, **stats)


def near_duplicate_memory(frame: pd.DataFrame, fields: Sequence[str] = NEAR_FIELDS) -> int:
    """Bytes :func:`near_duplicates` needs beyond the frame, estimated: the folded texts (three copies: per
    field, joined, representatives), their tokens for one row chunk, and ~0.4 KB per row (band keys,
    labels, the rejected-pair table). Measured peaks are below this."""
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


# -- near duplicates -----------------------------------------------------------------------------------------


def _joined_folded(frame: pd.DataFrame, fields: Sequence[str]) -> pa.Array:
    parts = [pc.fill_null(fold_column(frame, f), "") for f in fields]
    separator = pa.scalar(" ", type=parts[0].type)
    joined = pc.binary_join_element_wise(*parts, separator) if len(parts) > 1 else parts[0]
    joined = pc.utf8_trim_whitespace(joined)
    return joined.combine_chunks() if isinstance(joined, pa.ChunkedArray) else joined


def _band_keys(signature: np.ndarray, band: int) -> np.ndarray:
    """One uint64 key per row for LSH band ``band`` (its rows of the signature hashed together)."""
    rows = _NUM_PERM // _BANDS
    block = signature[:, band * rows : (band + 1) * rows]
    band_key = np.zeros(len(block), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(rows):
            band_key = mix64(band_key * np.uint64(0x100000001B3) ^ block[:, k].astype(np.uint64))
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


def _stream_clusters(
    texts: pa.Array, *, threshold: float, seed: int, max_bucket: int, workers: int
) -> tuple[np.ndarray, dict]:
    """Component label per text (the smallest member's position) and the counts for :class:`NearDuplicates`."""
    n = len(texts)
    labels = np.arange(n, dtype=np.int64)
    stats = {"compared": 0, "capped_buckets": 0, "capped_rows": 0}
    if n < 2:
        return labels, stats
    band_keys = _signature_band_keys(texts, seed=seed, workers=workers)
    lengths = pc.utf8_length(texts).to_numpy(zero_copy_only=False).astype(np.int64)
    # Pairs found dissimilar, kept in a fixed-size table (one slot per pair hash, newest wins): another band
    # often yields the same pair again; memory stays REJECTED_SLOTS * 8 bytes however many pairs there are.
    rejected = np.full(REJECTED_SLOTS, -1, dtype=np.int64)
    for band in range(_BANDS):
        for left, right, buckets, rows in _band_pairs(band_keys[band], max_bucket):
            stats["capped_buckets"] += buckets
            stats["capped_rows"] += rows
            for start in range(0, len(left), PAIR_CHUNK):
                a, b = left[start : start + PAIR_CHUNK], right[start : start + PAIR_CHUNK]
                apart = labels[a] != labels[b]  # a pair already in one cluster changes nothing
                a, b = np.minimum(a[apart], b[apart]), np.maximum(a[apart], b[apart])
                key = a * n + b
                slot = (mix64(key) % np.uint64(REJECTED_SLOTS)).astype(np.int64)
                fresh = rejected[slot] != key
                if not fresh.any():
                    continue
                a, b, key, slot = a[fresh], b[fresh], key[fresh], slot[fresh]
                stats["compared"] += len(a)
                similar = _similar(texts, a, b, threshold, lengths=lengths, workers=workers)
                rejected[slot[~similar]] = key[~similar]
                labels = _union(labels, a[similar], b[similar])
    return labels, stats


def _similar(
    texts: pa.Array, left: np.ndarray, right: np.ndarray, threshold: float, *, lengths: np.ndarray, workers: int
) -> np.ndarray:
    """Bool per pair: rapidfuzz's normalised Indel similarity of the two texts is at least ``threshold``.

    A pair whose lengths (``lengths``, in characters) alone rule it out is not compared: the Indel distance is
    at least the length difference, so the similarity is at most ``1 - |len_a - len_b| / (len_a + len_b)``.
    Each text of the chunk becomes a Python string once, however many of its pairs are compared; rapidfuzz
    runs on ``workers`` threads (it releases the GIL).
    """
    from rapidfuzz import fuzz, process

    cutoff = threshold * 100
    total = lengths[left] + lengths[right]
    # the margin keeps float rounding from refusing a pair rapidfuzz would score exactly at the cutoff
    possible = 100 * np.abs(lengths[left] - lengths[right]) <= (100 - cutoff) * total * (1 + 1e-9)
    similar = np.zeros(len(left), dtype=bool)
    if not possible.any():
        return similar
    left, right = left[possible], right[possible]
    nodes, inverse = np.unique(np.concatenate([left, right]), return_inverse=True)
    strings = np.asarray(texts.take(pa.array(nodes)).to_pylist(), dtype=object)
    scores = process.cpdist(
        strings[inverse[: len(left)]].tolist(),
        strings[inverse[len(left) :]].tolist(),
        scorer=fuzz.ratio,
        score_cutoff=cutoff,
        workers=workers,
    )
    similar[possible] = np.asarray(scores) >= cutoff
    return similar


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


def _signature_band_keys(texts: pa.Array, *, seed: int, workers: int) -> np.ndarray:
    """LSH band keys (_BANDS x rows, uint64) of each text's MinHash signature over its word unigrams and
    bigrams, computed :data:`SIGNATURE_CHUNK` rows at a time (only the keys are kept, not the signature); token
    ids come from one vocabulary shared by the chunks."""
    rng = np.random.default_rng(seed)
    # Odd multipliers make x -> a*x + b (mod 2^32) a permutation of 32-bit keys: cheap, good enough for LSH.
    multipliers = rng.integers(0, 2**32, size=_NUM_PERM, dtype=np.uint64).astype(np.uint32) | np.uint32(1)
    increments = rng.integers(0, 2**32, size=_NUM_PERM, dtype=np.uint64).astype(np.uint32)
    vocabulary: dict[str, int] = {}
    keys = np.empty((_BANDS, len(texts)), dtype=np.uint64)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, len(texts), SIGNATURE_CHUNK):
            chunk = texts.slice(start, SIGNATURE_CHUNK)
            signature = _chunk_signature(chunk, vocabulary, multipliers, increments, pool, workers)
            for band in range(_BANDS):
                keys[band, start : start + len(chunk)] = _band_keys(signature, band)
    return keys


def _chunk_signature(
    texts: pa.Array,
    vocabulary: dict[str, int],
    multipliers: np.ndarray,
    increments: np.ndarray,
    pool: ThreadPoolExecutor,
    workers: int,
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
    unigram_keys = (mix64(token_ids) >> np.uint64(32)).astype(np.uint32)
    bigram_keys = (mix64(bigrams) >> np.uint64(32)).astype(np.uint32)
    del token_ids, bigrams, is_last, follows
    signature = np.empty((len(lengths), _NUM_PERM), dtype=np.uint32)

    def permute(columns: range) -> None:  # numpy releases the GIL: the threads share the cores
        with np.errstate(over="ignore"):
            for j in columns:
                signature[:, j] = np.minimum.reduceat(unigram_keys * multipliers[j] + increments[j], offsets[:-1])
                if len(bigram_starts):
                    hashed = np.minimum.reduceat(bigram_keys * multipliers[j] + increments[j], bigram_starts)
                    signature[with_bigrams, j] = np.minimum(signature[with_bigrams, j], hashed)

    for done in [pool.submit(permute, range(w, _NUM_PERM, workers)) for w in range(workers)]:
        done.result()
    return signature
