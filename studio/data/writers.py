"""Export the canonical frame to the formats fine-tuners use, and the one CSV writer every CSV export goes through.

JSONL (OpenAI chat, prompt-completion), JSON (Alpaca, ShareGPT), CSV and Parquet (a flat table: system/user/
assistant, the whole conversation as JSON, tools as JSON, metadata columns). :func:`csv_bytes` is the only place a
CSV is written: formula-looking cells are neutralised and lines end in CRLF, so a spreadsheet neither runs a cell nor
splits a row.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Literal, get_args

import orjson
import pandas as pd

from studio.data.formats import Schema, example_to_record
from studio.data.frame import iter_examples, metadata_columns
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


def export_dataset(frame: pd.DataFrame, path: str | Path, *, to: ExportFormat | None = None,
                   system_prompt: str | None = None) -> Path:
    """Write the dataset to ``path``; the format follows ``to`` or the suffix (``.jsonl`` → OpenAI chat)."""
    path = Path(path)
    if to is None:
        to = {".csv": "csv", ".parquet": "parquet", ".json": "sharegpt"}.get(path.suffix.lower(), "openai-chat")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(export_bytes(frame, to=to, system_prompt=system_prompt))
    return path
