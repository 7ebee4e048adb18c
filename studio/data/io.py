"""Load any supported file into the canonical frame, and export the frame to the formats fine-tuners use.

Containers: JSONL, JSON (array, or an object holding one), CSV/TSV (delimiter sniffed among ``, ; tab |``),
Parquet and Excel (.xlsx, first non-empty sheet). Record schemas are in :mod:`studio.data.formats`. Text files are
decoded as UTF-8, UTF-8 with BOM, UTF-16 (with or without BOM), UTF-32 with BOM or, failing those, Windows-1252 /
Latin-1; the encoding used is reported. A UTF-8 file with some Windows-1252 lines (two exports concatenated) is
decoded line by line, with a warning naming those lines.

Hostile input (see tests/hostile/README.md): a lone surrogate ``\ud83d`` escape or NaN makes a line invalid JSON,
and so does nesting deeper than :data:`~studio.data.formats.MAX_DEPTH` levels; duplicate keys keep the last value; a BOM
at the start of any JSONL line is ignored; a CSV with NULs in its header or dense in its first 4 KB is refused as
binary.

A malformed line or row raises :class:`~studio.errors.LoadError` naming the file, the line/row and the field.
In lenient mode it is returned in ``LoadResult.rejects`` instead, so nothing is dropped silently:
rows in = ``len(frame) + len(rejects)``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
import pandas as pd

from studio.data.frame import TEXT_FIELDS, build_frame, iter_examples, metadata_columns
from studio.errors import ExportError, FormatError, LoadError
from studio.data.formats import (
    MAX_DEPTH,
    ColumnMapping,
    RecordError,
    Schema,
    deeper_than,
    detect_schema,
    example_to_record,
    guess_mapping,
    may_be_deep,
    record_to_example,
    schema_keys,
)

Container = Literal["jsonl", "json", "csv", "parquet", "xlsx"]
ExportFormat = Literal["openai-chat", "prompt-completion", "alpaca", "sharegpt", "csv", "parquet"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = get_args(ExportFormat)
EXPORT_SUFFIX = {
    "openai-chat": ".jsonl",
    "prompt-completion": ".jsonl",
    "alpaca": ".json",
    "sharegpt": ".json",
    "csv": ".csv",
    "parquet": ".parquet",
}

_SUFFIXES: dict[str, Container] = {
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "json",
    ".csv": "csv",
    ".tsv": "csv",
    ".tab": "csv",
    ".txt": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
}
_DELIMITERS = (",", ";", "\t", "|")
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_MAX_FIELD = 256 * 1024 * 1024  # csv's default 128 KB limit would reject long answers


@dataclass(frozen=True)
class Reject:
    """A source line/row that could not become an example (lenient mode)."""

    row: int
    message: str
    raw: str = ""


@dataclass(frozen=True)
class LoadResult:
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

    @property
    def format(self) -> str:
        """``container/schema``, e.g. ``jsonl/chat`` or ``csv/qa``."""
        return f"{self.container}/{self.schema}"

    @property
    def source_rows(self) -> int:
        return len(self.frame) + len(self.rejects)

    def rejects_frame(self) -> pd.DataFrame:
        """The set-aside lines/rows as a table (row, message, raw) for the user to review."""
        return pd.DataFrame([r.__dict__ for r in self.rejects], columns=["row", "message", "raw"])


# ---------------------------------------------------------------------------------------------- encodings


def detect_encoding(data: bytes) -> str:
    """The encoding of a text file: BOMs first, then UTF-16 without BOM, UTF-8, then cp1252 or latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    sample = data[:4096]
    if len(sample) >= 4:
        even_nuls = sample[0::2].count(0) / len(sample[0::2])
        odd_nuls = sample[1::2].count(0) / len(sample[1::2])
        if odd_nuls > 0.3 and even_nuls < 0.05:
            return "utf-16-le"
        if even_nuls > 0.3 and odd_nuls < 0.05:
            return "utf-16-be"
        # Mostly-CJK text has few NUL bytes, but JSON and CSV headers start with an ASCII character.
        if 0x09 <= sample[0] < 0x7F and sample[1] == 0 and _decodes(sample, "utf-16-le"):
            return "utf-16-le"
        if sample[0] == 0 and 0x09 <= sample[1] < 0x7F and _decodes(sample, "utf-16-be"):
            return "utf-16-be"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"


def _decodes(sample: bytes, encoding: str) -> bool:
    try:
        text = sample[: len(sample) // 2 * 2].decode(encoding)
    except UnicodeDecodeError as exc:
        # The sample may end inside a surrogate pair.
        text = sample[: exc.start].decode(encoding) if exc.start >= len(sample) - 4 else ""
    return bool(text) and "\x00" not in text


def _is_mixed_utf8(data: bytes) -> bool:
    """Not UTF-8 as a whole, but some non-ASCII lines are: UTF-8 and a legacy encoding concatenated."""
    utf8 = legacy = False
    for line in data.split(b"\n"):
        if line.isascii():
            continue
        try:
            line.decode("utf-8")
            utf8 = True
        except UnicodeDecodeError:
            legacy = True
        if utf8 and legacy:
            return True
    return False


def _decode_mixed(data: bytes) -> tuple[str, list[int]]:
    """Each line as UTF-8, else cp1252 (latin-1 for its 5 undefined bytes); the lines (1-based) not in UTF-8."""
    parts, legacy = [], []
    for number, line in enumerate(data.split(b"\n"), 1):
        try:
            parts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            legacy.append(number)
            try:
                parts.append(line.decode("cp1252"))
            except UnicodeDecodeError:
                parts.append(line.decode("latin-1"))
    return "\n".join(parts), legacy


def _mixed_warning(lines: list[int]) -> str:
    shown = ", ".join(map(str, lines[:10])) + (f" and {len(lines) - 10} more" if len(lines) > 10 else "")
    return f"mixed encodings: line{'s' if len(lines) > 1 else ''} {shown} decoded as cp1252, the rest as UTF-8"


def _decode(data: bytes, encoding: str, path: str) -> str:
    if encoding.startswith("utf-16") and len(data) % 2:
        data = data[:-1]  # a truncated download: the last line is then reported as cut, not the whole file
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LoadError(f"cannot be decoded as {encoding} ({exc.reason})", path=path, line=line) from None


def _line_of(data: bytes | str, offset: int) -> int:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data[:offset].count(newline) + 1  # type: ignore[arg-type]


_NEWLINE = re.compile(r"\r\n|\r|\n")


def _split_lines(text: str) -> list[str]:
    """Lines split at CR, LF and CRLF only: unlike ``str.splitlines``, never inside a JSON string holding a raw
    U+2028, U+0085 or form feed."""
    lines = _NEWLINE.split(text)
    return lines[:-1] if lines and not lines[-1] else lines


# ---------------------------------------------------------------------------------------------- records


@dataclass
class _Records:
    """Source records with their 1-based line/row numbers, plus what could not be parsed at all."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unit: str = "line"
    columns: list[str] = field(default_factory=list)  # a table's header, known even when it has no rows
    warnings: list[str] = field(default_factory=list)


def _json_error(exc: json.JSONDecodeError) -> str:
    message = exc.msg.split(": line ")[0]
    if "surrogate" in message:  # orjson: "no low surrogate in string", "invalid high surrogate in string"
        message = "lone surrogate in a \\u escape; an emoji cut in half?"
    return f"not valid JSON ({message} at column {exc.colno})"


def _read_jsonl(data: bytes, encoding: str, path: str, lenient: bool) -> _Records:
    out = _Records()
    lines: Iterator[bytes | str]
    if encoding in ("utf-8", "utf-8-sig"):
        lines = iter(data.splitlines())
    elif encoding == "mixed":
        text, legacy = _decode_mixed(data)
        lines = iter(_split_lines(text))
        out.warnings.append(_mixed_warning(legacy))
    else:
        lines = iter(_split_lines(_decode(data, encoding, path)))
    for number, line in enumerate(lines, 1):
        # A BOM can start any line of files that were concatenated (cat a.jsonl b.jsonl).
        line = line.removeprefix(codecs.BOM_UTF8) if isinstance(line, bytes) else line.removeprefix("\ufeff")
        if not line.strip():
            continue
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            error = _json_error(exc)
            if isinstance(line, bytes):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as bad:
                    error = f"not valid UTF-8 (byte {bad.start + 1})"
            _reject(out, number, error, line, path, lenient)
            continue
        if not isinstance(record, dict):
            _reject(out, number, f"expected a JSON object, got {_json_type(record)}", line, path, lenient)
            continue
        if may_be_deep(line) and deeper_than(record):
            _reject(out, number, f"nested deeper than {MAX_DEPTH} levels", line, path, lenient)
            continue
        out.records.append(record)
        out.rows.append(number)
    return out


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null"
    )


def _reject(out: _Records, row: int, message: str, raw: Any, path: str, lenient: bool, field_: str | None = None):
    if not lenient:
        raise LoadError(message, path=path, line=row, field=field_, unit=out.unit)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    out.rejects.append(Reject(row=row, message=message if not field_ else f"{field_}: {message}", raw=text[:500]))


def _read_json(data: bytes, encoding: str, path: str, lenient: bool) -> _Records:
    warnings: list[str] = []
    text = data
    if encoding not in ("utf-8", "utf-8-sig"):
        decoded, warnings = _text(data, encoding, path)
        text = decoded.encode("utf-8")
    text = text.removeprefix(codecs.BOM_UTF8)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # A .json file holding one object per line is JSONL with the wrong suffix.
        if exc.msg.startswith(("trailing characters", "unexpected content after document")) and text.lstrip().startswith(b"{"):
            out = _read_jsonl(text, "utf-8", path, lenient)
            out.warnings += warnings
            return out
        raise LoadError(_json_error(exc), path=path, line=exc.lineno) from None
    if isinstance(value, dict):
        lists = [key for key, item in value.items() if isinstance(item, list) and item and isinstance(item[0], dict)]
        if "messages" in value or "conversations" in value or not lists:
            value = [value]
        else:
            value = value[lists[0]]
    if not isinstance(value, list):
        raise LoadError(f"expected an array of objects, got {_json_type(value)}", path=path, line=1)
    out = _Records(unit="item", warnings=warnings)
    deep = may_be_deep(text)
    for number, record in enumerate(value, 1):
        if deep and deeper_than(record):
            _reject(out, number, f"nested deeper than {MAX_DEPTH} levels", "", path, lenient)
        elif isinstance(record, dict):
            out.records.append(record)
            out.rows.append(number)
        else:
            _reject(out, number, f"expected a JSON object, got {_json_type(record)}", json.dumps(record), path, lenient)
    return out


def _sniff_delimiter(text: str, suffix: str) -> str:
    if suffix in (".tsv", ".tab"):
        return "\t"
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in _DELIMITERS}
    best = max(counts, key=counts.get)  # type: ignore[arg-type]
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff(text[:65536], delimiters="".join(_DELIMITERS)).delimiter
        except csv.Error:
            return ","
    return best


def _text(data: bytes, encoding: str, path: str) -> tuple[str, list[str]]:
    """The decoded text and its warnings (``encoding="mixed"``: UTF-8 with some cp1252 lines)."""
    if encoding != "mixed":
        return _decode(data, encoding, path), []
    text, legacy = _decode_mixed(data)
    return text, [_mixed_warning(legacy)]


def _unique_names(header: list[str]) -> tuple[list[str], list[str]]:
    """Repeated column names renamed ``name.1``, ``name.2`` (as pandas does) so no column is lost; warnings."""
    seen: dict[str, int] = {}
    out, renamed = [], []
    for name in header:
        if name in seen:
            seen[name] += 1
            new = f"{name}.{seen[name]}"
            while new in seen:
                seen[name] += 1
                new = f"{name}.{seen[name]}"
            renamed.append(f"{name!r} → {new!r}")
            name = new
        seen.setdefault(name, 0)
        out.append(name)
    warnings = [f"repeated column names renamed: {', '.join(renamed[:5])}"] if renamed else []
    return out, warnings


def _read_csv(text: str, delimiter: str, path: str, lenient: bool) -> tuple[_Records, list[str], list[str]]:
    csv.field_size_limit(_MAX_FIELD)
    out = _Records()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    # NULs in the header or dense in the first 4 KB mean a binary file; a stray one in a cell is kept, as the JSONL
    # reader keeps an escaped \u0000 (and the CSV exporter writes it back).
    sample = text[:4096]
    nul = sample.find("\x00")
    header_end = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=len(text))
    if nul >= 0 and (nul < header_end or sample.count("\x00") * 10 > len(sample)):
        raise LoadError("contains NUL bytes; is this a binary file or a different encoding?", path=path,
                        line=_line_of(text, nul))
    try:
        header = next(reader)
    except StopIteration:
        raise LoadError("the file is empty", path=path) from None
    except csv.Error as exc:
        raise LoadError(f"malformed CSV header ({exc})", path=path, line=1) from None
    header, warnings = _unique_names([h.strip() for h in header])
    drop_index = bool(header) and header[0] in ("", "Unnamed: 0", "index")
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise LoadError(f"malformed CSV ({exc}); check for an unclosed quote", path=path, line=start) from None
        line, start = start, reader.line_num + 1
        if not cells or (len(cells) == 1 and not cells[0].strip()):
            continue
        if len(cells) != len(header):
            _reject(out, line, f"expected {len(header)} fields, saw {len(cells)}", delimiter.join(cells), path, lenient)
            continue
        out.records.append(dict(zip(header, cells)))
        out.rows.append(line)
    if drop_index:
        index_column = header[0]
        values = [r.get(index_column, "") for r in out.records]
        if all(v.strip().lstrip("-").isdigit() for v in values):
            for record in out.records:
                record.pop(index_column, None)
            header = header[1:]
            warnings.append("dropped an unnamed index column")
    return out, header, warnings


def _one_line(exc: BaseException) -> str:
    """A third-party exception as one short line (pyarrow and openpyxl messages can span lines)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def _read_parquet(data: bytes, path: str) -> _Records:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
        records = table.to_pylist()
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise LoadError(f"not a readable Parquet file ({_one_line(exc)})", path=path) from None
    for record in records:
        messages = record.get("messages")
        if isinstance(messages, list):
            record["messages"] = [
                {k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m for m in messages
            ]
    return _Records(records=records, rows=list(range(1, len(records) + 1)), unit="row",
                    columns=[str(c).strip() for c in table.column_names])


def _read_excel(data: bytes, path: str) -> _Records:
    """The first sheet with any content; its first non-blank row is the header, blank rows are skipped, and
    ``rows`` are the sheet's own row numbers."""
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        skipped = []
        for sheet in book.sheet_names:
            frame = pd.read_excel(book, sheet_name=sheet, header=None, dtype=str, keep_default_na=False)
            cells = [[str(v).strip() for v in row] for row in frame.itertuples(index=False)]
            filled = [i for i, row in enumerate(cells) if any(row)]
            if filled:
                break
            skipped.append(sheet)
        else:
            return _Records(unit="row")
    except Exception as exc:  # openpyxl/zipfile raise many types for a corrupt workbook
        raise LoadError(f"not a readable Excel workbook ({_one_line(exc)})", path=path) from None
    values = frame.to_numpy().tolist()
    head = filled[0]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(cells[head])]
    header, warnings = _unique_names(names)
    out = _Records(unit="row", columns=header, warnings=warnings)
    if skipped:
        out.warnings.append(f"read sheet {sheet!r}; {', '.join(map(repr, skipped))} "
                            f"{'is' if len(skipped) == 1 else 'are'} empty")
    for i in filled[1:]:
        out.records.append(dict(zip(header, values[i])))
        out.rows.append(i + 1)  # header=None: frame position i is sheet row i + 1
    return out


# ---------------------------------------------------------------------------------------------- load


def detect_container(name: str, data: bytes) -> Container:
    """The container a file uses, from its suffix, checked against its first bytes."""
    suffix = Path(name).suffix.lower()
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"PK\x03\x04"):
        if suffix in (".xlsx", ".xlsm") or _is_workbook(data):
            return "xlsx"
        raise FormatError("is a ZIP archive, not a dataset; unzip it first", path=name, line=1)
    if data.startswith(b"\x1f\x8b"):
        raise FormatError("is gzip-compressed; decompress it first (gunzip)", path=name, line=1)
    if data.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        raise FormatError("is an old Excel .xls (or another OLE2) file; save it as .xlsx or CSV", path=name, line=1)
    if data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8\xff") or data.startswith(b"%PDF"):
        raise FormatError("is a binary file (image or PDF), not a dataset", path=name, line=1)
    if suffix in _SUFFIXES:
        return _SUFFIXES[suffix]
    stripped = data.lstrip(codecs.BOM_UTF8 + b" \r\n\t")
    if stripped.startswith(b"["):
        return "json"
    if stripped.startswith(b"{"):
        return "jsonl"
    return "csv"


def _is_workbook(data: bytes) -> bool:
    """An Excel workbook saved under another name (``report.csv`` that is really .xlsx)."""
    try:
        return "xl/workbook.xml" in zipfile.ZipFile(io.BytesIO(data)).namelist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False


def _parse(name: str, data: bytes | None, lenient: bool):
    """Read the container: records with their rows, plus container, encoding, delimiter, warnings, columns."""
    if data is None:
        try:
            data = Path(name).read_bytes()
        except FileNotFoundError:
            raise LoadError("no such file", path=name) from None
        except IsADirectoryError:
            raise LoadError("is a folder, not a file", path=name) from None
    if not data.removeprefix(codecs.BOM_UTF8).strip():
        raise LoadError("the file is empty", path=name)
    container = detect_container(name, data)
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = []
    columns: list[str] = []
    if container in ("jsonl", "json", "csv"):
        encoding = detect_encoding(data)
        if encoding in ("cp1252", "latin-1") and _is_mixed_utf8(data):
            encoding = "mixed"
    if container in ("jsonl", "json"):
        reader = _read_jsonl if container == "jsonl" else _read_json
        parsed = reader(data, encoding, name, lenient)
        container = "jsonl" if parsed.unit == "line" else "json"
    elif container == "csv":
        text, warnings = _text(data, encoding, name)
        text = text.removeprefix("\ufeff")
        delimiter = _sniff_delimiter(text, Path(name).suffix.lower())
        parsed, columns, csv_warnings = _read_csv(text, delimiter, name, lenient)
        warnings += csv_warnings
    elif container == "parquet":
        parsed = _read_parquet(data, name)
    else:
        parsed = _read_excel(data, name)
    warnings += parsed.warnings
    if encoding == "mixed":
        encoding = "utf-8+cp1252"
    elif encoding and encoding not in ("utf-8", "utf-8-sig"):
        warnings.append(f"decoded as {encoding}")

    return (parsed, container, encoding, delimiter, warnings,
            columns or parsed.columns or _sample_keys(parsed.records))


def source_columns(source: str | Path, *, data: bytes | None = None) -> list[str]:
    """The column (or top-level key) names of a file, for the column-mapping dialog."""
    return list(_parse(str(source), data, lenient=True)[5])


def load_dataset(
    source: str | Path,
    *,
    data: bytes | None = None,
    schema: Schema | None = None,
    mapping: ColumnMapping | None = None,
    strip_legacy: bool = False,
    lenient: bool = False,
) -> LoadResult:
    """Read ``source`` (a path, or a name when ``data`` holds the uploaded bytes) into the canonical frame.

    ``schema`` overrides detection; ``mapping`` names the question/answer/system columns of a table.
    The file is only read, never modified.
    """
    name = str(source)
    parsed, container, encoding, delimiter, warnings, keys = _parse(name, data, lenient)
    if mapping is not None and schema is None:
        schema = "qa"
    if schema is None and not parsed.records:
        if parsed.rejects:  # lenient, and nothing could be read: say why rather than "cannot tell the format"
            first = parsed.rejects[0]
            raise LoadError(f"{first.message}; none of its {len(parsed.rejects)} {parsed.unit}s could be read",
                            path=name, line=first.row, unit=parsed.unit)
        if not keys:
            raise FormatError("has no records to load", path=name)
    if schema is None:
        schema = detect_schema(keys)
        if schema is None:
            raise FormatError(
                f"cannot tell the format from its keys {sorted(keys)[:12]}; choose a format or map the "
                "question/answer columns",
                path=name,
            )
    if schema == "qa" and mapping is None:
        mapping = guess_mapping(keys)
        if mapping is None:
            raise FormatError(f"no question/answer columns among {sorted(keys)[:12]}", path=name)
    return _build(parsed, name, container, schema, encoding, delimiter, mapping, strip_legacy, lenient,
                  warnings, keys)


def _sample_keys(records: list[dict[str, Any]]) -> list[str]:
    keys: dict[str, None] = {}
    for record in records[:200]:
        keys.update(dict.fromkeys(record))
    return list(keys)


def _build(parsed: _Records, name: str, container: Container, schema: Schema, encoding: str | None,
           delimiter: str | None, mapping: ColumnMapping | None, strip_legacy: bool, lenient: bool,
           warnings: list[str], keys: list[str]) -> LoadResult:
    consumed = set(schema_keys(schema, mapping))
    examples, rows, metadata = [], [], []
    for record, row in zip(parsed.records, parsed.rows):
        try:
            example = record_to_example(record, schema, mapping=mapping, strip_legacy=strip_legacy)
        except RecordError as exc:
            _reject(parsed, row, str(exc), json.dumps(record, ensure_ascii=False, default=str), name, lenient,
                    exc.field)
            continue
        examples.append(example)
        rows.append(row)
        metadata.append({k: v for k, v in record.items() if k not in consumed})
    meta = _metadata_frame(metadata) if any(metadata) else None
    frame = build_frame(examples, rows, meta)
    if parsed.rejects:
        warnings.append(f"{len(parsed.rejects)} {parsed.unit}s could not be read and were set aside")
    return LoadResult(frame=frame, path=name, container=container, schema=schema, encoding=encoding,
                      delimiter=delimiter, mapping=mapping, rejects=tuple(parsed.rejects),
                      warnings=tuple(warnings), columns=tuple(keys))


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


def inspect_dataset(path: str | Path, *, schema: Schema | None = None, lenient: bool = False) -> dict[str, Any]:
    """What ``studio inspect`` prints: format, encoding, row count, columns, 3 samples, warnings."""
    result = load_dataset(path, schema=schema, lenient=lenient)
    sample = result.frame.head(3)
    return {
        "path": str(path),
        "format": result.format,
        "container": result.container,
        "schema": result.schema,
        "encoding": result.encoding,
        "delimiter": result.delimiter,
        "rows": len(result.frame),
        "rejected": len(result.rejects),
        "columns": list(result.columns),
        "mapping": None if result.mapping is None else result.mapping.__dict__,
        "samples": [
            {f: (None if pd.isna(v) else v) for f, v in zip(TEXT_FIELDS, (r.system, r.user, r.assistant))}
            for r in sample.itertuples()
        ],
        "warnings": list(result.warnings) + [f"{r.row}: {r.message}" for r in result.rejects[:20]],
    }


# ---------------------------------------------------------------------------------------------- export


def neutralise_formula(value: Any) -> Any:
    """Prefix a cell that a spreadsheet would run as a formula (``= + - @``, tab, CR) with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def _with_system(example: dict[str, Any], system_prompt: str | None) -> dict[str, Any]:
    if not system_prompt or any(m.get("role") == "system" for m in example["messages"]):
        return example
    return {**example, "messages": [{"role": "system", "content": system_prompt}, *example["messages"]]}


def export_bytes(frame: pd.DataFrame, *, to: ExportFormat, system_prompt: str | None = None) -> bytes:
    """The dataset serialised as ``to``; ``system_prompt`` is injected into examples that have none."""
    if to not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {to!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    examples = [_with_system(e, system_prompt) for e in iter_examples(frame)]
    if to in ("openai-chat", "prompt-completion"):
        schema: Schema = "chat" if to == "openai-chat" else "prompt_completion"
        return b"".join(orjson.dumps(example_to_record(e, schema)) + b"\n" for e in examples)
    if to in ("alpaca", "sharegpt"):
        records = [example_to_record(e, to) for e in examples]
        return json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")
    table = _flat_table(frame, examples)
    if to == "csv":
        safe = table.map(neutralise_formula)
        # CRLF (RFC 4180): the csv writer quotes only fields holding a character of the line terminator, so with
        # "\n" a lone "\r" in a message went out unquoted and split the row when read back.
        return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _flat_table(frame: pd.DataFrame, examples: list[dict[str, Any]]) -> pd.DataFrame:
    """system/user/assistant text, the full conversation as JSON, tools as JSON, and the metadata columns."""
    columns: dict[str, Any] = {
        "system": frame["system"].to_numpy(),
        "user": frame["user"].to_numpy(),
        "assistant": frame["assistant"].to_numpy(),
        "messages": [json.dumps(e["messages"], ensure_ascii=False) for e in examples],
    }
    if any("tools" in e for e in examples):
        columns["tools"] = [json.dumps(e["tools"], ensure_ascii=False) if "tools" in e else "" for e in examples]
    for column in metadata_columns(frame):
        values = frame[column].to_numpy()
        columns[column] = [
            json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (list, dict)) else v for v in values
        ]
    return pd.DataFrame(columns)  # built at once: inserting 10,000 metadata columns one by one took minutes


def export_dataset(frame: pd.DataFrame, path: str | Path, *, to: ExportFormat | None = None,
                   system_prompt: str | None = None) -> Path:
    """Write the dataset to ``path``; the format follows ``to`` or the suffix (``.jsonl`` → OpenAI chat)."""
    path = Path(path)
    if to is None:
        to = {".csv": "csv", ".parquet": "parquet", ".json": "sharegpt"}.get(path.suffix.lower(), "openai-chat")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(export_bytes(frame, to=to, system_prompt=system_prompt))
    return path
