"""Which container a dataset file uses (JSONL, JSON, CSV/TSV, Parquet, Excel), from its name checked against its
first bytes; files that are not datasets (ZIP, gzip, .xls, images, PDF) are refused with a
:class:`~studio.errors.FormatError` naming the file and what to do."""

from __future__ import annotations

import codecs
import io
import zipfile
from pathlib import Path
from typing import Literal

from studio.errors import FormatError

Container = Literal["jsonl", "json", "csv", "parquet", "xlsx"]

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
    if data.startswith((b"\x89PNG", b"\xff\xd8\xff", b"%PDF")):
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
