"""Frames as stored in the workspace: lossless Arrow blobs, and the cache of the versions decoded last.

A version is one Arrow IPC file (zstd; versions stored before were Parquet files, still read). Nested values
(``messages``, ``tools``, ``metadata``) go in as JSON text and come back as the same Python objects; the names of
those columns travel in the file's schema metadata. Rule flags are a second, flat Arrow file keyed by the example
ids they were computed for, and the version's turn view a third (read back in a fifth of the time a build takes).
Arrow files, not Parquet, for what a page's first draw reads: 100k multi-turn examples read in 0.1 s CPU instead of
0.3–0.5 s of Parquet page decoding, for about the same size.
"""

from __future__ import annotations

import gc
import io
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np
import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from studio.core.memory import collector_paused
from studio.data.frame import TEXT, TEXT_FIELDS
from studio.data.turns import TURN_COLUMNS

_JSON_COLUMNS_KEY = b"studio.json_columns"


def frame_to_blob(frame: pd.DataFrame) -> bytes:
    """Serialise a canonical frame losslessly: nested values (messages, tools, metadata) go in as JSON text."""
    table = frame.copy()
    json_columns = []
    for column in table.columns:
        if table[column].dtype == object:
            values = table[column].to_numpy()
            if any(not (v is None or isinstance(v, str)) for v in values):
                table[column] = [None if v is None else json.dumps(v, ensure_ascii=False) for v in values]
                json_columns.append(column)
    arrow = pa.Table.from_pandas(table, preserve_index=False)
    metadata = dict(arrow.schema.metadata or {})
    metadata[_JSON_COLUMNS_KEY] = json.dumps(json_columns).encode()
    return _arrow_file(arrow.replace_schema_metadata(metadata))


def frame_from_blob(data: bytes) -> pd.DataFrame:
    """Inverse of :func:`frame_to_blob`; reads the Parquet blobs of versions stored before, too."""
    table = _read_arrow_file(data) if data.startswith(_ARROW_MAGIC) else _read(data)
    json_columns = json.loads((table.schema.metadata or {}).get(_JSON_COLUMNS_KEY, b"[]"))
    frame = table.drop_columns(json_columns).to_pandas()
    for column in json_columns:
        texts = table.column(column).to_numpy(zero_copy_only=False)
        with collector_paused():  # decoded JSON holds no cycles
            values = [None if v is None else orjson.loads(v) for v in texts]
        frame.insert(table.schema.get_field_index(column), column, pd.Series(values, dtype=object))
    for column in TEXT_FIELDS:
        if column in frame.columns:
            frame[column] = frame[column].astype(TEXT)
    return frame


def flags_to_blob(frame: pd.DataFrame, flags: pd.DataFrame) -> bytes:
    """The rule flags of ``frame`` (one row per example, same order) with the examples' ids in ``_id``."""
    table = flags.reset_index(drop=True)
    table.insert(0, "_id", frame["id"].to_numpy())
    return _arrow_file(pa.Table.from_pandas(table, preserve_index=False))


def flags_from_blob(data: bytes, frame: pd.DataFrame) -> pd.DataFrame | None:
    """Inverse of :func:`flags_to_blob` (reads the Parquet blobs stored before, too), indexed like ``frame``; None
    when they were stored for other rows."""
    table = _read_arrow_file(data) if data.startswith(_ARROW_MAGIC) else _read(data)
    if not np.array_equal(table.column("_id").to_numpy(), frame["id"].to_numpy()):
        return None
    flags = table.drop_columns(["_id"]).to_pandas()
    flags.index = frame.index
    return flags


def view_to_arrow(view: pd.DataFrame) -> bytes:
    """A frame's turn view (:func:`studio.data.turns.turn_view`) as an Arrow IPC file (zstd), kept beside its
    version: read back in a fraction of a build's time (100k multi-turn examples, 0.8M rows: 0.2 s CPU instead of
    1.2 s)."""
    return _arrow_file(pa.Table.from_pandas(view, preserve_index=False))


def view_from_arrow(data: bytes, frame: pd.DataFrame) -> pd.DataFrame | None:
    """Inverse of :func:`view_to_arrow`: the view with the dtypes :func:`~studio.data.turns.turn_view` gives (text
    columns as Arrow strings, not copied into Python objects), for ``frame``; None when it was stored for other
    rows (its example ids at its positions are not ``frame``'s) or has other columns."""
    table = _read_arrow_file(data)
    if table.column_names != list(TURN_COLUMNS):
        return None
    positions = table.column("position").to_numpy()
    ids = frame["id"].to_numpy()
    if len(positions) and (positions.max() >= len(ids) or not np.array_equal(ids[positions], table.column("id"))):
        return None
    return table.to_pandas(types_mapper=lambda kind: TEXT if pa.types.is_large_string(kind) else None)


_ARROW_MAGIC = b"ARROW1"


def _arrow_file(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_file(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="zstd")) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def _read_arrow_file(data: bytes) -> pa.Table:
    """An Arrow IPC file's table, decompressed on this thread (see :func:`_read`)."""
    options = pa.ipc.IpcReadOptions(use_threads=False)
    return pa.ipc.open_file(pa.py_buffer(data), options=options).read_all()


def _read(data: bytes) -> pa.Table:
    """A stored blob's table, read on this thread: Arrow's thread pool costs more than it saves on a blob of one
    row group (100k multi-turn examples: 0.2 s CPU instead of 0.8 s, and it competes with the page on few cores)."""
    return pq.read_table(io.BytesIO(data), use_threads=False)


class FrameCache:
    """The last few decoded versions, shared by every session of the process (versions never change).

    At most ``kept`` frames and ``max_rows`` rows in all (~2 KB a row decoded: 1.5M rows is ~3 GB); the newest is
    always kept, however big. Two readers of one key wait for one decode instead of decoding twice.
    """

    def __init__(self, kept: int = 3, max_rows: int = 1_500_000) -> None:
        self.kept, self.max_rows = kept, max_rows
        self._frames: OrderedDict[Hashable, pd.DataFrame] = OrderedDict()
        self._lock = threading.Lock()
        self._loading: dict[Hashable, threading.Lock] = {}

    def clear(self) -> None:
        """Forget every decoded frame (the next read decodes again)."""
        with self._lock:
            self._frames.clear()

    def cached_keys(self) -> list[Hashable]:
        """The cached keys, oldest first."""
        with self._lock:
            return list(self._frames)

    def get(self, key: Hashable, decode: Callable[[], pd.DataFrame]) -> pd.DataFrame:
        """The frame cached under ``key``, else ``decode()``'s, cached. Callers must not modify it in place."""
        with self._lock:
            loading = self._loading.setdefault(key, threading.Lock())
        with loading:
            with self._lock:
                frame = self._frames.get(key)
                if frame is not None:
                    self._frames.move_to_end(key)
                    return frame
            frame = decode()
            with self._lock:
                self._frames[key] = frame
                self._loading.pop(key, None)
                evicted = False
                while len(self._frames) > 1 and (
                    len(self._frames) > self.kept or sum(map(len, self._frames.values())) > self.max_rows
                ):
                    self._frames.popitem(last=False)
                    evicted = True
            _out_of_collector_sight(evicted)
        return frame


def _out_of_collector_sight(evicted: bool) -> None:
    """Move what the process holds now, the frame just decoded included, out of the cyclic garbage collector's
    sight (``gc.freeze``): a decoded version is hundreds of thousands of lists and dicts that live long and hold
    no cycles, and each full collection would walk them again (100k multi-turn conversations: ~0.3 s CPU each
    time, two of them in a page's first draw and more during edits). Frames are still freed, by reference count,
    when the cache drops them; when it has dropped one, everything frozen before is handed back and collected
    first (``gc.unfreeze``, one full collection), so a cycle frozen with it is not kept for the life of the
    process."""
    if evicted:
        gc.unfreeze()
        gc.collect()
    gc.freeze()
