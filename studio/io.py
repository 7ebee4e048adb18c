"""Load any supported file into the canonical frame, and export the frame to the formats fine-tuners use.

Containers: JSONL, JSON (array, or an object holding one), CSV/TSV (delimiter sniffed among ``, ; tab |``),
Parquet and Excel (.xlsx). Record schemas are in :mod:`studio.formats`. Text files are decoded as UTF-8, UTF-8
with BOM, UTF-16 (with or without BOM) or, failing those, Windows-1252 / Latin-1; the encoding used is reported.

A malformed line or row raises :class:`~studio.errors.LoadError` naming the file, the line/row and the field.
In lenient mode it is returned in ``LoadResult.rejects`` instead, so nothing is dropped silently:
rows in = ``len(frame) + len(rejects)``.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
import pandas as pd

from studio.dataset import TEXT_FIELDS, build_frame, iter_examples, metadata_columns
from studio.errors import ExportError, FormatError, LoadError
from studio.formats import (
    ColumnMapping,
    RecordError,
    Schema,
    detect_schema,
    example_to_record,
    guess_mapping,
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


# ---------------------------------------------------------------------------------------------- encodings


def detect_encoding(data: bytes) -> str:
    """The encoding of a text file: BOMs first, then UTF-16 without BOM, UTF-8, then cp1252 or latin-1."""
    if data.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
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


def _decode(data: bytes, encoding: str, path: str) -> str:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise LoadError(f"cannot be decoded as {encoding} ({exc.reason})", path=path, line=line) from None


def _line_of(data: bytes | str, offset: int) -> int:
    newline = b"\n" if isinstance(data, bytes) else "\n"
    return data[:offset].count(newline) + 1  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------- records


@dataclass
class _Records:
    """Source records with their 1-based line/row numbers, plus what could not be parsed at all."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unit: str = "line"


def _json_error(exc: json.JSONDecodeError) -> str:
    message = exc.msg.split(": line ")[0]
    return f"not valid JSON ({message} at column {exc.colno})"


def _read_jsonl(data: bytes, encoding: str, path: str, lenient: bool) -> _Records:
    out = _Records()
    if encoding in ("utf-8", "utf-8-sig"):
        lines: Iterator[bytes | str] = iter(data.splitlines())
        first = True
    else:
        lines = iter(_decode(data, encoding, path).splitlines())
        first = False
    for number, line in enumerate(lines, 1):
        if first and isinstance(line, bytes):
            line = line.removeprefix(codecs.BOM_UTF8)
            first = False
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
    text = data if encoding in ("utf-8", "utf-8-sig") else _decode(data, encoding, path).encode("utf-8")
    text = text.removeprefix(codecs.BOM_UTF8)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # A .json file holding one object per line is JSONL with the wrong suffix.
        if exc.msg.startswith(("trailing characters", "unexpected content after document")) and text.lstrip().startswith(b"{"):
            return _read_jsonl(text, "utf-8", path, lenient)
        raise LoadError(f"not valid JSON ({exc.msg.split(': line ')[0]} at column {exc.colno})",
                        path=path, line=exc.lineno) from None
    if isinstance(value, dict):
        lists = [key for key, item in value.items() if isinstance(item, list) and item and isinstance(item[0], dict)]
        if "messages" in value or "conversations" in value or not lists:
            value = [value]
        else:
            value = value[lists[0]]
    if not isinstance(value, list):
        raise LoadError(f"expected an array of objects, got {_json_type(value)}", path=path, line=1)
    out = _Records(unit="item")
    for number, record in enumerate(value, 1):
        if isinstance(record, dict):
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


def _read_csv(text: str, delimiter: str, path: str, lenient: bool) -> tuple[_Records, list[str], list[str]]:
    csv.field_size_limit(_MAX_FIELD)
    out = _Records()
    warnings: list[str] = []
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        header = next(reader)
    except StopIteration:
        raise LoadError("the file is empty", path=path) from None
    except csv.Error as exc:
        raise LoadError(f"malformed CSV header ({exc})", path=path, line=1) from None
    header = [h.strip() for h in header]
    drop_index = bool(header) and header[0] in ("", "Unnamed: 0", "index")
    if "\x00" in text[:4096]:
        raise LoadError("contains NUL bytes; is this a binary file or a different encoding?", path=path, line=1)
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


def _read_table(frame: pd.DataFrame, first_row: int) -> _Records:
    frame.columns = [str(c).strip() for c in frame.columns]
    records = frame.to_dict("records")
    return _Records(records=records, rows=list(range(first_row, first_row + len(records))), unit="row")


def _read_parquet(data: bytes, path: str) -> _Records:
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(io.BytesIO(data))
    except Exception as exc:  # pyarrow raises several unrelated types for corrupt files
        raise LoadError(f"not a readable Parquet file ({exc})", path=path) from None
    records = table.to_pylist()
    for record in records:
        messages = record.get("messages")
        if isinstance(messages, list):
            record["messages"] = [
                {k: v for k, v in m.items() if v is not None} if isinstance(m, dict) else m for m in messages
            ]
    return _Records(records=records, rows=list(range(1, len(records) + 1)), unit="row")


def _read_excel(data: bytes, path: str) -> _Records:
    try:
        frame = pd.read_excel(io.BytesIO(data), dtype=str, keep_default_na=False, engine="openpyxl")
    except Exception as exc:  # openpyxl/zipfile raise many types for a corrupt workbook
        raise LoadError(f"not a readable Excel workbook ({exc})", path=path) from None
    return _read_table(frame, first_row=2)


# ---------------------------------------------------------------------------------------------- load


def detect_container(name: str, data: bytes) -> Container:
    """The container a file uses, from its suffix, checked against its first bytes."""
    suffix = Path(name).suffix.lower()
    if data.startswith(b"PAR1"):
        return "parquet"
    if data.startswith(b"PK\x03\x04"):
        if suffix in (".xlsx", ".xlsm"):
            return "xlsx"
        raise FormatError("is a ZIP archive, not a dataset; unzip it first", path=name, line=1)
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


def _parse(name: str, data: bytes | None, lenient: bool):
    """Read the container: records with their rows, plus container, encoding, delimiter, warnings, columns."""
    if data is None:
        try:
            data = Path(name).read_bytes()
        except FileNotFoundError:
            raise LoadError("no such file", path=name) from None
        except IsADirectoryError:
            raise LoadError("is a folder, not a file", path=name) from None
    if not data.strip():
        raise LoadError("the file is empty", path=name)
    container = detect_container(name, data)
    encoding: str | None = None
    delimiter: str | None = None
    warnings: list[str] = []
    columns: list[str] = []
    if container in ("jsonl", "json"):
        encoding = detect_encoding(data)
        reader = _read_jsonl if container == "jsonl" else _read_json
        parsed = reader(data, encoding, name, lenient)
        container = "jsonl" if parsed.unit == "line" else "json"
    elif container == "csv":
        encoding = detect_encoding(data)
        text = _decode(data, encoding, name).removeprefix("\ufeff")
        delimiter = _sniff_delimiter(text, Path(name).suffix.lower())
        parsed, columns, warnings = _read_csv(text, delimiter, name, lenient)
    elif container == "parquet":
        parsed = _read_parquet(data, name)
    else:
        parsed = _read_excel(data, name)
    if encoding and encoding not in ("utf-8", "utf-8-sig"):
        warnings.append(f"decoded as {encoding}")

    return parsed, container, encoding, delimiter, warnings, columns or _sample_keys(parsed.records)


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
    meta = pd.DataFrame(metadata) if any(metadata) else None
    if meta is not None:
        for column in meta.columns:
            if meta[column].map(lambda v: v is None or isinstance(v, str)).all():
                meta[column] = meta[column].astype("string[pyarrow]")
    frame = build_frame(examples, rows, meta)
    if parsed.rejects:
        warnings.append(f"{len(parsed.rejects)} {parsed.unit}s could not be read and were set aside")
    return LoadResult(frame=frame, path=name, container=container, schema=schema, encoding=encoding,
                      delimiter=delimiter, mapping=mapping, rejects=tuple(parsed.rejects),
                      warnings=tuple(warnings), columns=tuple(keys))


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
        return safe.to_csv(index=False).encode("utf-8")
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def _flat_table(frame: pd.DataFrame, examples: list[dict[str, Any]]) -> pd.DataFrame:
    """system/user/assistant text, the full conversation as JSON, tools as JSON, and the metadata columns."""
    table = pd.DataFrame(
        {
            "system": frame["system"].to_numpy(),
            "user": frame["user"].to_numpy(),
            "assistant": frame["assistant"].to_numpy(),
            "messages": [json.dumps(e["messages"], ensure_ascii=False) for e in examples],
        }
    )
    if any("tools" in e for e in examples):
        table["tools"] = [json.dumps(e["tools"], ensure_ascii=False) if "tools" in e else "" for e in examples]
    for column in metadata_columns(frame):
        values = frame[column].to_numpy()
        table[column] = [
            json.dumps(v, ensure_ascii=False, default=str) if isinstance(v, (list, dict)) else v for v in values
        ]
    return table


def export_dataset(frame: pd.DataFrame, path: str | Path, *, to: ExportFormat | None = None,
                   system_prompt: str | None = None) -> Path:
    """Write the dataset to ``path``; the format follows ``to`` or the suffix (``.jsonl`` → OpenAI chat)."""
    path = Path(path)
    if to is None:
        to = {".csv": "csv", ".parquet": "parquet", ".json": "sharegpt"}.get(path.suffix.lower(), "openai-chat")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(export_bytes(frame, to=to, system_prompt=system_prompt))
    return path
