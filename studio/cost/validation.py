"""OpenAI chat fine-tuning format checks: every finding at once, as a DataFrame with row ids.

The checks on one example and their keys are in :mod:`studio.cost.format_checks`; this module runs them over a
whole dataset, file or upload, adds the dataset-level findings (too few examples, file too large, over the model's
token limit) and counts tokens in the same pass.

``validate_file`` reads JSONL with orjson line by line over one worker process per core, checking and counting
tokens in the same pass; a line that is not JSON is a ``data_type`` finding naming the line, never a crash.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd

from studio.cost import parallel, tokens
from studio.cost.bpe import get_encoding
from studio.cost.format_checks import MIN_EXAMPLES, RECOMMENDED_EXAMPLES, RULES, check_example
from studio.cost.prices import PriceTable, load_prices
from studio.cost.tokens import CountingMode
from studio.data.formats import MAX_DEPTH, deeper_than, may_be_deep
from studio.errors import LoadError

MAX_FILE_BYTES = 512 * 1024 * 1024
FINDING_COLUMNS = ("row", "id", "severity", "key", "message")
# Files below this size are read in this process; above it, in parts over worker processes.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_PART_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class ValidationReport:
    """Findings over a dataset, their counts per key, and the token count of every example (file order)."""

    rows: int
    findings: pd.DataFrame = field(repr=False, compare=False)
    errors: Mapping[str, int]
    warnings: Mapping[str, int]
    advice: Mapping[str, int]
    tokens: np.ndarray = field(repr=False, compare=False)
    encoding: str
    mode: CountingMode
    limit: int | None
    approximate: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing blocks training (warnings and advice may remain)."""
        return not self.errors

    def summary(self) -> dict[str, Any]:
        """``{"rows", "errors", "warnings", "advice"}`` as plain JSON-ready values."""
        return {
            "rows": self.rows,
            "errors": dict(self.errors),
            "warnings": dict(self.warnings),
            "advice": dict(self.advice),
        }


# --- scanning ------------------------------------------------------------------------------------------------


@dataclass
class _Part:
    lines: int  # lines read (file parts) or examples (lists)
    rows: np.ndarray  # 1-based row (relative to the part) of each example
    tokens: np.ndarray
    findings: list[tuple[int, str, str]]  # (relative row, key, message)


def _scan(pairs: Iterable[tuple[int, Any]], count: Callable[[Any], int], lines: int) -> _Part:
    rows: list[int] = []
    counts: list[int] = []
    findings: list[tuple[int, str, str]] = []
    for row, example in pairs:
        rows.append(row)
        if isinstance(example, _BadLine):
            findings.append((row, _BAD_JSON, example.message))
            counts.append(0)
            continue
        for key, message in check_example(example):
            findings.append((row, key, message))
        counts.append(count(example))
    return _Part(lines, np.asarray(rows, dtype=np.int64), np.asarray(counts, dtype=np.int64), findings)


_BAD_JSON = "_bad_json"  # a data_type finding whose message gets its file line number once parts are joined


class _BadLine:
    __slots__ = ("message",)

    def __init__(self, message: str) -> None:
        self.message = message


def _parse_lines(data: bytes, *, first: bool) -> Iterable[tuple[int, Any]]:
    loads = orjson.loads
    if first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for row, line in enumerate(data.split(b"\n"), 1):
        if not line or line.isspace():
            continue
        try:
            example = loads(line)
        except orjson.JSONDecodeError as exc:
            yield row, _BadLine(f"is not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        if may_be_deep(line) and deeper_than(example):  # as the loader: deeper values crash counters and exporters
            yield row, _BadLine(f"is nested deeper than {MAX_DEPTH} levels")
        else:
            yield row, example


def _line_count(data: bytes) -> int:
    return data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)


def _scan_file_part(path: str, start: int, stop: int, counter: Any, mode: tokens.CountingMode) -> _Part:
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(stop - start)
    count = tokens.example_counter(encoding=counter, mode=mode)
    part = _scan(_parse_lines(data, first=start == 0), count, _line_count(data))
    return part


def _scan_list_part(
    start: int, stop: int, items: Sequence[Any] | None, counter: Any, mode: tokens.CountingMode
) -> _Part:
    source = parallel.shared_items(start, stop, items)
    count = tokens.example_counter(encoding=counter, mode=mode)
    return _scan(enumerate(source, 1), count, len(source))


def _file_bounds(path: Path, size: int, *, workers: int) -> list[tuple[int, int]]:
    """Byte ranges that start at line starts, about eight per worker and at least ``_PART_BYTES/4`` each."""
    step = max(_PART_BYTES // 4, min(_PART_BYTES * 4, size // (workers * 8) + 1))
    cuts = [0]
    with path.open("rb") as handle:
        while cuts[-1] + step < size:
            handle.seek(cuts[-1] + step)
            handle.readline()
            position = handle.tell()
            if position >= size:
                break
            cuts.append(position)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


# --- reports -------------------------------------------------------------------------------------------------


def _resolve(model: str | None, encoding: str | None, mode: tokens.CountingMode) -> tuple[Any, str, bool]:
    """(counter for example_counter, its name, approximate?)"""
    if encoding is not None:
        get_encoding(encoding)  # rejects unknown names early
        return encoding, encoding, False
    if mode == "cookbook":
        return tokens.COOKBOOK_ENCODING, tokens.COOKBOOK_ENCODING, False
    if model is None:
        return "o200k_base", "o200k_base", False
    counter = tokens.text_counter(model)
    is_encoding = counter.name in tokens.ENCODINGS
    return (counter.name if is_encoding else counter.count), counter.name, counter.approximate


def _report(
    parts: Sequence[_Part],
    *,
    model: str | None,
    prices: PriceTable | None,
    ids: Sequence[Any] | None,
    encoding: str,
    mode: tokens.CountingMode,
    approximate: bool,
    file_bytes: int | None = None,
) -> ValidationReport:
    offset = 0
    rows_parts, records = [], []
    for part in parts:
        rows_parts.append(part.rows + offset)
        for row, key, message in part.findings:
            if key == _BAD_JSON:
                key, message = "data_type", f"line {row + offset} {message}"
            records.append((row + offset, key, message))
        offset += part.lines
    example_rows = np.concatenate(rows_parts) if rows_parts else np.zeros(0, dtype=np.int64)
    counts = np.concatenate([p.tokens for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    n = len(example_rows)
    general: list[tuple[Any, str, str]] = []
    if n < MIN_EXAMPLES:
        general.append((pd.NA, "too_few_examples", f"{n} examples; OpenAI requires at least {MIN_EXAMPLES}"))
    elif n < RECOMMENDED_EXAMPLES:
        general.append((pd.NA, "few_examples", f"{n} examples; {RECOMMENDED_EXAMPLES}-100 usually train better"))
    if file_bytes is not None and file_bytes > MAX_FILE_BYTES:
        general.append((pd.NA, "file_too_large", f"{file_bytes / 1024**2:,.0f} MB; OpenAI accepts up to 512 MB"))
    limit = None
    if model is not None:
        limit = (prices or load_prices()).limit_for(model)
        if limit is None:
            general.append(
                (
                    pd.NA,
                    "token_limit_not_published",
                    f"{model}: per-example token limit not published; over-limit rows not checked",
                )
            )
        else:
            for index in np.flatnonzero(counts > limit):
                records.append(
                    (
                        int(example_rows[index]),
                        "over_token_limit",
                        f"{int(counts[index]):,} tokens > {limit:,} for {model}; OpenAI truncates the rest",
                    )
                )
    records.sort(key=lambda record: record[0])
    all_records = general + records
    frame = pd.DataFrame(
        {
            "row": pd.array([r[0] for r in all_records], dtype="Int64"),
            "id": pd.array([pd.NA] * len(all_records), dtype="Int64"),
            "severity": pd.array([RULES[r[1]].severity for r in all_records], dtype="string"),
            "key": pd.array([r[1] for r in all_records], dtype="string"),
            "message": pd.array([r[2] for r in all_records], dtype="string"),
        },
        columns=list(FINDING_COLUMNS),
    )
    if ids is not None and len(frame):
        id_values = pd.array(list(ids), dtype="Int64")
        positions = frame["row"].to_numpy(dtype="float64", na_value=np.nan)
        mask = ~np.isnan(positions)
        picked = pd.array([pd.NA] * len(frame), dtype="Int64")
        picked[mask] = id_values[positions[mask].astype(np.int64) - 1]
        frame["id"] = picked
    by_severity: dict[str, dict[str, int]] = {"error": {}, "warning": {}, "advice": {}}
    for key, count in frame["key"].value_counts(sort=False).items():
        by_severity[RULES[key].severity][str(key)] = int(count)
    return ValidationReport(
        rows=n,
        findings=frame,
        errors=dict(sorted(by_severity["error"].items())),
        warnings=dict(sorted(by_severity["warning"].items())),
        advice=dict(sorted(by_severity["advice"].items())),
        tokens=counts,
        encoding=encoding,
        mode=mode,
        limit=limit,
        approximate=approximate,
    )


def check_examples(
    examples: Iterable[Any],
    *,
    model: str | None = None,
    ids: Sequence[Any] | None = None,
    encoding: str | None = None,
    mode: tokens.CountingMode = "exact",
    prices: PriceTable | None = None,
    workers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> ValidationReport:
    """Validate examples and count their tokens in one pass (rows are 1-based positions; ``ids`` label them).

    Token counts use ``encoding`` if given, else the model's (cl100k_base in cookbook mode); with a ``model``,
    examples over its per-example limit are flagged.
    """
    items = examples if isinstance(examples, Sequence) else list(examples)
    if ids is not None and len(ids) != len(items):
        raise ValueError(f"{len(ids)} ids for {len(items)} examples")
    counter, name, approximate = _resolve(model, encoding, mode)
    workers = parallel.worker_count(workers)
    if len(items) < tokens.PARALLEL_MIN_EXAMPLES or workers == 1 or not isinstance(counter, str):
        parts = [_scan_list_part(0, len(items), items, counter, mode)]
        if on_progress:
            on_progress(1.0)
    else:
        tasks = [(a, b, counter, mode) for a, b in parallel.slices(len(items), workers=workers)]
        parts = parallel.map_parts(_scan_list_part, tasks, workers=workers, items=items, on_progress=on_progress)
    return _report(parts, model=model, prices=prices, ids=ids, encoding=name, mode=mode, approximate=approximate)


def validate_examples(
    examples: Iterable[Any], *, model: str | None = None, ids: Sequence[Any] | None = None
) -> pd.DataFrame:
    """Findings (``row, id, severity, key, message``) over in-memory examples, e.g. ``iter_examples(frame)``."""
    return check_examples(examples, model=model, ids=ids).findings


def validate_file(
    path: str | Path,
    *,
    model: str | None = None,
    encoding: str | None = None,
    mode: tokens.CountingMode = "exact",
    prices: PriceTable | None = None,
    workers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> ValidationReport:
    """Validate a JSONL training file and count every example's tokens; rows are the file's line numbers."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise LoadError("file not found", path=path) from None
    if path.is_dir():
        raise LoadError("is a directory, expected a JSONL file", path=path)
    counter, name, approximate = _resolve(model, encoding, mode)
    workers = parallel.worker_count(workers)
    if size < PARALLEL_MIN_BYTES or workers == 1 or not isinstance(counter, str):
        parts = [_scan_file_part(str(path), 0, size, counter, mode)]
        if on_progress:
            on_progress(1.0)
    else:
        get_encoding(counter)  # forked workers inherit it
        tasks = [(str(path), a, b, counter, mode) for a, b in _file_bounds(path, size, workers=workers)]
        parts = parallel.map_parts(_scan_file_part, tasks, workers=workers, on_progress=on_progress)
    return _report(
        parts, model=model, prices=prices, ids=None, encoding=name, mode=mode, approximate=approximate, file_bytes=size
    )


def _scan_bytes_part(start: int, stop: int, items: bytes | None, counter: Any, mode: tokens.CountingMode) -> _Part:
    data = bytes(parallel.shared_items(start, stop, items))
    count = tokens.example_counter(encoding=counter, mode=mode)
    return _scan(_parse_lines(data, first=start == 0), count, _line_count(data))


def _byte_bounds(data: bytes, *, workers: int) -> list[tuple[int, int]]:
    step = max(_PART_BYTES // 4, min(_PART_BYTES * 4, len(data) // (workers * 8) + 1))
    cuts = [0]
    while cuts[-1] + step < len(data):
        newline = data.find(b"\n", cuts[-1] + step)
        if newline < 0 or newline + 1 >= len(data):
            break
        cuts.append(newline + 1)
    cuts.append(len(data))
    return list(itertools.pairwise(cuts))


def validate_bytes(
    data: bytes,
    *,
    model: str | None = None,
    encoding: str | None = None,
    mode: tokens.CountingMode = "exact",
    prices: PriceTable | None = None,
    workers: int | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> ValidationReport:
    """:func:`validate_file` for JSONL already in memory (an upload)."""
    counter, name, approximate = _resolve(model, encoding, mode)
    workers = parallel.worker_count(workers)
    if len(data) < PARALLEL_MIN_BYTES or workers == 1 or not isinstance(counter, str):
        parts = [_scan_bytes_part(0, len(data), data, counter, mode)]
        if on_progress:
            on_progress(1.0)
    else:
        get_encoding(counter)
        tasks = [(a, b, counter, mode) for a, b in _byte_bounds(data, workers=workers)]
        parts = parallel.map_parts(_scan_bytes_part, tasks, workers=workers, items=data, on_progress=on_progress)
    return _report(
        parts,
        model=model,
        prices=prices,
        ids=None,
        encoding=name,
        mode=mode,
        approximate=approximate,
        file_bytes=len(data),
    )


def jsonl_examples(data: bytes) -> tuple[list[int], list[Any]]:
    """(line numbers, parsed examples) of JSONL bytes; a line that is not JSON gives None."""
    lines, examples = [], []
    for row, example in _parse_lines(data, first=True):
        lines.append(row)
        examples.append(None if isinstance(example, _BadLine) else example)
    return lines, examples
