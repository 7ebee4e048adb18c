"""The canonical dataset: one row per training example, whatever file it came from.

Columns, in order:
- ``id`` (int64): stable example id, assigned at import in file order; edits and deletions never renumber.
- ``messages`` (object): the conversation as OpenAI-style message dicts, kept losslessly (multi-turn, ``name``,
  ``tool_calls``, ``tool_call_id``, ``weight``, list-valued ``content`` parts).
- ``system`` / ``user`` / ``assistant`` (pyarrow string): first system, last user, last assistant turn as text,
  for the grid and the rules. ``<NA>`` when the conversation has no such turn.
- ``source_row`` (int64): 1-based line (JSONL) or row (CSV/Excel/Parquet/JSON array) in the original file.
- ``tools`` / ``parallel_tool_calls`` (object, optional): OpenAI's example-level keys, present when the source had them.
- every other column of the source, kept as metadata.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal

import pandas as pd
import pyarrow as pa

from studio.core.chat import content_text, with_text

TEXT = pd.StringDtype("pyarrow")
TextField = Literal["system", "user", "assistant"]
TEXT_FIELDS: tuple[TextField, ...] = ("system", "user", "assistant")

CORE_COLUMNS = ("id", "messages", "system", "user", "assistant", "source_row")
# Example-level keys OpenAI's chat fine-tuning format accepts next to "messages".
EXAMPLE_KEYS = ("tools", "parallel_tool_calls")

Message = dict[str, Any]
Example = dict[str, Any]


def turn_texts(messages: Sequence[Mapping[str, Any]]) -> tuple[str | None, str | None, str | None]:
    """(first system, last user, last assistant) contents as text; None where the turn is absent."""
    system = user = assistant = None
    for message in messages:  # the messages first, their text once at the end
        role = message.get("role")
        if role == "user":
            user = message
        elif role == "assistant":
            assistant = message
        elif role == "system" and system is None:
            system = message
    return _text_of(system), _text_of(user), _text_of(assistant)


def _text_of(message: Mapping[str, Any] | None) -> str | None:
    return None if message is None else content_text(message.get("content"))


def build_frame(
    examples: Sequence[Mapping[str, Any]],
    source_rows: Sequence[int],
    metadata: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Canonical frame from examples (``{"messages": [...], "tools"?: ..., ...}``) and their source rows.

    ``metadata`` holds the source's other columns, one row per example, in the same order.
    """
    if len(examples) != len(source_rows):
        raise ValueError(f"{len(examples)} examples but {len(source_rows)} source rows")
    messages = [list(example.get("messages") or []) for example in examples]
    texts = [turn_texts(conversation) for conversation in messages]
    frame = pd.DataFrame(
        {
            "id": pd.Series(range(len(examples)), dtype="int64"),
            "messages": pd.Series(messages, dtype=object),
            "system": pd.Series([t[0] for t in texts], dtype=TEXT),
            "user": pd.Series([t[1] for t in texts], dtype=TEXT),
            "assistant": pd.Series([t[2] for t in texts], dtype=TEXT),
            "source_row": pd.Series(source_rows, dtype="int64"),
        }
    )
    for key in EXAMPLE_KEYS:
        values = [example.get(key) for example in examples]
        if any(value is not None for value in values):
            frame[key] = pd.Series(values, dtype=object)
    if metadata is not None and len(metadata.columns):
        if len(metadata) != len(frame):
            raise ValueError(f"metadata has {len(metadata)} rows for {len(frame)} examples")
        extra = metadata.reset_index(drop=True)
        extra = extra[[c for c in extra.columns if c not in frame.columns]]
        frame = pd.concat([frame, extra], axis=1)
    return frame


def metadata_columns(frame: pd.DataFrame) -> list[str]:
    """Columns that came from the source and are not part of the canonical model."""
    return [c for c in frame.columns if c not in CORE_COLUMNS and c not in EXAMPLE_KEYS]


def iter_examples(frame: pd.DataFrame) -> Iterator[Example]:
    """OpenAI chat examples (``{"messages": [...]}`` plus tools keys when set), in frame order."""
    keys = [k for k in EXAMPLE_KEYS if k in frame.columns]
    columns = [frame["messages"]] + [frame[k] for k in keys]
    for values in zip(*columns, strict=True):
        example: Example = {"messages": values[0]}
        for key, value in zip(keys, values[1:], strict=True):
            if value is not None and not (isinstance(value, float) and pd.isna(value)):
                example[key] = value
        yield example


def set_turn(messages: Sequence[Mapping[str, Any]], field: TextField, text: str) -> list[Message]:
    """A copy of ``messages`` where the turn shown in column ``field`` now says ``text``.

    Edits the first system / last user / last assistant message; a missing system turn is inserted first, a
    missing user or assistant turn is appended. Other keys of the edited message are kept, and so are the
    non-text parts of a list-valued content (:func:`studio.core.chat.with_text`).
    """
    out = [dict(m) for m in messages]
    indexes = [i for i, m in enumerate(out) if m.get("role") == field]
    if indexes:
        i = indexes[0] if field == "system" else indexes[-1]
        out[i]["content"] = with_text(out[i].get("content"), text)
    elif field == "system":
        out.insert(0, {"role": "system", "content": text})
    else:
        out.append({"role": field, "content": text})
    return out


def refresh_text_columns(frame: pd.DataFrame, rows: Iterable[int] | None = None) -> pd.DataFrame:
    """Recompute ``system``/``user``/``assistant`` from ``messages`` (all rows, or the given positions)."""
    out = frame.copy()
    positions = list(range(len(out))) if rows is None else list(rows)
    if not positions:
        return out
    texts = [turn_texts(out["messages"].iat[p]) for p in positions]
    for k, field in enumerate(TEXT_FIELDS):
        values = [t[k] for t in texts]
        if len(positions) <= _SPLICE_LIMIT and field in out.columns and out[field].dtype == TEXT:
            column = out[field]
            changed = {p: v for p, v in zip(positions, values, strict=True) if _text_at(column, p) != v}
            if changed:
                out[field] = _spliced(column, changed)
            continue
        column = out[field].copy()
        column.iloc[positions] = pd.Series(values, dtype=TEXT).to_numpy()
        out[field] = column.astype(TEXT)
    return out


_SPLICE_LIMIT = 16
"""Up to this many rows, text columns are updated by splicing chunks (no copy of the other rows)."""


def set_turns(frame: pd.DataFrame, name: TextField, values: Mapping[int, str]) -> pd.DataFrame:
    """A copy of ``frame`` (fresh ``RangeIndex``) where the rows at these positions say ``values`` in turn ``name``:
    :func:`set_turn` on their ``messages``, then :func:`refresh_text_columns` on those rows only."""
    out = frame.reset_index(drop=True)
    if not values:
        return out.copy(deep=False)
    messages = out["messages"].copy()
    for position, text in values.items():
        messages.iat[position] = set_turn(messages.iat[position] or [], name, text)
    out = out.copy(deep=False)
    out["messages"] = messages
    return refresh_text_columns(out, sorted(values))


def _text_at(column: pd.Series, position: int) -> str | None:
    value = column.iat[position]
    return None if value is pd.NA or value is None else value


def _spliced(column: pd.Series, values: Mapping[int, str | None]) -> pd.Series:
    """``column`` with ``values`` at these positions: the Arrow buffers of the other rows are shared, not copied
    (one cell edit on 100k rows: 0.1 ms instead of 11 ms); chunks are merged once there are many."""
    array = column.array
    chunks = array.__arrow_array__()
    start = 0
    pieces = []
    for position in sorted(values):
        pieces += [chunks.slice(start, position - start), pa.chunked_array([[values[position]]], chunks.type)]
        start = position + 1
    pieces.append(chunks.slice(start))
    joined = pa.chunked_array([c for piece in pieces for c in piece.chunks if len(c)], chunks.type)
    if joined.num_chunks > 64:
        joined = joined.combine_chunks()
    return pd.Series(type(array)(joined), index=column.index, name=column.name)


def conversation_text(frame: pd.DataFrame) -> pd.Series:
    """Every turn's text of each example joined into one string (for duplicate detection)."""
    joined = [
        "\n".join(f"{m.get('role', '')}: {content_text(m.get('content'))}" for m in conversation)
        for conversation in frame["messages"]
    ]
    return pd.Series(joined, index=frame.index, dtype=TEXT)
