"""OpenAI chat fine-tuning format checks: every finding at once, as a DataFrame with row ids.

A superset of the checks in OpenAI's cookbook notebook "Data preparation and analysis for chat model fine-tuning",
under the same keys, without its crashes and with what it gets wrong fixed (the ``tool`` role, ``tool_calls``,
example-level ``tools``/``parallel_tool_calls``, ``weight``, list-valued ``content``, multi-turn). :data:`RULES`
lists every key with its severity and a one-line description. One finding per example and key; its message names
the message (1-based) and the value at fault.

``validate_file`` reads JSONL with orjson line by line over one worker process per core, checking and counting
tokens in the same pass; a line that is not JSON is a ``data_type`` finding naming the line, never a crash.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson
import pandas as pd

from studio.cost import tokens
from studio.errors import LoadError
from studio.data.formats import MAX_DEPTH, deeper_than, may_be_deep
from studio.cost.prices import PriceTable, load_prices

Severity = Literal["error", "warning", "advice"]


@dataclass(frozen=True)
class Rule:
    key: str
    severity: Severity
    description: str


RULES: dict[str, Rule] = {
    rule.key: rule
    for rule in (
        Rule("data_type", "error", "The example (or one of its messages) is not a JSON object."),
        Rule("missing_messages_list", "error", "The example has no non-empty 'messages' list."),
        Rule("message_missing_key", "error", "A message lacks 'role', or 'content' where one is required."),
        Rule("message_unrecognized_key", "error", "A message has a key OpenAI's chat format does not define."),
        Rule("unrecognized_role", "error", "A role other than system, developer, user, assistant, tool or function."),
        Rule("missing_content", "error", "Content is empty, null where text is required, or not text/text parts."),
        Rule("example_missing_assistant_message", "error", "The conversation has no assistant message to learn."),
        Rule("invalid_weight", "error", "'weight' must be 0 or 1, and only on assistant messages."),
        Rule("invalid_tool_calls", "error", "Malformed 'tool_calls', or a tool message without 'tool_call_id'."),
        Rule("invalid_tools", "error", "Malformed example-level 'tools' or 'parallel_tool_calls'."),
        Rule("too_few_examples", "error", "OpenAI requires at least 10 examples."),
        Rule("missing_system_message", "warning", "No system message (fine if you never use one at inference)."),
        Rule("missing_user_message", "warning", "No user message."),
        Rule("example_unrecognized_key", "warning", "A top-level key other than messages, tools, parallel_tool_calls."),
        Rule("over_token_limit", "warning", "Longer than the model's per-example limit; OpenAI truncates it."),
        Rule("file_too_large", "warning", "Over 512 MB, OpenAI's upload limit for a training file."),
        Rule("few_examples", "advice", "Fewer than 50 examples: OpenAI sees clear gains from 50-100 on."),
        Rule("token_limit_not_published", "advice", "OpenAI has not published this model's per-example limit."),
    )
}

MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50
MAX_FILE_BYTES = 512 * 1024 * 1024
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"})
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})
FINDING_COLUMNS = ("row", "id", "severity", "key", "message")
# Files below this size are read in this process; above it, in parts over worker processes.
PARALLEL_MIN_BYTES = 4 * 1024 * 1024
_PART_BYTES = 8 * 1024 * 1024

Finding = tuple[str, str]  # (key, message)


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
    mode: tokens.CountingMode
    limit: int | None
    approximate: bool = False

    @property
    def ok(self) -> bool:
        """True when nothing blocks training (warnings and advice may remain)."""
        return not self.errors

    def summary(self) -> dict[str, Any]:
        """``{"rows", "errors", "warnings", "advice"}`` as plain JSON-ready values."""
        return {"rows": self.rows, "errors": dict(self.errors), "warnings": dict(self.warnings),
                "advice": dict(self.advice)}


# --- checks on one example -----------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _check_tool_calls(calls: Any, where: str, out: list[Finding]) -> None:
    if not isinstance(calls, list) or not calls:
        out.append(("invalid_tool_calls", f"{where}: 'tool_calls' must be a non-empty list, got {_kind(calls)}"))
        return
    for j, call in enumerate(calls, 1):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(function, Mapping):
            out.append(("invalid_tool_calls", f"{where}: tool call {j} needs a 'function' object"))
        elif not isinstance(call.get("id"), str) or call.get("type", "function") != "function":
            out.append(("invalid_tool_calls", f"{where}: tool call {j} needs a string 'id' and type 'function'"))
        elif not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            out.append(("invalid_tool_calls", f"{where}: tool call {j} needs function 'name' and 'arguments' "
                                              "as strings (arguments is JSON text)"))


def _check_content(content: Any, role: Any, where: str, out: list[Finding]) -> None:
    if isinstance(content, list):
        if not content:
            out.append(("missing_content", f"{where}: content is an empty list"))
        for j, part in enumerate(content, 1):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
                continue
            if kind == "image_url" and role == "user" and isinstance(part.get("image_url"), Mapping):
                continue
            out.append(("missing_content", f"{where}: content part {j} is not a non-empty text part"
                                           + (" or a user image" if role == "user" else "")))
            return
    elif isinstance(content, str):
        if not content:
            out.append(("missing_content", f"{where}: content is empty"))
    else:
        out.append(("missing_content", f"{where}: content is {_kind(content)}, expected text or a list of parts"))


def _check_message(message: Any, i: int, out: list[Finding]) -> Any:
    """Findings of message ``i`` (1-based) appended to ``out``; returns its role."""
    where = f"message {i}"
    if not isinstance(message, Mapping):
        out.append(("data_type", f"{where} is {_kind(message)}, not an object"))
        return None
    role = message.get("role")
    if role is None:
        out.append(("message_missing_key", f"{where} has no 'role'"))
    elif not isinstance(role, str) or role not in ROLES:
        out.append(("unrecognized_role", f"{where} has role {role!r}"))
    if not MESSAGE_KEYS.issuperset(message):
        extra = ", ".join(repr(k) for k in message if k not in MESSAGE_KEYS)
        out.append(("message_unrecognized_key", f"{where} has unrecognized key {extra}"))
    calls = message.get("tool_calls")
    acts = calls is not None or message.get("function_call") is not None
    if role == "assistant" and acts and message.get("content") is None:
        pass  # an assistant turn that only calls tools needs no content
    elif "content" not in message:
        out.append(("message_missing_key", f"{where} has no 'content'"))
    else:
        _check_content(message["content"], role, where, out)
    if calls is not None:
        if role != "assistant":
            out.append(("invalid_tool_calls", f"{where}: only assistant messages may have 'tool_calls'"))
        else:
            _check_tool_calls(calls, where, out)
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        out.append(("invalid_tool_calls", f"{where}: a tool message needs the 'tool_call_id' it answers"))
    if "weight" in message:
        weight = message["weight"]
        if isinstance(weight, bool) or weight not in (0, 1):
            out.append(("invalid_weight", f"{where}: weight is {weight!r}, expected 0 or 1"))
        elif role != "assistant":
            out.append(("invalid_weight", f"{where}: weight is only allowed on assistant messages"))
    return role


def _check_tools(example: Mapping[str, Any], out: list[Finding]) -> None:
    if "tools" in example:
        tools = example["tools"]
        if not isinstance(tools, list):
            out.append(("invalid_tools", f"'tools' is {_kind(tools)}, expected a list"))
        else:
            for j, tool in enumerate(tools, 1):
                function = tool.get("function") if isinstance(tool, Mapping) else None
                if (
                    not isinstance(function, Mapping)
                    or tool.get("type", "function") != "function"
                    or not isinstance(function.get("name"), str)
                ):
                    out.append(("invalid_tools", f"tool {j} needs type 'function' and a function with a 'name'"))
                    break
    if "parallel_tool_calls" in example and not isinstance(example["parallel_tool_calls"], bool):
        out.append(("invalid_tools", f"'parallel_tool_calls' is {example['parallel_tool_calls']!r}, "
                                     "expected true or false"))


def check_example(example: Any) -> list[Finding]:
    """Every ``(key, message)`` finding of one example, at most one per key (the first, with a count)."""
    if not isinstance(example, Mapping):
        return [("data_type", f"the example is {_kind(example)}, not an object")]
    out: list[Finding] = []
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        got = "missing" if messages is None else f"{_kind(messages)}" if not isinstance(messages, list) else "empty"
        out.append(("missing_messages_list", f"'messages' is {got}; expected a non-empty list"))
    else:
        roles = set()
        for i, message in enumerate(messages, 1):
            if type(message) is dict and len(message) == 2:  # the common {"role", "content"}: fast path
                role, content = message.get("role"), message.get("content")
                if type(role) is str and role in _PLAIN_ROLES and type(content) is str and content:
                    roles.add(role)
                    continue
            role = _check_message(message, i, out)
            if isinstance(role, str):
                roles.add(role)
        if "assistant" not in roles:
            out.append(("example_missing_assistant_message", "no assistant message"))
        if "system" not in roles and "developer" not in roles:
            out.append(("missing_system_message", "no system message"))
        if "user" not in roles:
            out.append(("missing_user_message", "no user message"))
    if "tools" in example or "parallel_tool_calls" in example:
        _check_tools(example, out)
    if not EXAMPLE_KEYS.issuperset(example):
        extra = ", ".join(repr(k) for k in example if k not in EXAMPLE_KEYS)
        out.append(("example_unrecognized_key", f"top-level key {extra} is not part of the chat format"))
    return _one_per_key(out) if len(out) > 1 else out


def _one_per_key(findings: list[Finding]) -> list[Finding]:
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for key, message in findings:
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, message)
    return [(key, first[key] + (f" (and {counts[key] - 1} more)" if counts[key] > 1 else "")) for key in first]


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
    source = tokens.shared_items(start, stop, items)
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
    return list(zip(cuts[:-1], cuts[1:]))


# --- reports -------------------------------------------------------------------------------------------------


def _resolve(model: str | None, encoding: str | None, mode: tokens.CountingMode) -> tuple[Any, str, bool]:
    """(counter for example_counter, its name, approximate?)"""
    if encoding is not None:
        tokens.get_encoding(encoding)  # rejects unknown names early
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
            general.append((pd.NA, "token_limit_not_published",
                            f"{model}: per-example token limit not published; over-limit rows not checked"))
        else:
            for index in np.flatnonzero(counts > limit):
                records.append((int(example_rows[index]), "over_token_limit",
                                f"{int(counts[index]):,} tokens > {limit:,} for {model}; "
                                "OpenAI truncates the rest"))
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
    workers = tokens.worker_count(workers)
    if len(items) < tokens.PARALLEL_MIN_EXAMPLES or workers == 1 or not isinstance(counter, str):
        parts = [_scan_list_part(0, len(items), items, counter, mode)]
        if on_progress:
            on_progress(1.0)
    else:
        tasks = [(a, b, counter, mode) for a, b in tokens.slices(len(items), workers=workers)]
        parts = tokens.map_parts(_scan_list_part, tasks, workers=workers, items=items, on_progress=on_progress)
    return _report(parts, model=model, prices=prices, ids=ids, encoding=name, mode=mode, approximate=approximate)


def validate_examples(examples: Iterable[Any], *, model: str | None = None,
                      ids: Sequence[Any] | None = None) -> pd.DataFrame:
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
    workers = tokens.worker_count(workers)
    if size < PARALLEL_MIN_BYTES or workers == 1 or not isinstance(counter, str):
        parts = [_scan_file_part(str(path), 0, size, counter, mode)]
        if on_progress:
            on_progress(1.0)
    else:
        tokens.get_encoding(counter)  # forked workers inherit it
        tasks = [(str(path), a, b, counter, mode) for a, b in _file_bounds(path, size, workers=workers)]
        parts = tokens.map_parts(_scan_file_part, tasks, workers=workers, on_progress=on_progress)
    return _report(parts, model=model, prices=prices, ids=None, encoding=name, mode=mode,
                   approximate=approximate, file_bytes=size)


def _scan_bytes_part(start: int, stop: int, items: bytes | None, counter: Any, mode: tokens.CountingMode) -> _Part:
    data = bytes(tokens.shared_items(start, stop, items))
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
    return list(zip(cuts[:-1], cuts[1:]))


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
    workers = tokens.worker_count(workers)
    if len(data) < PARALLEL_MIN_BYTES or workers == 1 or not isinstance(counter, str):
        parts = [_scan_bytes_part(0, len(data), data, counter, mode)]
        if on_progress:
            on_progress(1.0)
    else:
        tokens.get_encoding(counter)
        tasks = [(a, b, counter, mode) for a, b in _byte_bounds(data, workers=workers)]
        parts = tokens.map_parts(_scan_bytes_part, tasks, workers=workers, items=data, on_progress=on_progress)
    return _report(parts, model=model, prices=prices, ids=None, encoding=name, mode=mode,
                   approximate=approximate, file_bytes=len(data))


def jsonl_examples(data: bytes) -> tuple[list[int], list[Any]]:
    """(line numbers, parsed examples) of JSONL bytes; a line that is not JSON gives None."""
    lines, examples = [], []
    for row, example in _parse_lines(data, first=True):
        lines.append(row)
        examples.append(None if isinstance(example, _BadLine) else example)
    return lines, examples


def describe_rules() -> pd.DataFrame:
    """Every rule key with its severity and description (for docs and the UI)."""
    return pd.DataFrame([(r.key, r.severity, r.description) for r in RULES.values()],
                        columns=["key", "severity", "description"])

