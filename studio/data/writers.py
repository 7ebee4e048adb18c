"""Export the canonical frame to the formats fine-tuners use, and the one CSV writer every CSV export goes through.

A conversation a format cannot hold (several rounds or tool calls in prompt-completion) is never written cut short:
the export raises, or leaves it out when asked to and says how many (:func:`unrepresentable_rows`).

JSONL (OpenAI chat, prompt-completion), JSON (Alpaca, ShareGPT), CSV and Parquet (a flat table: system/user/
assistant, the whole conversation as JSON, tools as JSON, metadata columns). :func:`csv_bytes` is the only place a
CSV is written: formula-looking cells are neutralised and lines end in CRLF, so a spreadsheet neither runs a cell nor
splits a row.
"""

from __future__ import annotations

import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
import pandas as pd

from studio.core.files import atomic_write
from studio.data.formats import Schema, deeper_than, may_be_deep
from studio.data.frame import Example, content_text, iter_examples, metadata_columns, turn_texts
from studio.errors import ExportError

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
_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_formula(value: Any) -> Any:
    """Prefix a cell that a spreadsheet would run as a formula (``= + - @``, tab, CR) with a quote."""
    if isinstance(value, str) and value.startswith(_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_bytes(frame: pd.DataFrame) -> bytes:
    """``frame`` as UTF-8 CSV for spreadsheets: no index, every cell and header starting with ``= + - @``, tab or
    CR prefixed with a quote (:func:`neutralise_formula`), CRLF line ends (RFC 4180).

    CRLF because the csv writer quotes only fields holding a character of the line terminator: with ``"\\n"`` a
    lone ``"\\r"`` in a cell went out unquoted, a spreadsheet split the row there and the rest of the cell
    (``"=..."``) started a new row, past the formula guard.
    """
    safe = frame.map(neutralise_formula)
    safe.columns = [neutralise_formula(str(c)) for c in frame.columns]
    return safe.to_csv(index=False, lineterminator="\r\n").encode("utf-8")


def _with_system(example: dict[str, Any], system_prompt: str | None) -> dict[str, Any]:
    if not system_prompt or any(m.get("role") == "system" for m in example["messages"]):
        return example
    return {**example, "messages": [{"role": "system", "content": system_prompt}, *example["messages"]]}


_RECORD_SCHEMA: dict[str, Schema] = {
    "openai-chat": "chat",
    "prompt-completion": "prompt_completion",
    "alpaca": "alpaca",
    "sharegpt": "sharegpt",
}


def unrepresentable_rows(frame: pd.DataFrame, *, to: ExportFormat) -> list[tuple[int, str]]:
    """``(id, reason)`` of every example that ``to`` cannot hold without losing a turn (see
    :func:`unrepresentable`); empty for the formats that keep whole conversations."""
    schema = _RECORD_SCHEMA.get(to)
    if schema is None or schema == "chat":
        return []
    out = []
    for id_, example in zip(frame["id"].tolist(), iter_examples(frame), strict=True):
        reason = unrepresentable(example, schema)
        if reason:
            out.append((int(id_), reason))
    return out


def unrepresentable_message(rows: list[tuple[int, str]], to: str) -> str:
    """``"4 rows cannot be written as alpaca (ids 0, 1, 4: it has tool calls; id 2: it does not end with an
    assistant answer)"``, for errors and the CLI: each reason with its own ids (the first five of each)."""
    return f"{_rows(len(rows))} cannot be written as {to} ({unrepresentable_reasons(rows)})"


def unrepresentable_reasons(rows: list[tuple[int, str]]) -> str:
    """``"ids 0, 1, 4: it has tool calls; id 2: it does not end with an assistant answer"``: the rows of
    :func:`unrepresentable_rows` grouped by reason, in order of first appearance, five ids shown per reason."""
    by_reason: dict[str, list[int]] = {}
    for id_, reason in rows:
        by_reason.setdefault(reason, []).append(id_)
    return "; ".join(
        f"id{'s' if len(ids) != 1 else ''} {', '.join(map(str, ids[:5]))}{', …' if len(ids) > 5 else ''}: {reason}"
        for reason, ids in by_reason.items()
    )


def keep_formats(rows: list[tuple[int, str]], to: str) -> list[str]:
    """The export formats that hold every row of :func:`unrepresentable_rows`: openai-chat, and sharegpt when
    none of them has an image or audio part; never ``to`` itself."""
    return [
        f for f in ("openai-chat", "sharegpt") if f != to and (f != "sharegpt" or all(r != NON_TEXT for _, r in rows))
    ]


def keep_them(rows: list[tuple[int, str]], to: str) -> str:
    """``"export to openai-chat or sharegpt to keep them"`` (see :func:`keep_formats`)."""
    return f"export to {' or '.join(keep_formats(rows, to))} to keep them"


def _rows(n: int) -> str:
    return f"{n} row{'s' if n != 1 else ''}"


def unwritten_keys(frame: pd.DataFrame, *, to: ExportFormat) -> dict[str, int]:
    """The keys a loader kept beside the conversations (metadata columns) that ``to`` has no place for, each with
    the number of rows holding a value: ``{"source": 3}``. Empty for csv and parquet, which write them as
    columns; the record formats (openai-chat, prompt-completion, alpaca, sharegpt) write only their own keys."""
    if to in ("csv", "parquet"):
        return {}
    counts = {column: int(frame[column].notna().sum()) for column in metadata_columns(frame)}
    return {column: n for column, n in counts.items() if n}


def unwritten_message(keys: dict[str, int], to: str) -> str:
    """``"key 'source' (3 rows) not written: openai-chat has no place for it (csv and parquet keep it)"``."""
    named = ", ".join(f"'{key}' ({n} row{'s' if n != 1 else ''})" for key, n in keys.items())
    one = len(keys) == 1
    return (
        f"key{'' if one else 's'} {named} not written: {to} has no place for {'it' if one else 'them'} "
        f"(csv and parquet keep {'it' if one else 'them'})"
    )


def export_bytes(
    frame: pd.DataFrame, *, to: ExportFormat, system_prompt: str | None = None, skip_unrepresentable: bool = False
) -> bytes:
    """The dataset serialised as ``to``; ``system_prompt`` is injected into examples that have none.

    Raises :class:`~studio.errors.ExportError` naming how many rows (and the first ids) a single-turn format
    (``prompt-completion``; ``alpaca`` for tool calls or images; ``sharegpt`` for images) cannot hold, unless
    ``skip_unrepresentable``: then those rows are left out; :func:`unrepresentable_rows` lists them, for the
    caller to say so.
    """
    if to not in EXPORT_FORMATS:
        raise ExportError(f"unknown export format {to!r}; choose one of {', '.join(EXPORT_FORMATS)}")
    skipped = unrepresentable_rows(frame, to=to)
    if skipped and not skip_unrepresentable:
        raise ExportError(
            f"{unrepresentable_message(skipped, to)}; {keep_them(skipped, to)}, or skip them (--skip-unrepresentable)"
        )
    if skipped:
        frame = frame[~frame["id"].isin([i for i, _ in skipped])]
    examples = [_with_system(e, system_prompt) for e in iter_examples(frame)]
    if to in ("openai-chat", "prompt-completion"):
        schema: Schema = "chat" if to == "openai-chat" else "prompt_completion"
        return b"".join(orjson.dumps(example_to_record(e, schema)) + b"\n" for e in examples)
    if to in ("alpaca", "sharegpt"):
        records = [example_to_record(e, to) for e in examples]
        return json.dumps(records, ensure_ascii=False, indent=1).encode("utf-8")
    table = _flat_table(frame, examples)
    if to == "csv":
        return csv_bytes(table)
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


# ---------------------------------------------------------------------------------------------- records


NON_TEXT = "it has non-text content (an image or audio part)"
"""The reason :func:`unrepresentable` gives for a content part that is not text (sharegpt cannot hold it either)."""


def unrepresentable(example: Example, schema: Schema) -> str | None:
    """Why ``example`` cannot be written as a ``schema`` record without losing a turn, or None when it can.

    ``chat`` keeps everything; ``sharegpt`` every turn but no image or audio part. ``alpaca`` keeps a system prompt
    and alternating user/assistant text rounds (earlier ones as ``history``); ``prompt_completion`` and ``qa`` keep
    one text round (a system prompt is folded into the prompt / kept in its column).
    """
    if schema == "chat":
        return None
    messages = example["messages"]
    if any(
        isinstance(m.get("content"), list)
        and any(not isinstance(p, Mapping) or p.get("type") != "text" for p in m["content"])
        for m in messages
    ):
        return NON_TEXT
    if schema == "sharegpt":
        return None
    if any(m.get("role") == "tool" or m.get("tool_calls") or m.get("function_call") for m in messages):
        return "it has tool calls"
    start = 1 if messages and messages[0].get("role") == "system" else 0
    roles = [m.get("role") for m in messages[start:]]
    if not roles or roles[-1] != "assistant":
        return "it does not end with an assistant answer"
    if roles != ["user", "assistant"] * (len(roles) // 2) or len(roles) % 2:
        return "its turns are not alternating user/assistant rounds after one system prompt"
    if len(roles) > 2 and schema != "alpaca":
        return f"it has {len(roles) // 2} rounds and the format holds one"
    if len(roles) > 2 and any(m.get("weight") == 0 for m in messages):
        return "it has assistant turns with weight 0, which alpaca's history cannot mark"
    return None


def example_to_record(example: Example, schema: Schema) -> dict[str, Any]:
    """One output record of ``schema`` for a canonical example (see module docs for what each format keeps).

    For ``alpaca``, ``prompt_completion`` and ``qa`` check :func:`unrepresentable` first: a conversation those
    formats cannot hold is written as its first system, last user and last assistant turn.
    """
    messages = example["messages"]
    system, user, assistant = turn_texts(messages)
    if schema == "chat":
        return dict(example)
    if schema == "prompt_completion":
        prompt = f"{system}\n\n{user or ''}" if system else (user or "")
        return {"prompt": prompt, "completion": assistant or ""}
    if schema == "alpaca":
        record: dict[str, Any] = {"instruction": user or "", "input": "", "output": assistant or ""}
        if system:
            record["system"] = system
        rounds = [content_text(m.get("content")) for m in messages if m.get("role") in ("user", "assistant")]
        if len(rounds) > 2 and len(rounds) % 2 == 0:
            record["history"] = [rounds[i : i + 2] for i in range(0, len(rounds) - 2, 2)]
        return record
    if schema == "sharegpt":
        return _to_sharegpt(example)
    record = {"question": user or "", "answer": assistant or ""}
    if system:
        record["system"] = system
    return record


_SHAREGPT_MAPPED = frozenset({"role", "content", "tool_calls", "tool_call_id"})


def _to_sharegpt(example: Example) -> dict[str, Any]:
    names = {"user": "human", "assistant": "gpt", "system": "system", "tool": "observation"}
    turns = []
    for message in example["messages"]:
        role = message.get("role")
        if role == "assistant" and message.get("tool_calls"):
            for call in message["tool_calls"]:
                function = call.get("function", {})
                value = json.dumps(
                    {"name": function.get("name"), "arguments": _arguments(function.get("arguments"))},
                    ensure_ascii=False,
                )
                turns.append({"from": "function_call", "value": value})
            continue
        turn = {"from": names.get(str(role), str(role)), "value": content_text(message.get("content"))}
        turn.update((k, v) for k, v in message.items() if k not in _SHAREGPT_MAPPED)  # weight, name, ...: kept
        turns.append(turn)
    record: dict[str, Any] = {"conversations": turns}
    if example.get("tools"):
        record["tools"] = json.dumps(example["tools"], ensure_ascii=False)
    return record


def _arguments(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            parsed = orjson.loads(arguments)  # not json.loads: lone surrogates would make the export unencodable
        except orjson.JSONDecodeError:
            return arguments
        return arguments if may_be_deep(arguments) and deeper_than(parsed) else parsed
    return arguments


def export_format(path: str | Path, to: ExportFormat | None = None) -> ExportFormat:
    """The format :func:`export_dataset` writes ``path`` in: ``to``, else by suffix (``.csv``, ``.parquet``,
    ``.json`` → sharegpt, anything else → openai-chat)."""
    by_suffix: dict[str, ExportFormat] = {".csv": "csv", ".parquet": "parquet", ".json": "sharegpt"}
    return to if to is not None else by_suffix.get(Path(path).suffix.lower(), "openai-chat")


def export_dataset(
    frame: pd.DataFrame,
    path: str | Path,
    *,
    to: ExportFormat | None = None,
    system_prompt: str | None = None,
    skip_unrepresentable: bool = False,
) -> Path:
    """Write the dataset to ``path``; the format follows ``to`` or the suffix (``.jsonl`` → OpenAI chat).
    ``skip_unrepresentable`` as in :func:`export_bytes`.

    All or nothing (:func:`~studio.core.files.atomic_write`): a crash or a full disk leaves the previous ``path``
    (or none), never half a file; a failed write raises :class:`~studio.errors.WriteError` naming ``path``."""
    path = Path(path)
    data = export_bytes(
        frame, to=export_format(path, to), system_prompt=system_prompt, skip_unrepresentable=skip_unrepresentable
    )
    return atomic_write(path, data)
