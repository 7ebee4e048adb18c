"""Record schemas: how one source record (a JSON object or a table row) maps to a canonical example (the way back
is :func:`studio.data.writers.example_to_record`).

Schemas:
- ``chat``: ``{"messages": [...], "tools"?: [...], "parallel_tool_calls"?: bool}`` (OpenAI chat fine-tuning).
- ``prompt_completion``: OpenAI's legacy ``{"prompt": ..., "completion": ...}``. Its old conventions (a ``" ->"``
  separator at the end of the prompt, a leading space and an ``" END"``/newline stop on the completion) are
  stripped only when asked (``strip_legacy=True``).
- ``alpaca``: ``{"instruction", "input", "output", "system"?, "history"?}``; ``input``, when present, follows the
  instruction after a blank line; ``history`` (LLaMA-Factory's multi-turn form, a list of ``[instruction, output]``
  pairs) becomes the earlier user/assistant rounds, in order.
- ``sharegpt``: ``{"conversations": [{"from": "human"|"gpt"|"system"|"function_call"|"observation", "value": ...}],
  "tools"?: ...}``; ``role``/``content`` keys are accepted as well.
- ``qa``: question/answer columns (and optionally a system column), named by a :class:`ColumnMapping`.

``chat`` also reads LLaMA-Factory's newer form: ``content`` as a list of ``{"type": "text", "value": ...}`` parts
(loaded as text) and ``loss_weight`` on messages (loaded as OpenAI's ``weight`` on assistant turns). What a record
maps that way is counted in ``notes`` (a :class:`collections.Counter` the caller passes) so the loader can say so.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

import orjson

from studio.core.nesting import MAX_DEPTH, deeper_than, may_be_deep
from studio.data.frame import EXAMPLE_KEYS, Example

Schema = Literal["chat", "prompt_completion", "alpaca", "sharegpt", "qa"]
SCHEMAS: tuple[Schema, ...] = get_args(Schema)

# Column names recognised for question/answer tables, most specific first (English and Spanish).
USER_NAMES = ("question", "prompt", "user", "query", "input", "instruction", "pregunta", "consulta", "q")
ASSISTANT_NAMES = ("answer", "response", "assistant", "completion", "output", "reply", "respuesta", "a")
SYSTEM_NAMES = ("system", "system_prompt", "sistema", "instructions")

_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "chatgpt": "assistant",
    "bing": "assistant",
    "system": "system",
    "function_call": "assistant",
    "observation": "tool",
    "tool": "tool",
    "function": "tool",
}


# Deeper JSON is rejected when read: orjson writes at most 255 levels and Python's repr/json about 1,000, so a
# deeper value would load and then crash an export. Real datasets (tool schemas included) stay under 20.
class RecordError(ValueError):
    """One record cannot become an example; ``field`` names the offending key."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class ColumnMapping:
    """Which source columns hold the user turn, the assistant turn and (optionally) the system prompt."""

    user: str
    assistant: str
    system: str | None = None

    def columns(self) -> tuple[str, ...]:
        return tuple(c for c in (self.system, self.user, self.assistant) if c)


def _normalise(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


def guess_mapping(columns: Iterable[str]) -> ColumnMapping | None:
    """A question/answer mapping from column names, or None when no user+answer pair is recognisable."""
    by_name = {_normalise(c): c for c in columns}

    def first(names: Sequence[str], exclude: set[str]) -> str | None:
        for name in names:
            column = by_name.get(name)
            if column is not None and column not in exclude:
                return column
        return None

    user = first(USER_NAMES, set())
    assistant = first(ASSISTANT_NAMES, {user} if user else set())
    if user is None or assistant is None:
        return None
    system = first(SYSTEM_NAMES, {user, assistant})
    return ColumnMapping(user=user, assistant=assistant, system=system)


def loose_mapping(columns: Sequence[str], records: Sequence[Mapping[str, Any]]) -> ColumnMapping | None:
    """A question/answer mapping for a table whose only text columns are a prompt-like one (``prompt``,
    ``question``, ``input``...) and one other (``text``, ``target``...), judged on the first 200 records; None
    otherwise. The loader warns when it uses one, naming both columns."""
    by_name = {_normalise(c): c for c in columns}
    user = next((by_name[name] for name in USER_NAMES if name in by_name), None)
    if user is None:
        return None
    sample = records[:200]

    def is_text(column: str) -> bool:
        values = [r.get(column) for r in sample if r.get(column) not in (None, "")]
        texts = [v for v in values if isinstance(v, str)]
        return bool(values) and len(texts) == len(values) and not all(_numeric(v) for v in texts)

    others = [c for c in columns if c != user and is_text(c)]
    if len(others) != 1:
        return None
    return ColumnMapping(user=user, assistant=others[0])


def _numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def parse_columns(spec: str) -> ColumnMapping:
    """``user=COL,assistant=COL[,system=COL]`` (the ``--columns`` flag) as a :class:`ColumnMapping`.

    Raises ``ValueError`` naming what is wrong: an unknown role, a missing ``=``, or no user/assistant column.
    """
    roles: dict[str, str] = {}
    for part in spec.split(","):
        role, sep, column = part.partition("=")
        role, column = role.strip().lower(), column.strip()
        if not sep or not column:
            raise ValueError(f"expected ROLE=COLUMN, got {part.strip()!r}")
        if role not in ("user", "assistant", "system"):
            raise ValueError(f"unknown role {role!r}; use user, assistant or system")
        roles[role] = column
    if "user" not in roles or "assistant" not in roles:
        raise ValueError("name both the user and the assistant column, e.g. user=prompt,assistant=text")
    return ColumnMapping(user=roles["user"], assistant=roles["assistant"], system=roles.get("system"))


def detect_schema(keys: Iterable[str]) -> Schema | None:
    """The schema a record with these keys (or a table with these columns) most likely follows."""
    names = {_normalise(k) for k in keys}
    if "messages" in names:
        return "chat"
    if "conversations" in names:
        return "sharegpt"
    if {"instruction", "output"} <= names:
        return "alpaca"
    if {"prompt", "completion"} <= names:
        return "prompt_completion"
    if guess_mapping(keys) is not None:
        return "qa"
    return None


def schema_keys(schema: Schema, mapping: ColumnMapping | None = None) -> tuple[str, ...]:
    """Source keys consumed by ``schema``; every other key is kept as metadata."""
    if schema == "chat":
        return ("messages", *EXAMPLE_KEYS)
    if schema == "sharegpt":
        return ("conversations", "tools", "system")
    if schema == "alpaca":
        return ("instruction", "input", "output", "system", "history")
    if schema == "prompt_completion":
        return ("prompt", "completion")
    return mapping.columns() if mapping else ()


def _text(value: Any, field: str) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value != value:  # NaN from a table cell
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float, bool)):
        return str(value)
    raise RecordError(f"expected text, got {type(value).__name__}", field)


def _json_cell(text: str, field: str) -> Any:
    """JSON text from a table cell. orjson, like the JSONL reader: a lone surrogate escape or nesting deeper than
    :data:`MAX_DEPTH` is an error here, where the stdlib would return unencodable text or raise RecursionError."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        message = exc.msg.split(": line ")[0]
        if "surrogate" in message:
            message = "lone surrogate in a \\u escape; an emoji cut in half?"
        raise RecordError(f"not valid JSON ({message} at column {exc.colno})", field) from None
    if may_be_deep(text) and deeper_than(value):
        raise RecordError(f"nested deeper than {MAX_DEPTH} levels", field)
    return value


def _chat(record: Mapping[str, Any], notes: Counter[str]) -> Example:
    messages = record.get("messages")
    if isinstance(messages, str) and messages.lstrip().startswith("["):  # a JSON column of a table
        messages = _json_cell(messages, "messages")
    if not isinstance(messages, list):
        raise RecordError(f"must be a list of messages, got {type(messages).__name__}", "messages")
    parts = False  # a message with list content or loss_weight: maybe LLaMA-Factory's form (checked below)
    for position, message in enumerate(messages, 1):
        if type(message) is not dict and not isinstance(message, dict):  # the exact type first: fast
            raise RecordError(f"message {position} is {type(message).__name__}, not an object", "messages")
        if not parts and ("loss_weight" in message or isinstance(message.get("content"), list)):
            parts = True
    if parts and any(_is_llamafactory(m) for m in messages):
        messages = [_from_llamafactory(m, notes) for m in messages]
    example: Example = {"messages": messages}
    for key in EXAMPLE_KEYS:
        value = record.get(key)
        if isinstance(value, str) and key == "tools":
            value = _json_cell(value, key) if value.strip() else None
        if value is not None and not (isinstance(value, float) and value != value):
            example[key] = value
    return example


def _is_llamafactory(message: Mapping[str, Any]) -> bool:
    content = message.get("content")
    return "loss_weight" in message or (
        isinstance(content, list) and any(isinstance(p, dict) and "value" in p and "text" not in p for p in content)
    )


_LF_TEXT = "text parts {'type': 'text', 'value': ...} read as OpenAI's text"
_LF_OTHER = (
    "'{kind}' parts {{'type': '{kind}', 'value': ...}} not converted (OpenAI's format has no such part; kept as is)"
)


def _from_llamafactory(message: dict[str, Any], notes: Counter[str]) -> dict[str, Any]:
    """One LLaMA-Factory message in OpenAI's terms: ``{"type": "text", "value"}`` parts as text content (joined
    by newlines when several, as :func:`content_text` reads parts), ``loss_weight`` 0/1 on an assistant turn as
    ``weight``. Anything else (a non-text part such as ``{"type": "image", "value": "images/0.jpg"}``, another
    ``loss_weight``) stays as it is, for validation to show, and ``notes`` says so."""
    message = dict(message)
    content = message.get("content")
    if (
        isinstance(content, list)
        and content
        and all(
            isinstance(p, dict)
            and p.get("type", "text") == "text"
            and isinstance(p.get("value"), str)
            and "text" not in p
            for p in content
        )
    ):
        message["content"] = "\n".join(p["value"] for p in content)
        notes[_LF_TEXT] += 1
    elif isinstance(content, list):
        parts = [
            {**{k: v for k, v in p.items() if k != "value"}, "text": p["value"]}
            if isinstance(p, dict) and p.get("type") == "text" and "value" in p and "text" not in p
            else p
            for p in content
        ]
        if parts != content:
            message["content"] = parts
            notes[_LF_TEXT] += 1
        for kind in sorted({str(p.get("type")) for p in parts if isinstance(p, dict) and "value" in p}):
            notes[_LF_OTHER.format(kind=kind)] += 1
    weight = message.get("loss_weight")
    if message.get("role") == "assistant" and not isinstance(weight, bool) and weight in (0, 1):
        message["weight"] = int(weight)
        del message["loss_weight"]
        notes["'loss_weight' on assistant messages read as OpenAI's 'weight'"] += 1
    elif "loss_weight" in message and message.get("role") != "assistant" and not weight:
        del message["loss_weight"]
        notes["'loss_weight' 0 on non-assistant messages dropped (OpenAI never trains those turns)"] += 1
    elif "loss_weight" in message:
        notes["'loss_weight' kept as it is (OpenAI's 'weight' is 0 or 1, on assistant messages only)"] += 1
    return message


def _strip_legacy_prompt(prompt: str) -> str:
    prompt = prompt.rstrip()
    if prompt.endswith("->"):
        prompt = prompt[:-2].rstrip()
    return prompt


def _strip_legacy_completion(completion: str) -> str:
    completion = completion.strip()
    if completion.endswith(" END") or completion == "END":
        completion = completion[:-3].rstrip()
    return completion


def _prompt_completion(record: Mapping[str, Any], strip_legacy: bool) -> Example:
    prompt = _text(record.get("prompt"), "prompt")
    completion = _text(record.get("completion"), "completion")
    if strip_legacy:
        prompt, completion = _strip_legacy_prompt(prompt), _strip_legacy_completion(completion)
    return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": completion}]}


def _alpaca(record: Mapping[str, Any]) -> Example:
    instruction = _text(record.get("instruction"), "instruction")
    extra = _text(record.get("input"), "input")
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    messages = []
    system = _text(record.get("system"), "system")
    if system:
        messages.append({"role": "system", "content": system})
    messages += _alpaca_history(record.get("history"))
    messages += [
        {"role": "user", "content": user},
        {"role": "assistant", "content": _text(record.get("output"), "output")},
    ]
    return {"messages": messages}


def _alpaca_history(history: Any) -> list[dict[str, Any]]:
    """LLaMA-Factory's ``history``: ``[[instruction, output], ...]``, the earlier rounds in order."""
    if history is None or (isinstance(history, float) and history != history) or history == "":
        return []
    if isinstance(history, str):  # a JSON column of a table
        history = _json_cell(history, "history")
    if not isinstance(history, list):
        raise RecordError(f"must be a list of [instruction, output] pairs, got {type(history).__name__}", "history")
    messages = []
    for position, pair in enumerate(history, 1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise RecordError(f"round {position} is not an [instruction, output] pair", "history")
        messages += [
            {"role": "user", "content": _text(pair[0], "history")},
            {"role": "assistant", "content": _text(pair[1], "history")},
        ]
    return messages


def _sharegpt(record: Mapping[str, Any], notes: Counter[str]) -> Example:
    turns = record.get("conversations")
    if not isinstance(turns, list):
        raise RecordError(f"must be a list of turns, got {type(turns).__name__}", "conversations")
    messages: list[dict[str, Any]] = []
    system = record.get("system")
    if isinstance(system, str) and system:
        messages.append({"role": "system", "content": system})
    last_call_id: str | None = None
    for position, turn in enumerate(turns, 1):
        if not isinstance(turn, dict):
            raise RecordError(f"turn {position} is {type(turn).__name__}, not an object", "conversations")
        speaker = turn.get("from", turn.get("role"))
        value = turn.get("value", turn.get("content"))
        role = _SHAREGPT_ROLES.get(str(speaker).lower()) if speaker is not None else None
        if role is None:
            raise RecordError(f"turn {position} has unknown speaker {speaker!r}", "conversations")
        if speaker == "function_call":
            call = _function_call(value, position)
            last_call_id = f"call_{len(messages)}"
            messages.append(
                {"role": "assistant", "tool_calls": [{"id": last_call_id, "type": "function", "function": call}]}
            )
        elif role == "tool":
            message: dict[str, Any] = {"role": "tool", "content": _text(value, "conversations")}
            if last_call_id:
                message["tool_call_id"] = last_call_id
            messages.append(message)
        else:
            messages.append({"role": role, "content": _text(value, "conversations")})
        extra = {k: v for k, v in turn.items() if k not in ("from", "value", "role", "content")}
        if extra:  # kept on the message (validation names them) rather than dropped
            messages[-1].update(extra)
            notes.update(f"turn key {k!r} kept on its message" for k in extra)
    example: Example = {"messages": messages}
    tools = record.get("tools")
    if isinstance(tools, str) and tools.strip():
        tools = _json_cell(tools, "tools")
    if isinstance(tools, list) and tools:
        example["tools"] = [_as_openai_tool(t) for t in tools]
    return example


def _function_call(value: Any, position: int) -> dict[str, str]:
    call = value
    if isinstance(value, str):
        try:
            call = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise RecordError(f"turn {position}: function_call value is not JSON", "conversations") from None
        if may_be_deep(value) and deeper_than(call):
            raise RecordError(f"turn {position}: function_call nested deeper than {MAX_DEPTH} levels", "conversations")
    if not isinstance(call, dict) or "name" not in call:
        raise RecordError(f"turn {position}: function_call needs a name", "conversations")
    arguments = call.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return {"name": str(call["name"]), "arguments": arguments}


def _as_openai_tool(tool: Any) -> Any:
    if isinstance(tool, dict) and "type" not in tool and "name" in tool:
        return {"type": "function", "function": tool}
    return tool


def _qa(record: Mapping[str, Any], mapping: ColumnMapping) -> Example:
    messages = []
    if mapping.system:
        system = _text(record.get(mapping.system), mapping.system)
        if system.strip():
            messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": _text(record.get(mapping.user), mapping.user)})
    messages.append({"role": "assistant", "content": _text(record.get(mapping.assistant), mapping.assistant)})
    return {"messages": messages}


_REQUIRED: dict[str, tuple[str, ...]] = {
    "chat": ("messages",),
    "sharegpt": ("conversations",),
    "alpaca": ("instruction", "output"),
    "prompt_completion": ("prompt", "completion"),
}


def record_to_example(
    record: Mapping[str, Any],
    schema: Schema,
    *,
    mapping: ColumnMapping | None = None,
    strip_legacy: bool = False,
    notes: Counter[str] | None = None,
) -> Example:
    """The canonical example for one source record; :class:`RecordError` when it does not fit ``schema``.

    ``notes`` counts, per kind, what was mapped rather than copied (LLaMA-Factory parts and ``loss_weight``, extra
    ShareGPT turn keys), for the loader's warnings.
    """
    notes = Counter() if notes is None else notes
    required = _REQUIRED[schema] if schema != "qa" else mapping.columns() if mapping else ()
    for key in required:
        if key not in record:
            raise RecordError(f"missing key {key!r} (expected {schema} format)", key)
    if schema == "chat":
        return _chat(record, notes)
    if schema == "prompt_completion":
        return _prompt_completion(record, strip_legacy)
    if schema == "alpaca":
        return _alpaca(record)
    if schema == "sharegpt":
        return _sharegpt(record, notes)
    if mapping is None:
        raise RecordError("question/answer format needs a column mapping")
    return _qa(record, mapping)
