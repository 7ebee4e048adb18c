"""Reading a large UTF-8 JSONL file in parts, each on its own (in any process), exactly as
:func:`studio.data.loader.load_dataset` reads the whole file: :func:`plan_parts` cuts it at line ends,
:func:`load_part` loads one part, :func:`line_spans` / :func:`load_lines` read chosen lines again.
"""

from __future__ import annotations

import codecs
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from studio.data import readers
from studio.data.containers import detect_container
from studio.data.encodings import SNIFF_BYTES, guess_encoding
from studio.data.formats import ColumnMapping, Schema, detect_schema, guess_mapping
from studio.data.loader import SAMPLE_RECORDS, LoadCounts, Source, sample_keys, source_frame
from studio.errors import LoadError


class NotStreamable(Exception):
    """The file cannot be read in parts exactly as :func:`load_dataset` reads it whole (not UTF-8 JSONL, CR line
    ends, an unclear format, a bad line near the start): read it whole instead."""


@dataclass(frozen=True)
class FilePart:
    """Bytes ``start:stop`` of a JSONL file (whole lines; ``first_line`` is the number of the first), read as
    ``schema`` (with ``mapping``) in ``encoding`` (``utf-8`` or ``utf-8-sig``)."""

    path: str
    start: int
    stop: int
    first_line: int
    schema: Schema
    mapping: ColumnMapping | None
    encoding: str


_HEAD_BYTES = 64 * 2**20


def _head(handle: BinaryIO) -> bytes:
    """The first lines of a file: its first 200 records and at least the bytes an encoding is sniffed from;
    :class:`NotStreamable` when they are longer than ``_HEAD_BYTES``."""
    lines: list[bytes] = []
    read = records = 0
    while records < SAMPLE_RECORDS or read < SNIFF_BYTES:
        line = handle.readline()
        if not line:
            break
        lines.append(line)
        read += len(line)
        records += bool(line.strip())
        if read > _HEAD_BYTES:
            raise NotStreamable(handle.name)
    return b"".join(lines)


def plan_parts(
    source: str | Path, *, part_bytes: int, schema: Schema | None = None, mapping: ColumnMapping | None = None
) -> list[FilePart]:
    """A UTF-8 JSONL file cut into parts of about ``part_bytes`` at line ends, with the schema and mapping
    :func:`load_dataset` would choose; :func:`load_part` reads each on its own (in any process), and the parts'
    frames in order are the whole load's, ids counted from 0 in each. Reads the file once (counting lines).

    Raises :class:`NotStreamable` where the whole load might read it differently, and
    :class:`~studio.errors.LoadError` for a missing file."""
    name = str(source)
    try:
        with open(name, "rb") as handle:
            size = handle.seek(0, 2)
            handle.seek(0)
            head = _head(handle)
    except FileNotFoundError:
        raise LoadError("no such file", path=name) from None
    except IsADirectoryError:
        raise LoadError("is a folder, not a file", path=name) from None
    if not head.removeprefix(codecs.BOM_UTF8).strip() or detect_container(name, head) != "jsonl":
        raise NotStreamable(name)
    encoding = guess_encoding(head).name
    if encoding not in ("utf-8", "utf-8-sig") or b"\r" in head:
        raise NotStreamable(name)
    sample = readers.read_jsonl(head, encoding, name, True)
    if sample.rejects:
        raise NotStreamable(name)
    if mapping is not None and schema is None:
        schema = "qa"
    if schema is None:
        schema = detect_schema(sample_keys(sample.records))
    if schema is None:
        raise NotStreamable(name)
    if schema == "qa" and mapping is None:
        mapping = guess_mapping(sample_keys(sample.records))
        if mapping is None:
            raise NotStreamable(name)
    parts = []
    buffer = bytearray(min(part_bytes, _COUNT_BYTES))  # one buffer for the whole count: no fresh memory per part
    with open(name, "rb") as handle:
        start, line = 0, 1
        while start < size:
            stop = min(start + part_bytes, size)
            if stop < size:  # the part ends after the first line end at or past part_bytes
                handle.seek(stop)
                stop += len(handle.readline())
            parts.append(FilePart(name, start, stop, line, schema, mapping, encoding))
            line += _line_ends(handle, start, stop, buffer)
            start = stop
    return parts


_COUNT_BYTES = 8 * 2**20  # bytes read at a time to count line ends


def _line_ends(handle: io.BufferedReader, start: int, stop: int, buffer: bytearray) -> int:
    """How many ``\\n`` bytes ``start:stop`` of the file holds, read through ``buffer``."""
    handle.seek(start)
    count, left = 0, stop - start
    view = memoryview(buffer)
    while left > 0:
        got = handle.readinto(view[: min(left, len(buffer))])
        if not got:
            break
        count += buffer.count(b"\n", 0, got)
        left -= got
    return count


def load_part(part: FilePart) -> tuple[pd.DataFrame, LoadCounts]:
    """The canonical frame of ``part`` (ids from 0, ``source_row`` the file's line numbers) and what its load
    warnings count (:func:`load_warnings` joins them). A malformed line raises
    :class:`~studio.errors.LoadError` naming the file and line; :class:`NotStreamable` when the part is not UTF-8
    or has CR line ends (the whole load decodes such files differently)."""
    with open(part.path, "rb") as handle:
        handle.seek(part.start)
        data = handle.read(part.stop - part.start)
    if b"\r" in data:
        raise NotStreamable(part.path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        raise NotStreamable(part.path) from None
    parsed = readers.read_jsonl(data, part.encoding, part.path, False, first_line=part.first_line)
    read = Source(part.path, parsed, "jsonl", part.encoding, None, [], [])
    return source_frame(read, part.schema, part.mapping, strip_legacy=False, lenient=False)


def line_spans(part: FilePart, lines: np.ndarray) -> np.ndarray:
    """Byte ``(start, stop)`` in the file of each of these line numbers of ``part`` (stop excludes the line
    end), shape (n, 2) int64: where :func:`load_lines` finds them again."""
    with open(part.path, "rb") as handle:
        handle.seek(part.start)
        data = handle.read(part.stop - part.start)
    ends = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n"))
    ends = np.r_[ends, len(data)] if not len(ends) or ends[-1] != len(data) - 1 else ends
    starts = np.r_[0, ends[:-1] + 1]
    local = np.asarray(lines, dtype=np.int64) - part.first_line
    return np.column_stack([starts[local], ends[local]]).astype(np.int64) + part.start


def load_lines(part: FilePart, spans: np.ndarray) -> pd.DataFrame:
    """The frame of the lines of ``part``'s file at byte ``spans`` (from :func:`line_spans`; lines already read
    once, so they load), read as ``part`` reads them; ids from 0 in the order of ``spans``."""
    with open(part.path, "rb") as handle:
        lines = [os.pread(handle.fileno(), int(stop - start), int(start)) for start, stop in spans]
    parsed = readers.read_jsonl(b"\n".join(lines), part.encoding, part.path, False)
    read = Source(part.path, parsed, "jsonl", part.encoding, None, [], [])
    return source_frame(read, part.schema, part.mapping, strip_legacy=False, lenient=False)[0]
