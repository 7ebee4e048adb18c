"""Load any supported file into the canonical frame.

Containers: JSONL, JSON (array, or an object holding one), CSV/TSV (delimiter sniffed among ``, ; tab |``),
Parquet and Excel (.xlsx, first non-empty sheet), read by :mod:`studio.data.readers`. Record schemas are in
:mod:`studio.data.formats`. Text files are decoded as UTF-8, UTF-8 with BOM, UTF-16 (with or without BOM), UTF-32
with BOM or, failing those, the legacy code page ``charset-normalizer`` finds (:mod:`studio.data.encodings`); the
encoding used and the confidence of the guess are reported, and a low-confidence guess warns. ``encoding=`` forces
one. A UTF-8 file with some Windows-1252 lines (two exports concatenated) is decoded line by line, with a warning
naming those lines.

A file is refused before it is parsed when loading it whole would need more memory than is free
(:func:`~studio.data.memory.check_whole_load`, :class:`~studio.errors.ResourceError`).

A malformed line or row raises :class:`~studio.errors.LoadError` naming the file, the line/row and the field.
In lenient mode it is returned in ``LoadResult.rejects`` instead, so nothing is dropped silently:
rows in = ``len(frame) + len(rejects)``.
"""

from __future__ import annotations

import codecs
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from studio.data import readers
from studio.data.containers import Container, detect_container
from studio.data.encodings import LOW_CONFIDENCE, EncodingGuess, decode_text, guess_encoding
from studio.data.formats import (
    ColumnMapping,
    RecordError,
    Schema,
    detect_schema,
    guess_mapping,
    loose_mapping,
    record_to_example,
    schema_keys,
)
from studio.data.frame import TEXT_FIELDS, build_frame
from studio.data.memory import check_whole_load
from studio.data.readers import Records, Reject
from studio.errors import FormatError, LoadError


@dataclass(frozen=True)
class LoadResult:
    """A loaded dataset: the canonical ``frame`` (:mod:`studio.data.frame`), how the file was read (``container``,
    ``schema``, ``encoding``, CSV ``delimiter``, QA ``mapping``), the set-aside ``rejects``, ``warnings`` and the
    source ``columns``."""

    frame: pd.DataFrame
    path: str
    container: Container
    schema: Schema
    encoding: str | None
    delimiter: str | None = None
    mapping: ColumnMapping | None = None
    rejects: tuple[Reject, ...] = ()
    warnings: tuple[str, ...] = ()
    columns: tuple[str, ...] = ()
    encoding_confidence: float | None = None  # 1.0 for Unicode; a code-page guess scores lower; None: binary
    unit: str = "line"  # what ``source_row`` counts: "line" (JSONL, CSV), "item" (JSON array), "row" (sheet, Parquet)

    @property
    def format(self) -> str:
        """``container/schema``, e.g. ``jsonl/chat`` or ``csv/qa``."""
        return f"{self.container}/{self.schema}"

    @property
    def source_rows(self) -> int:
        """Examples plus rejects: every line/row/item of the source that held a record."""
        return len(self.frame) + len(self.rejects)

    def rejects_frame(self) -> pd.DataFrame:
        """The set-aside lines/rows as a table (row, message, raw) for the user to review."""
        return pd.DataFrame([r.__dict__ for r in self.rejects], columns=["row", "message", "raw"])


@dataclass(frozen=True)
class Source:
    """A file read as far as its records: what :func:`load_dataset` maps to examples."""

    name: str
    parsed: Records
    container: Container
    encoding: str | None  # None for Parquet/Excel; "utf-8+cp1252" for a mixed file
    delimiter: str | None  # CSV/TSV only
    warnings: list[str]
    columns: list[str]  # the header, or the keys of the first 200 records
    encoding_confidence: float | None = None


def read_source(
    name: str,
    data: bytes | None = None,
    *,
    lenient: bool = False,
    encoding: str | None = None,
    flagged: bool = False,
) -> Source:
    """Read ``name`` (or the uploaded ``data`` under that name) as far as its records; the file is never modified.

    ``encoding`` (a Python codec name such as ``cp1251``) forces the text encoding instead of detecting it.
    ``flagged``: the caller runs the grid's quality rules on the records next, which the memory check counts.

    Raises :class:`~studio.errors.ResourceError` before reading a file too large for the free memory
    (:func:`~studio.data.memory.check_whole_load`), :class:`~studio.errors.LoadError` for a missing, empty or
    unreadable file and :class:`~studio.errors.FormatError` for a container that is not a dataset (ZIP, gzip, .xls,
    image).
    """
    if data is None:
        try:
            check_whole_load(name, flagged=flagged)
            data = Path(name).read_bytes()
        except FileNotFoundError:
            raise LoadError("no such file", path=name) from None
        except IsADirectoryError:
            raise LoadError("is a folder, not a file", path=name) from None
    else:
        check_whole_load(name, data, flagged=flagged)
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise LoadError("the file is empty", path=name)
    container = detect_container(name, data)
    forced = encoding
    encoding = None
    confidence: float | None = None
    delimiter: str | None = None
    warnings: list[str] = []
    text_encoding = "utf-8"
    if container in ("jsonl", "json", "csv"):
        guess = EncodingGuess(_codec(forced, name)) if forced else guess_encoding(data)
        text_encoding, confidence = guess.name, guess.confidence
        encoding = text_encoding
    if container in ("jsonl", "json"):
        reader = readers.read_jsonl if container == "jsonl" else readers.read_json
        parsed = reader(data, text_encoding, name, lenient)
        container = "jsonl" if parsed.unit == "line" else "json"
    elif container == "csv":
        text, warnings = decode_text(data, text_encoding, name)
        text = text.removeprefix("\ufeff")
        delimiter = readers.sniff_delimiter(text, Path(name).suffix.lower())
        parsed = readers.read_csv(text, delimiter, name, lenient)
    elif container == "parquet":
        parsed = readers.read_parquet(data, name)
    else:
        parsed = readers.read_excel(data, name)
    warnings += parsed.warnings
    if encoding == "mixed":
        encoding = "utf-8+cp1252"
    elif encoding and forced:
        warnings.append(f"decoded as {encoding} (as asked)")
    elif encoding and confidence is not None and not encoding.startswith("utf"):
        warnings.append(_encoding_warning(encoding, confidence))
    elif encoding and encoding not in ("utf-8", "utf-8-sig"):
        warnings.append(f"decoded as {encoding}")
    return Source(
        name=name,
        parsed=parsed,
        container=container,
        encoding=encoding,
        delimiter=delimiter,
        warnings=warnings,
        columns=parsed.columns or sample_keys(parsed.records),
        encoding_confidence=confidence,
    )


def _codec(encoding: str, name: str) -> str:
    """A forced encoding's Python codec name; an unknown one is a :class:`~studio.errors.LoadError`."""
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise LoadError(
            f"unknown encoding {encoding!r} (try utf-8, cp1252, cp1251, gbk, shift_jis)", path=name
        ) from None


def _encoding_warning(encoding: str, confidence: float) -> str:
    if confidence < LOW_CONFIDENCE:
        return (
            f"ENCODING UNCERTAIN: guessed {encoding} with low confidence ({confidence:.0%}); check the text and "
            "choose the encoding if it looks wrong"
        )
    return f"decoded as {encoding} (detected, confidence {confidence:.0%})"


def source_columns(source: str | Path, *, data: bytes | None = None) -> list[str]:
    """The column (or top-level key) names of a file, for the column-mapping dialog."""
    return list(read_source(str(source), data, lenient=True).columns)


def load_dataset(
    source: str | Path,
    *,
    data: bytes | None = None,
    schema: Schema | None = None,
    mapping: ColumnMapping | None = None,
    strip_legacy: bool = False,
    lenient: bool = False,
    encoding: str | None = None,
    flagged: bool = False,
) -> LoadResult:
    """Read ``source`` (a path, or a name when ``data`` holds the uploaded bytes) into the canonical frame.

    ``schema`` overrides detection; ``mapping`` names the question/answer/system columns of a table; ``encoding``
    forces the text encoding. A table whose only text columns are a prompt-like one and one other loads as
    ``qa`` with a warning naming the mapping (:func:`~studio.data.formats.loose_mapping`).
    The file is only read, never modified.

    A file whose load would not fit in the free memory is refused before it is parsed (``flagged``: the caller
    runs the grid's quality rules on the frame next, as the Dataset page's import does, and the estimate counts
    them): :class:`~studio.errors.ResourceError`, see :func:`~studio.data.memory.check_whole_load`.
    """
    name = str(source)
    read = read_source(name, data, lenient=lenient, encoding=encoding, flagged=flagged)
    parsed, keys = read.parsed, read.columns
    if mapping is not None and schema is None:
        schema = "qa"
    if schema is None and not parsed.records:
        if parsed.rejects:  # lenient, and nothing could be read: say why rather than "cannot tell the format"
            first = parsed.rejects[0]
            raise LoadError(
                f"{first.message}; none of its {len(parsed.rejects)} {parsed.unit}s could be read",
                path=name,
                line=first.row,
                unit=parsed.unit,
            )
        if not keys:
            raise FormatError("has no records to load", path=name)
    if schema is None:
        schema = detect_schema(keys)
        if schema is None and (mapping := loose_mapping(keys, parsed.records)) is not None:
            schema = "qa"
            read.warnings.append(
                f"no answer column by name: read {mapping.user!r} as the user turn and {mapping.assistant!r} as "
                "the assistant turn (choose the columns if that is wrong)"
            )
        if schema is None:
            raise FormatError(
                f"cannot tell the format from its keys {sorted(keys)[:12]}; choose a format or map the "
                "question/answer columns",
                path=name,
            )
    if schema == "qa" and mapping is None:
        mapping = guess_mapping(keys) or loose_mapping(keys, parsed.records)
        if mapping is None:
            raise FormatError(f"no question/answer columns among {sorted(keys)[:12]}", path=name)
    return _build(read, schema, mapping, strip_legacy=strip_legacy, lenient=lenient)


SAMPLE_RECORDS = 200
"""The format of a file is told from the keys of its first 200 records."""


def sample_keys(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """The keys of the first :data:`SAMPLE_RECORDS` records, in order of first appearance: what
    :func:`~studio.data.formats.detect_schema` and :func:`~studio.data.formats.guess_mapping` read."""
    keys: dict[str, None] = {}
    for record in records[:SAMPLE_RECORDS]:
        keys.update(dict.fromkeys(record))
    return list(keys)


def _build(
    read: Source, schema: Schema, mapping: ColumnMapping | None, *, strip_legacy: bool, lenient: bool
) -> LoadResult:
    """The records of ``read`` as examples; a record that does not fit ``schema`` is a reject (lenient) or raises."""
    frame, counts = source_frame(read, schema, mapping, strip_legacy=strip_legacy, lenient=lenient)
    parsed = read.parsed
    return LoadResult(
        frame=frame,
        path=read.name,
        container=read.container,
        schema=schema,
        encoding=read.encoding,
        delimiter=read.delimiter,
        mapping=mapping,
        rejects=tuple(parsed.rejects),
        warnings=tuple(load_warnings(read.warnings, [counts], parsed.unit)),
        columns=tuple(read.columns),
        encoding_confidence=read.encoding_confidence,
        unit=parsed.unit,
    )


@dataclass(frozen=True)
class LoadCounts:
    """What the load warnings count in one part of a file: keys ``mapped`` rather than copied, metadata keys
    ``kept`` (rows holding a value), both in order of first appearance, and records set aside."""

    mapped: Mapping[str, int]
    kept: Mapping[str, int]
    rejects: int = 0
    metadata: bool = False


def source_frame(
    read: Source, schema: Schema, mapping: ColumnMapping | None, *, strip_legacy: bool, lenient: bool
) -> tuple[pd.DataFrame, LoadCounts]:
    """The canonical frame of the records of ``read`` as ``schema`` (ids from 0), and what its load warnings
    count (:func:`load_warnings` says them). A record that does not fit is set aside (``lenient``, in
    ``read.parsed.rejects``) or raises :class:`~studio.errors.LoadError` naming its line/row and field."""
    parsed, name = read.parsed, read.name
    consumed = set(schema_keys(schema, mapping))
    examples, rows, metadata = [], [], []
    mapped: Counter[str] = Counter()  # what was mapped rather than copied, in how many rows
    notes: Counter[str] = Counter()  # of one record (emptied after each)
    none: dict[str, Any] = {}  # the metadata of a record with no other key (shared, never changed)
    for record, row in zip(parsed.records, parsed.rows, strict=True):
        try:
            example = record_to_example(record, schema, mapping=mapping, strip_legacy=strip_legacy, notes=notes)
        except RecordError as exc:
            parsed.reject(row, str(exc), json.dumps(record, ensure_ascii=False, default=str), name, lenient, exc.field)
            notes.clear()
            continue
        examples.append(example)
        rows.append(row)
        metadata.append(none if record.keys() <= consumed else {k: v for k, v in record.items() if k not in consumed})
        if notes:
            mapped.update(notes.keys())
            notes.clear()
    meta = _metadata_frame(metadata) if any(metadata) else None
    frame = build_frame(examples, rows, meta)
    kept = {str(key): int(n) for key, n in meta.notna().sum().items()} if meta is not None else {}
    return frame, LoadCounts(dict(mapped), kept, len(parsed.rejects), meta is not None)


def load_warnings(read_warnings: Sequence[str], parts: Sequence[LoadCounts], unit: str) -> list[str]:
    """The load warnings of a file read in ``parts`` (one for a whole file): the reader's, then what was mapped,
    kept as metadata and set aside, counted over every part."""
    mapped: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    for part in parts:
        mapped.update(part.mapped)
        kept.update(part.kept)
    warnings = list(read_warnings) + [f"{note} in {_rows(n, unit)}" for note, n in mapped.items()]
    if any(part.metadata for part in parts):
        named = [(key, n) for key, n in kept.items() if n]
        warnings += [f"key {key!r} kept as metadata in {_rows(n, unit)}" for key, n in named[:_NAMED_KEYS]]
        if len(named) > _NAMED_KEYS:  # a wide table: name the first ones, count the rest
            warnings.append(f"{len(named) - _NAMED_KEYS:,} more keys kept as metadata")
    rejects = sum(part.rejects for part in parts)
    if rejects:
        warnings.append(f"{rejects} {unit}s could not be read and were set aside")
    return warnings


_NAMED_KEYS = 20  # metadata keys named one by one in the load warnings


def _rows(count: int, unit: str) -> str:
    return f"{count} {unit if count == 1 else unit + 's'}"


def _metadata_frame(metadata: list[dict[str, Any]]) -> pd.DataFrame:
    """Metadata rows as a frame; columns holding only text (or None) in every row become pyarrow strings.

    Built column by column from Python lists: per-column pandas calls took seconds on 10,000 columns.
    """
    import pyarrow as pa

    names = list(dict.fromkeys(key for row in metadata for key in row))
    missing = float("nan")  # what pd.DataFrame(list_of_dicts) puts where a row lacks a key
    text, other = {}, {}
    for name in names:
        values = [row.get(name, missing) for row in metadata]
        if all(v is None or isinstance(v, str) for v in values):
            text[name] = pa.array(values, pa.string())
        else:
            other[name] = values
    parts = [pd.DataFrame(other)] if other else []
    if text:
        parts.append(pa.table(text).to_pandas(types_mapper={pa.string(): pd.StringDtype("pyarrow")}.get))
    if not parts:
        return pd.DataFrame(index=range(len(metadata)))
    return parts[0] if len(parts) == 1 else pd.concat(parts, axis=1)[names]


def inspect_dataset(
    path: str | Path,
    *,
    schema: Schema | None = None,
    lenient: bool = False,
    mapping: ColumnMapping | None = None,
    encoding: str | None = None,
) -> dict[str, Any]:
    """What ``studio inspect`` prints: format, encoding (and its confidence), row count, columns, mapping,
    3 samples, warnings."""
    result = load_dataset(path, schema=schema, lenient=lenient, mapping=mapping, encoding=encoding)
    sample = result.frame.head(3)
    return {
        "path": str(path),
        "format": result.format,
        "container": result.container,
        "schema": result.schema,
        "encoding": result.encoding,
        "encoding_confidence": result.encoding_confidence,
        "delimiter": result.delimiter,
        "rows": len(result.frame),
        "rejected": len(result.rejects),
        "columns": list(result.columns),
        "mapping": None if result.mapping is None else result.mapping.__dict__,
        "samples": [
            {f: (None if pd.isna(v) else v) for f, v in zip(TEXT_FIELDS, (r.system, r.user, r.assistant), strict=True)}
            for r in sample.itertuples()
        ],
        "warnings": list(result.warnings) + [f"{r.row}: {r.message}" for r in result.rejects[:20]],
    }


# ---------------------------------------------------------------------------------------------- export
