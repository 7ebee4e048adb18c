"""Container readers: the bytes of a JSONL, JSON, CSV/TSV, Parquet or Excel file as source records.

Each reader returns :class:`Records`: the records (dicts) with their 1-based line/row/item numbers, what could not
be parsed (strict mode raises :class:`~studio.errors.LoadError` naming the file, line and field instead), the
table's header and warnings. Mapping records to examples is :mod:`studio.data.formats`' job; choosing the reader is
:mod:`studio.data.loader`'s.

Hostile input (see tests/hostile/README.md): a lone surrogate ``\\ud83d`` escape or NaN makes a line invalid JSON,
and so does nesting deeper than :data:`~studio.data.formats.MAX_DEPTH` levels; duplicate keys keep the last value; a
BOM at the start of any JSONL line is ignored; a CSV with NULs in its header or dense in its first 4 KB is refused
as binary.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pandas as pd

from studio.data.encodings import (
    SNIFF_BYTES,
    decode,
    decode_mixed,
    decode_text,
    line_of,
    mixed_warning,
    split_lines,
)
from studio.data.formats import MAX_DEPTH, deeper_than, may_be_deep
from studio.errors import LoadError

DELIMITERS = (",", ";", "\t", "|")
_MAX_FIELD = 256 * 1024 * 1024  # csv's default 128 KB limit would reject long answers


@dataclass(frozen=True)
class Reject:
    """A source line/row that could not become an example (lenient mode)."""

    row: int
    message: str
    raw: str = ""


@dataclass
class Records:
    """Source records with their 1-based line/row numbers, plus what could not be parsed at all."""

    records: list[dict[str, Any]] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    unit: str = "line"
    columns: list[str] = field(default_factory=list)  # a table's header, known even when it has no rows
    warnings: list[str] = field(default_factory=list)

    def reject(self, row: int, message: str, raw: Any, path: str, lenient: bool, field_: str | None = None) -> None:
        """Set ``row`` aside with ``message`` (lenient), or raise :class:`~studio.errors.LoadError` naming it."""
        if not lenient:
            raise LoadError(message, path=path, line=row, field=field_, unit=self.unit)
        text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
        self.rejects.append(Reject(row=row, message=message if not field_ else f"{field_}: {message}", raw=text[:500]))


def _json_error(exc: json.JSONDecodeError) -> str:
    message = exc.msg.split(": line ")[0]
    if "surrogate" in message:  # orjson: "no low surrogate in string", "invalid high surrogate in string"
        message = "lone surrogate in a \\u escape; an emoji cut in half?"
    return f"not valid JSON ({message} at column {exc.colno})"


_ASCII_SPACE = " \t\n\r\x0b\x0c"
"""What makes a line blank, decoded or not (what ``bytes.strip`` strips): ``str.strip`` would also take a line of
U+0085 or U+2028 for blank and skip it silently, where it is a line that is not JSON (a reject, listed)."""


def read_jsonl(data: bytes, encoding: str, path: str, lenient: bool, *, first_line: int = 1) -> Records:
    """One JSON object per line (CR, LF or CRLF); blank lines skipped, a BOM at the start of any line ignored.

    ``first_line`` is the number of the first line of ``data`` (a part of a larger file starts further on)."""
    out = Records()
    lines: Iterator[bytes | str]
    if encoding in ("utf-8", "utf-8-sig") and b"\r" not in data:
        # one line at a time, without its "\n": no second copy of the whole file as a list of lines
        lines = (line.removesuffix(b"\n") for line in io.BytesIO(data))
    elif encoding in ("utf-8", "utf-8-sig"):
        lines = iter(data.splitlines())
    elif encoding == "mixed":
        text, legacy = decode_mixed(data)
        lines = iter(split_lines(text))
        out.warnings.append(mixed_warning(legacy))
    else:
        lines = iter(split_lines(decode(data, encoding, path)))
    for number, line in enumerate(lines, first_line):
        # A BOM can start any line of files that were concatenated (cat a.jsonl b.jsonl).
        line = line.removeprefix(codecs.BOM_UTF8) if isinstance(line, bytes) else line.removeprefix("\ufeff")
        if not (line.strip() if isinstance(line, bytes) else line.strip(_ASCII_SPACE)):
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
            out.reject(number, error, line, path, lenient)
            continue
        if not isinstance(record, dict):
            out.reject(number, f"expected a JSON object, got {_json_type(record)}", line, path, lenient)
            continue
        if may_be_deep(line) and deeper_than(record):
            out.reject(number, f"nested deeper than {MAX_DEPTH} levels", line, path, lenient)
            continue
        out.records.append(record)
        out.rows.append(number)
    return out


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}.get(
        type(value), "null"
    )


def read_json(data: bytes, encoding: str, path: str, lenient: bool) -> Records:
    """A JSON array of objects, an object holding one (its first list of objects), a single conversation object,
    or JSONL saved as ``.json`` (then ``unit`` is ``"line"``)."""
    warnings: list[str] = []
    text = data
    if encoding not in ("utf-8", "utf-8-sig"):
        decoded, warnings = decode_text(data, encoding, path)
        text = decoded.encode("utf-8")
    text = text.removeprefix(codecs.BOM_UTF8)
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        # A .json file holding one object per line is JSONL with the wrong suffix.
        if exc.msg.startswith(
            ("trailing characters", "unexpected content after document")
        ) and text.lstrip().startswith(b"{"):
            out = read_jsonl(text, "utf-8", path, lenient)
            out.warnings += warnings
            return out
        raise LoadError(_json_error(exc), path=path, line=exc.lineno) from None
    if isinstance(value, dict):
        lists = [key for key, item in value.items() if isinstance(item, list) and item and isinstance(item[0], dict)]
        one_record = "messages" in value or "conversations" in value or not lists
        value = [value] if one_record else value[lists[0]]
    if not isinstance(value, list):
        raise LoadError(f"expected an array of objects, got {_json_type(value)}", path=path, line=1)
    out = Records(unit="item", warnings=warnings)
    deep = may_be_deep(text)
    for number, record in enumerate(value, 1):
        if deep and deeper_than(record):
            out.reject(number, f"nested deeper than {MAX_DEPTH} levels", "", path, lenient)
        elif isinstance(record, dict):
            out.records.append(record)
            out.rows.append(number)
        else:
            out.reject(number, f"expected a JSON object, got {_json_type(record)}", json.dumps(record), path, lenient)
    return out


def sniff_delimiter(text: str, suffix: str) -> str:
    """Tab for ``.tsv``/``.tab``; else the :data:`DELIMITERS` character most frequent in the header line."""
    if suffix in (".tsv", ".tab"):
        return "\t"
    header = text.split("\n", 1)[0]
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(counts, key=counts.get)  # type: ignore[arg-type]
    if counts[best] == 0:
        try:
            return csv.Sniffer().sniff(text[:65536], delimiters="".join(DELIMITERS)).delimiter
        except csv.Error:
            return ","
    return best


def unique_names(header: list[str]) -> tuple[list[str], list[str]]:
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


def read_csv(text: str, delimiter: str, path: str, lenient: bool) -> Records:
    """CSV/TSV rows as records keyed by the header (repeated names renamed, an unnamed integer index column
    dropped); ``columns`` is the header even when there are no rows."""
    csv.field_size_limit(_MAX_FIELD)
    out = Records()
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    # NULs in the header or dense in the first 4 KB mean a binary file; a stray one in a cell is kept, as the JSONL
    # reader keeps an escaped \u0000 (and the CSV exporter writes it back).
    sample = text[:SNIFF_BYTES]
    nul = sample.find("\x00")
    header_end = min((i for i in (text.find("\n"), text.find("\r")) if i >= 0), default=len(text))
    if nul >= 0 and (nul < header_end or sample.count("\x00") * 10 > len(sample)):
        raise LoadError(
            "contains NUL bytes; is this a binary file or a different encoding?", path=path, line=line_of(text, nul)
        )
    try:
        header = next(reader)
    except StopIteration:
        raise LoadError("the file is empty", path=path) from None
    except csv.Error as exc:
        raise LoadError(f"malformed CSV header ({exc})", path=path, line=1) from None
    header, warnings = unique_names([h.strip() for h in header])
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
            out.reject(line, f"expected {len(header)} fields, saw {len(cells)}", delimiter.join(cells), path, lenient)
            continue
        out.records.append(dict(zip(header, cells, strict=True)))
        out.rows.append(line)
    if drop_index:
        index_column = header[0]
        values = [r.get(index_column, "") for r in out.records]
        if all(v.strip().lstrip("-").isdigit() for v in values):
            for record in out.records:
                record.pop(index_column, None)
            header = header[1:]
            warnings.append("dropped an unnamed index column")
    out.columns, out.warnings = header, warnings
    return out


def _one_line(exc: BaseException) -> str:
    """A third-party exception as one short line (pyarrow and openpyxl messages can span lines)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 200 else text[:199] + "…"


def read_parquet(data: bytes, path: str) -> Records:
    """Every row of a Parquet file; null keys that pyarrow adds to message structs are dropped."""
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
    return Records(
        records=records,
        rows=list(range(1, len(records) + 1)),
        unit="row",
        columns=[str(c).strip() for c in table.column_names],
    )


_OOXML_ESCAPE = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape_ooxml(text: str) -> str:
    """An Excel cell's text with OOXML's ``_xHHHH_`` escapes decoded (ECMA-376 Part 1, 22.9.2.19 ST_Xstring):
    ``_x000D_`` is the CR of a Windows line break, ``_x005F_`` escapes an underscore (``_x005F_x000D_`` is the
    literal text ``_x000D_``). openpyxl leaves them in the text."""
    if "_x" not in text:
        return text
    return _OOXML_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)


def read_excel(data: bytes, path: str) -> Records:
    """The first sheet with any content; its first non-blank row is the header, blank rows are skipped, and
    ``rows`` are the sheet's own row numbers. Text cells have OOXML ``_xHHHH_`` escapes decoded
    (:func:`unescape_ooxml`)."""
    try:
        book = pd.ExcelFile(io.BytesIO(data), engine="openpyxl")
        skipped = []
        for sheet in book.sheet_names:
            frame = pd.read_excel(book, sheet_name=sheet, header=None, dtype=str, keep_default_na=False)
            frame = frame.map(lambda v: unescape_ooxml(v) if isinstance(v, str) else v)
            cells = [[str(v).strip() for v in row] for row in frame.itertuples(index=False)]
            filled = [i for i, row in enumerate(cells) if any(row)]
            if filled:
                break
            skipped.append(sheet)
        else:
            return Records(unit="row")
    except Exception as exc:  # openpyxl/zipfile raise many types for a corrupt workbook
        raise LoadError(f"not a readable Excel workbook ({_one_line(exc)})", path=path) from None
    values = frame.to_numpy().tolist()
    head = filled[0]
    names = [name or f"Unnamed: {i}" for i, name in enumerate(cells[head])]
    header, warnings = unique_names(names)
    out = Records(unit="row", columns=header, warnings=warnings)
    if skipped:
        out.warnings.append(
            f"read sheet {sheet!r}; {', '.join(map(repr, skipped))} {'is' if len(skipped) == 1 else 'are'} empty"
        )
    for i in filled[1:]:
        out.records.append(dict(zip(header, values[i], strict=True)))
        out.rows.append(i + 1)  # header=None: frame position i is sheet row i + 1
    return out
