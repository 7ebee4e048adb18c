"""Validation and token counts for any dataset file, through the one loader every command uses.

A file that already is OpenAI chat JSONL goes the fast way (:func:`studio.cost.validation.validate_file`: parsed
and counted in parts over one worker process per core); anything else (CSV/TSV, JSON arrays, Parquet, Excel,
alpaca, sharegpt, prompt/completion, Q&A tables) is loaded by :func:`studio.data.loader.load_dataset`, converted to
OpenAI chat, then checked and counted (:func:`studio.cost.validation.check_examples`). Both ways give the same
example count and tokens as converting the file first (``studio convert --to openai-chat``).

One scheme everywhere for where a finding is: ``row`` is the source's 1-based line (JSONL, CSV), item (JSON
array) or sheet/table row (Excel, Parquet), ``unit`` says which, and ``id`` is the example id the Dataset page
shows (0-based, in file order; a line that is not an example has none). :func:`where` writes it as
``line 7 (id 6)``.
"""

from __future__ import annotations

import codecs
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson
import pandas as pd

from studio.cost import tokens
from studio.cost.messages import message_index
from studio.cost.prices import PriceTable
from studio.cost.validation import ValidationReport, check_examples, validate_file

if TYPE_CHECKING:
    from studio.data.formats import ColumnMapping, Schema

_HEAD_BYTES = 64 * 1024  # how much of a file decides whether it takes the fast path


@dataclass(frozen=True)
class SourceReport:
    """A :class:`~studio.cost.validation.ValidationReport` over a file, plus how the file was read.

    ``report.findings`` rows are source rows (``unit`` names them) and ``id`` the example ids (on the fast path
    filled in by :meth:`findings`, which reads the file's lines only when asked); ``format`` is
    ``container/schema`` (``jsonl/chat``...); ``encoding_confidence`` is 1.0 for Unicode and lower for a guessed
    code page; ``warnings`` are the loader's (mapping guessed, encoding uncertain, metadata kept...).
    """

    report: ValidationReport
    path: str
    format: str
    unit: str
    encoding: str | None
    encoding_confidence: float | None
    mapping: ColumnMapping | None = None
    warnings: tuple[str, ...] = ()
    fast: bool = False  # read by the parallel OpenAI-JSONL path

    def summary(self) -> dict[str, Any]:
        """The report's counts plus the format, encoding, mapping and warnings, JSON-ready."""
        return {
            **self.report.summary(),
            "format": self.format,
            "encoding": self.encoding,
            "encoding_confidence": self.encoding_confidence,
            "mapping": None if self.mapping is None else dataclasses.asdict(self.mapping),
            "load_warnings": list(self.warnings),
        }

    def findings(self) -> list[dict[str, Any]]:
        """Every finding as ``{"row", "unit", "id", "severity", "key", "message", "message_index"}``: row/id are
        None for the file; ``message_index`` is the index in the example's ``messages`` of the message the finding
        names (the ``2`` of ``messages[2]: ...``, 0-based), None for a finding about the whole example or file.

        On the fast path the ids are worked out here, from the file's lines, only when findings are listed.
        """
        findings = _with_line_ids(self.path, self.report.findings) if self.fast else self.report.findings
        out = []
        for row in findings.itertuples(index=False):
            out.append(
                {
                    "row": None if pd.isna(row.row) else int(row.row),
                    "unit": self.unit,
                    "id": None if pd.isna(row.id) else int(row.id),
                    "severity": row.severity,
                    "key": row.key,
                    "message": row.message,
                    "message_index": message_index(row.message),
                }
            )
        return out


def where(row: Any, example_id: Any, unit: str = "line", lang: str = "en") -> str:
    """``line 7 (id 6)``: a finding's source row and example id; ``file`` when it has no row. In ``lang`` (the
    CLI's English by default; ``línea 7 (id 6)`` in Spanish)."""
    from studio.i18n import text

    if row is None or pd.isna(row):
        return text("cost.where_file", lang)
    shown = text(f"cost.unit_{unit}", lang) if unit in ("line", "item", "row") else unit
    if example_id is None or pd.isna(example_id):
        return text("cost.where_row", lang, unit=shown, row=int(row))
    return text("cost.where_row_id", lang, unit=shown, row=int(row), id=example_id)


def is_chat_jsonl(path: str | Path) -> bool:
    """Whether a file takes the fast path: a JSONL file in UTF-8 whose first record has a ``messages`` list."""
    from studio.data.containers import detect_container

    with open(path, "rb") as handle:
        head = handle.read(_HEAD_BYTES)
    if not head.strip() or detect_container(str(path), head) != "jsonl":
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head.removeprefix(codecs.BOM_UTF8), final=False)
    except UnicodeDecodeError:
        return False
    first = next((line for line in head.removeprefix(codecs.BOM_UTF8).split(b"\n") if line.strip()), b"")
    try:
        record = orjson.loads(first)
    except orjson.JSONDecodeError:
        return False
    return isinstance(record, dict) and isinstance(record.get("messages"), list)


def check_source(
    path: str | Path,
    *,
    schema: Schema | None = None,
    mapping: ColumnMapping | None = None,
    text_encoding: str | None = None,
    model: str | None = None,
    encoding: str | None = None,
    mode: tokens.CountingMode = "exact",
    prices: PriceTable | None = None,
    workers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> SourceReport:
    """Validate any dataset file and count every example's tokens (``encoding``: the tiktoken one).

    ``schema``, ``mapping`` and ``text_encoding`` are the loader's overrides (``--format``, ``--columns``,
    ``--encoding``); with none of them, an OpenAI chat JSONL file takes the fast path. Raises
    :class:`~studio.errors.LoadError` / :class:`~studio.errors.FormatError` naming the file, line/row and field.
    """
    from studio.data.loader import load_dataset

    name = str(path)
    counting: dict[str, Any] = {
        "model": model,
        "encoding": encoding,
        "mode": mode,
        "prices": prices,
        "workers": workers,
        "on_progress": on_progress,
    }
    overrides = schema not in (None, "chat") or mapping is not None or text_encoding not in (None, "utf-8")
    if not overrides and Path(name).is_file() and is_chat_jsonl(name):
        report = validate_file(name, **counting)
        return SourceReport(report, name, "jsonl/chat", "line", "utf-8", 1.0, fast=True)
    loaded = load_dataset(name, schema=schema, mapping=mapping, encoding=text_encoding)
    report = check_frame(loaded.frame, **counting)
    return SourceReport(
        report,
        name,
        loaded.format,
        loaded.unit,
        loaded.encoding,
        loaded.encoding_confidence,
        loaded.mapping,
        loaded.warnings,
    )


def check_frame(
    frame: pd.DataFrame,
    *,
    model: str | None = None,
    encoding: str | None = None,
    mode: tokens.CountingMode = "exact",
    prices: PriceTable | None = None,
    workers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> ValidationReport:
    """:func:`~studio.cost.validation.check_examples` over a canonical frame, findings at its ``source_row``
    (the file line or sheet row it came from) and ``id``, as :func:`check_source` reports them."""
    from studio.data.frame import iter_examples

    report = check_examples(
        list(iter_examples(frame)),
        model=model,
        ids=frame["id"].tolist(),
        encoding=encoding,
        mode=mode,
        prices=prices,
        workers=workers,
        on_progress=on_progress,
    )
    findings = report.findings
    if len(findings) and "source_row" in frame.columns:
        positions = findings["row"].to_numpy(dtype="float64", na_value=np.nan)
        mask = ~np.isnan(positions)
        source = frame["source_row"].to_numpy()
        rows = pd.array([pd.NA] * len(findings), dtype="Int64")
        rows[mask] = source[positions[mask].astype(np.int64) - 1]
        findings = findings.assign(row=rows)
        report = report.with_findings(findings)
    return report


def _with_line_ids(path: str, findings: pd.DataFrame) -> pd.DataFrame:
    """The example id of each finding's line: non-blank lines that hold JSON, counted from 0 (the loader's ids)."""
    if findings["row"].dropna().empty:
        return findings
    with open(path, "rb") as handle:
        return with_line_ids(findings, handle)


def with_line_ids(findings: pd.DataFrame, lines: Iterable[bytes]) -> pd.DataFrame:
    """``findings`` of a JSONL source (rows are its 1-based lines) with ``id`` set to each line's example id:
    non-blank lines that hold JSON, counted from 0 (the loader's ids). ``lines``: the source's lines (an open
    binary file, or ``io.BytesIO(data)`` for an upload); read only up to the last finding's line."""
    lines_found = findings["row"].dropna()
    if lines_found.empty:
        return findings
    not_json = {
        int(row)
        for row, key, message in zip(findings["row"], findings["key"], findings["message"], strict=True)
        if key == "data_type" and not pd.isna(row) and str(message).startswith(f"line {row} ")
    }
    wanted = sorted({int(v) for v in lines_found})
    ids: dict[int, int] = {}
    next_id, target = 0, 0
    for number, line in enumerate(lines, 1):
        if number == wanted[target]:
            if number not in not_json and line.strip():
                ids[number] = next_id
            target += 1
            if target == len(wanted):
                break
        if line.strip() and number not in not_json:
            next_id += 1
    values = pd.array([ids.get(int(r)) if not pd.isna(r) else None for r in findings["row"]], dtype="Int64")
    return findings.assign(id=values)
