"""OpenAI chat fine-tuning format checks: every finding at once, as a DataFrame with row ids.

The checks on one example and their keys are in :mod:`studio.cost.format_checks`; this module runs them over a
whole dataset, file or upload, adds the dataset-level findings (too few examples, file too large, over the model's
token limit) and counts tokens in the same pass.

``validate_file`` reads JSONL with orjson line by line over one worker process per core, checking and counting
tokens in the same pass; a line that is not JSON is a ``data_type`` finding naming the line, never a crash. It is
the OpenAI chat JSONL fast path of ``studio validate`` and ``studio estimate``: the file is cut into byte ranges at
line starts, each worker parses, checks and counts its ranges and sends back only token counts and findings, so
memory stays flat and both cores parse as well as count. Nothing on that path imports pandas: a report's
``findings`` DataFrame is built the first time it is read.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from studio.core.memory import collector_paused
from studio.core.nesting import MAX_DEPTH, deeper_than, may_be_deep
from studio.cost import parallel, tokens
from studio.cost.bpe import get_encoding
from studio.cost.format_checks import MIN_EXAMPLES, RECOMMENDED_EXAMPLES, RULES, check_example
from studio.cost.messages import say
from studio.cost.prices import PriceTable, load_prices
from studio.cost.tokens import CountingMode
from studio.errors import LoadError

if TYPE_CHECKING:
    import pandas as pd

MAX_FILE_BYTES = 512 * 1024 * 1024
FINDING_COLUMNS = ("row", "id", "severity", "key", "message")
# Files below this size are read in this process; above it, in parts over worker processes.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_PART_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class _Findings:
    """Findings in row order, compactly: dataset-level ones (no row) first, then one per (row, key)."""

    general: list[tuple[str, str]]  # (key, message)
    rows: np.ndarray  # int64, 1-based
    keys: list[str]
    messages: list[str]
    ids: Sequence[Any] | None  # example ids by 1-based row, when the examples have ids


@dataclass(frozen=True)
class ValidationReport:
    """Findings over a dataset, their counts per key, and the token count of every example (file order)."""

    rows: int
    errors: Mapping[str, int]
    warnings: Mapping[str, int]
    advice: Mapping[str, int]
    tokens: np.ndarray = field(repr=False, compare=False)
    encoding: str
    mode: CountingMode
    limit: int | None
    approximate: bool = False
    _findings: _Findings | None = field(default=None, repr=False, compare=False)

    def with_findings(self, findings: pd.DataFrame) -> ValidationReport:
        """A copy whose :attr:`findings` is ``findings`` (same columns), e.g. rows mapped back to a source file's."""
        copy = dataclasses.replace(self)
        copy.__dict__["findings"] = findings  # the cached_property's slot: read back as is
        return copy

    @cached_property
    def findings(self) -> pd.DataFrame:
        """Every finding as a DataFrame ``row, id`` (Int64, NA for dataset-level findings), ``severity, key,
        message`` (string), in row order; built on first use."""
        import pandas as pd

        data = self._findings or _Findings([], np.zeros(0, dtype=np.int64), [], [], None)
        size = len(data.general) + len(data.rows)
        rows = np.concatenate([np.zeros(len(data.general), dtype=np.int64), data.rows])
        no_row = np.arange(size) < len(data.general)
        keys = [key for key, _ in data.general] + data.keys
        frame = pd.DataFrame(
            {
                "row": pd.arrays.IntegerArray(rows, no_row),
                "id": pd.array([pd.NA] * size, dtype="Int64"),
                "severity": pd.array([RULES[key].severity for key in keys], dtype="string"),
                "key": pd.array(keys, dtype="string"),
                "message": pd.array([message for _, message in data.general] + data.messages, dtype="string"),
            },
            columns=list(FINDING_COLUMNS),
        )
        if data.ids is not None and len(data.rows):
            id_values = pd.array(list(data.ids), dtype="Int64")
            picked = pd.array([pd.NA] * size, dtype="Int64")
            picked[~no_row] = id_values[data.rows - 1]
            frame["id"] = picked
        return frame

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
    finding_rows: list[int]  # relative row of each finding
    finding_keys: list[str]
    finding_messages: list[Any]  # str; a _BAD_JSON finding's (template, values) until its file line is known


_BAD_JSON = "_bad_json"  # a data_type finding whose message is written once parts are joined (its file line)


def _scan(pairs: Iterable[tuple[int, Any]], count: Callable[[Any], int], lines: int) -> _Part:
    """Check and count ``(row, example)`` pairs of in-memory examples (JSONL bytes go through :func:`_scan_lines`)."""
    rows: list[int] = []
    counts: list[int] = []
    at: list[int] = []
    keys: list[str] = []
    messages: list[str] = []
    for row, example in pairs:
        rows.append(row)
        for key, message in check_example(example):
            at.append(row)
            keys.append(key)
            messages.append(message)
        counts.append(count(example))
    return _Part(lines, np.asarray(rows, dtype=np.int64), np.asarray(counts, dtype=np.int64), at, keys, messages)


def _scan_lines(data: bytes, count: Callable[[Any], int], *, first: bool) -> _Part:
    """Parse, check and count the JSONL lines of ``data`` (whole lines); rows are 1-based lines of ``data``."""
    if first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    loads, check = orjson.loads, check_example
    rows: list[int] = []
    counts: list[int] = []
    at: list[int] = []
    keys: list[str] = []
    messages: list[Any] = []
    for row, line in enumerate(data.split(b"\n"), 1):
        if not line or line.isspace():
            continue
        rows.append(row)
        try:
            example = loads(line)
        except orjson.JSONDecodeError as exc:
            problem: tuple[str, dict[str, Any]] = ("not_json", {"error": exc.msg, "column": exc.colno})
        else:
            if not (may_be_deep(line) and deeper_than(example)):  # as the loader: deeper values crash counters
                for key, message in check(example):
                    at.append(row)
                    keys.append(key)
                    messages.append(message)
                counts.append(count(example))
                continue
            problem = ("too_deep", {"depth": MAX_DEPTH})
        at.append(row)
        keys.append(_BAD_JSON)
        messages.append(problem)  # written once its file line is known (_report)
        counts.append(0)
    lines = data.count(b"\n") + (1 if data and not data.endswith(b"\n") else 0)
    return _Part(lines, np.asarray(rows, dtype=np.int64), np.asarray(counts, dtype=np.int64), at, keys, messages)


def _parse_lines(data: bytes, *, first: bool) -> Iterable[tuple[int, Any]]:
    """``(line, example)`` of JSONL bytes; None for a line that is not JSON or nests too deep."""
    loads = orjson.loads
    if first and data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    for row, line in enumerate(data.split(b"\n"), 1):
        if not line or line.isspace():
            continue
        try:
            example = loads(line)
        except orjson.JSONDecodeError:
            yield row, None
            continue
        yield row, None if may_be_deep(line) and deeper_than(example) else example


def _scan_file_part(path: str, start: int, stop: int, counter: Any, mode: tokens.CountingMode) -> _Part:
    with open(path, "rb") as handle:
        handle.seek(start)
        data = handle.read(stop - start)
    with collector_paused():  # parsed examples hold no cycles; the collector would walk them ~10 % of the time
        return _scan_lines(data, tokens.example_counter(encoding=counter, mode=mode), first=start == 0)


def _scan_list_part(
    start: int, stop: int, items: Sequence[Any] | None, counter: Any, mode: tokens.CountingMode
) -> _Part:
    source = parallel.shared_items(start, stop, items)
    count = tokens.example_counter(encoding=counter, mode=mode)
    return _scan(enumerate(source, 1), count, len(source))


def _line_bounds(size: int, workers: int, next_line_start: Callable[[int], int]) -> list[tuple[int, int]]:
    """Byte ranges of ``size`` bytes that start at line starts, about sixteen per worker (so no worker idles long at
    the end) and at least ``_PART_BYTES/4`` each; ``next_line_start(p)`` is the offset of the first line starting
    after byte ``p`` (``size`` when none does)."""
    step = max(_PART_BYTES // 4, min(_PART_BYTES * 4, size // (workers * 16) + 1))
    cuts = [0]
    while cuts[-1] + step < size:
        position = next_line_start(cuts[-1] + step)
        if position >= size:
            break
        cuts.append(position)
    cuts.append(size)
    return list(itertools.pairwise(cuts))


def _file_bounds(path: Path, size: int, *, workers: int) -> list[tuple[int, int]]:
    """:func:`_line_bounds` of a file."""
    with path.open("rb") as handle:

        def next_line_start(position: int) -> int:
            handle.seek(position)
            handle.readline()
            return handle.tell()

        return _line_bounds(size, workers, next_line_start)


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
    rows_parts, at_parts, keys, messages = [], [], [], []
    for part in parts:
        rows_parts.append(part.rows + offset)
        at_parts.append(np.asarray(part.finding_rows, dtype=np.int64) + offset)
        if _BAD_JSON in part.finding_keys:
            for index, key in enumerate(part.finding_keys):
                if key == _BAD_JSON:
                    part.finding_keys[index] = "data_type"
                    line = part.finding_rows[index] + offset
                    template, values = part.finding_messages[index]
                    part.finding_messages[index] = say(template, line=line, **values)
        keys += part.finding_keys
        messages += part.finding_messages
        offset += part.lines
    example_rows = np.concatenate(rows_parts) if rows_parts else np.zeros(0, dtype=np.int64)
    counts = np.concatenate([p.tokens for p in parts]) if parts else np.zeros(0, dtype=np.int64)
    n = len(example_rows)
    general: list[tuple[str, str]] = []
    if n < MIN_EXAMPLES:
        general.append(("too_few_examples", say("too_few", n=n, minimum=MIN_EXAMPLES)))
    elif n < RECOMMENDED_EXAMPLES:
        general.append(("few_examples", say("few", n=n, recommended=RECOMMENDED_EXAMPLES)))
    if file_bytes is not None and file_bytes > MAX_FILE_BYTES:
        general.append(("file_too_large", say("too_large", mb=f"{file_bytes / 1024**2:,.0f}")))
    limit = None
    if model is not None:
        limit = (prices or load_prices()).limit_for(model)
        if limit is None:
            general.append(("token_limit_not_published", say("limit_not_published", model=model)))
        else:
            over = np.flatnonzero(counts > limit)
            at_parts.append(example_rows[over])
            keys += ["over_token_limit"] * len(over)
            messages += [
                say("over_limit", tokens=f"{int(counts[index]):,}", limit=f"{limit:,}", model=model) for index in over
            ]
    at = np.concatenate(at_parts) if at_parts else np.zeros(0, dtype=np.int64)
    if len(at) > 1 and (np.diff(at) < 0).any():  # over-limit findings go to their row, after its other findings
        order = np.argsort(at, kind="stable")
        at, keys, messages = at[order], [keys[i] for i in order], [messages[i] for i in order]
    by_severity: dict[str, dict[str, int]] = {"error": {}, "warning": {}, "advice": {}}
    for key, count in Counter(itertools.chain((key for key, _ in general), keys)).items():
        by_severity[RULES[key].severity][key] = count
    return ValidationReport(
        rows=n,
        errors=dict(sorted(by_severity["error"].items())),
        warnings=dict(sorted(by_severity["warning"].items())),
        advice=dict(sorted(by_severity["advice"].items())),
        tokens=counts,
        encoding=encoding,
        mode=mode,
        limit=limit,
        approximate=approximate,
        _findings=_Findings(general, at, keys, messages, ids),
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
    return _scan_lines(data, tokens.example_counter(encoding=counter, mode=mode), first=start == 0)


def _byte_bounds(data: bytes, *, workers: int) -> list[tuple[int, int]]:
    """:func:`_line_bounds` of bytes in memory."""

    def next_line_start(position: int) -> int:
        newline = data.find(b"\n", position)
        return len(data) if newline < 0 else newline + 1

    return _line_bounds(len(data), workers, next_line_start)


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
        examples.append(example)
    return lines, examples
