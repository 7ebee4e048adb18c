"""OpenAI chat fine-tuning format checks on one example, and the table of every check key.

A superset of the checks in OpenAI's cookbook notebook "Data preparation and analysis for chat model fine-tuning",
under the same keys, without its crashes and with what it gets wrong fixed (the ``tool`` role, ``tool_calls``,
example-level ``tools``/``parallel_tool_calls``, ``weight``, list-valued ``content``, multi-turn). :data:`RULES`
lists every key with its severity and a one-line description. One finding per example and key; its message names
the message as its JSON path, ``messages[2]`` (0-based: the index in ``messages``, as turns are numbered everywhere
in the studio; the system prompt is ``messages[0]``), and the value at fault. Whole files and datasets are
:mod:`studio.cost.validation`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

import orjson

from studio.cost.messages import say

if TYPE_CHECKING:
    import pandas as pd

Severity = Literal["error", "warning", "advice"]


@dataclass(frozen=True)
class Rule:
    """A check key (the cookbook's name where it has one), its severity and a one-line description."""

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
        Rule("invalid_tool_content", "error", "A tool message's content is not a string (OpenAI refuses parts there)."),
        Rule("too_few_examples", "error", "OpenAI requires at least 10 examples."),
        Rule("missing_system_message", "warning", "No system message (fine if you never use one at inference)."),
        Rule("missing_user_message", "warning", "No user message."),
        Rule("example_unrecognized_key", "warning", "A top-level key other than messages, tools, parallel_tool_calls."),
        Rule("unknown_tool", "warning", "A tool call names a function the example's 'tools' does not define."),
        Rule("over_token_limit", "warning", "Longer than the model's per-example limit; OpenAI truncates it."),
        Rule("file_too_large", "warning", "Over 512 MB, OpenAI's upload limit for a training file."),
        Rule("few_examples", "advice", "Fewer than 50 examples: OpenAI sees clear gains from 50-100 on."),
        Rule("token_limit_not_published", "advice", "OpenAI has not published this model's per-example limit."),
    )
}

MIN_EXAMPLES = 10
RECOMMENDED_EXAMPLES = 50
ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MESSAGE_KEYS = frozenset({"role", "content", "name", "weight", "tool_calls", "tool_call_id", "function_call"})
_PLAIN_ROLES = frozenset({"system", "developer", "user", "assistant"})
EXAMPLE_KEYS = frozenset({"messages", "tools", "parallel_tool_calls", "functions"})

Finding = tuple[str, str]  # (key, message)
# Messages without values, written once (a file without system messages has one finding per example)
_NO_ASSISTANT, _NO_SYSTEM, _NO_USER = say("no_assistant"), say("no_system"), say("no_user")


def _kind(value: Any) -> str:
    return {dict: "object", list: "list", str: "string", bool: "boolean", type(None): "null"}.get(
        type(value), type(value).__name__
    )


def _check_tool_calls(calls: Any, i: int, out: list[Finding]) -> None:
    if not isinstance(calls, list) or not calls:
        out.append(("invalid_tool_calls", say("tool_calls_not_list", i=i, kind=_kind(calls))))
        return
    for j, call in enumerate(calls, 1):
        function = call.get("function") if isinstance(call, Mapping) else None
        if not isinstance(call, Mapping) or not isinstance(function, Mapping):
            out.append(("invalid_tool_calls", say("tool_call_no_function", i=i, j=j)))
        elif not isinstance(call.get("id"), str) or call.get("type", "function") != "function":
            out.append(("invalid_tool_calls", say("tool_call_no_id", i=i, j=j)))
        elif not isinstance(function.get("name"), str) or not isinstance(function.get("arguments"), str):
            out.append(("invalid_tool_calls", say("tool_call_no_name", i=i, j=j)))
        elif not _is_json(function["arguments"]):
            snippet = _short(function["arguments"])
            out.append(("invalid_tool_calls", say("tool_call_bad_arguments", i=i, j=j, snippet=snippet)))


def _is_json(text: str) -> bool:
    try:
        orjson.loads(text)
    except orjson.JSONDecodeError:
        return False
    return True


def _short(text: str, width: int = 60) -> str:
    return repr(text if len(text) <= width else text[: width - 1] + "…")


def _blank(content: Any) -> bool:
    """No text at all: None, "", or text parts whose texts are all empty (what an exporter writes beside
    ``tool_calls``)."""
    if content is None or content == "":
        return True
    return isinstance(content, list) and all(
        isinstance(p, Mapping) and p.get("type") == "text" and p.get("text") == "" for p in content
    )


def _check_content(content: Any, role: Any, i: int, out: list[Finding]) -> None:
    if isinstance(content, list):
        if not content:
            out.append(("missing_content", say("content_empty_list", i=i)))
        for j, part in enumerate(content, 1):
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind == "text" and isinstance(part.get("text"), str) and part["text"]:
                continue
            if kind == "image_url" and role == "user" and isinstance(part.get("image_url"), Mapping):
                continue
            out.append(
                ("missing_content", say("content_bad_part_user" if role == "user" else "content_bad_part", i=i, j=j))
            )
            return
    elif isinstance(content, str):
        if not content:
            out.append(("missing_content", say("content_empty", i=i)))
    else:
        out.append(("missing_content", say("content_kind", i=i, kind=_kind(content))))


def _check_message(message: Any, i: int, out: list[Finding]) -> Any:
    """Findings of ``messages[i]`` (0-based) appended to ``out``; returns its role."""
    if not isinstance(message, Mapping):
        out.append(("data_type", say("message_not_object", i=i, kind=_kind(message))))
        return None
    role = message.get("role")
    if role is None:
        out.append(("message_missing_key", say("no_role", i=i)))
    elif not isinstance(role, str) or role not in ROLES:
        out.append(("unrecognized_role", say("bad_role", i=i, role=repr(role))))
    if not MESSAGE_KEYS.issuperset(message):
        extra = ", ".join(repr(k) for k in message if k not in MESSAGE_KEYS)
        out.append(("message_unrecognized_key", say("message_extra_key", i=i, keys=extra)))
    calls = message.get("tool_calls")
    acts = calls is not None or message.get("function_call") is not None
    if role == "assistant" and acts and _blank(message.get("content")):
        pass  # an assistant turn that only calls tools needs no content (OpenAI accepts null, "" or an empty part)
    elif role == "tool" and "content" in message and not isinstance(message["content"], str):
        out.append(("invalid_tool_content", say("tool_content_kind", i=i, kind=_kind(message["content"]))))
    elif "content" not in message:
        out.append(("message_missing_key", say("no_content", i=i)))
    else:
        _check_content(message["content"], role, i, out)
    if calls is not None:
        if role != "assistant":
            out.append(("invalid_tool_calls", say("tool_calls_not_assistant", i=i)))
        else:
            _check_tool_calls(calls, i, out)
    if role == "tool" and not isinstance(message.get("tool_call_id"), str):
        out.append(("invalid_tool_calls", say("no_tool_call_id", i=i)))
    if "weight" in message:
        weight = message["weight"]
        if isinstance(weight, bool) or weight not in (0, 1):
            out.append(("invalid_weight", say("weight_value", i=i, weight=repr(weight))))
        elif role != "assistant":
            out.append(("invalid_weight", say("weight_role", i=i)))
    return role


def _check_call_answers(messages: list[Any], tools: Any, out: list[Finding]) -> None:
    """A tool message answers a call made earlier in the conversation; a called function is one of ``tools``
    (checked when the example lists its tools)."""
    called: set[str] = set()
    names = None
    if isinstance(tools, list):
        names = {
            t["function"].get("name")
            for t in tools
            if isinstance(t, Mapping) and isinstance(t.get("function"), Mapping)
        }
    for i, message in enumerate(messages):
        if not isinstance(message, Mapping):
            continue
        calls = message.get("tool_calls")
        if message.get("role") == "assistant" and isinstance(calls, list):
            for j, call in enumerate(calls, 1):
                if not isinstance(call, Mapping):
                    continue
                if isinstance(call.get("id"), str):
                    called.add(call["id"])
                function = call.get("function")
                name = function.get("name") if isinstance(function, Mapping) else None
                if names is not None and isinstance(name, str) and name not in names:
                    out.append(("unknown_tool", say("unknown_tool", i=i, j=j, name=repr(name))))
        answered = message.get("tool_call_id")
        if message.get("role") == "tool" and isinstance(answered, str) and answered not in called:
            out.append(("invalid_tool_calls", say("unanswered_call_id", i=i, id=repr(answered))))


def _check_tools(example: Mapping[str, Any], out: list[Finding]) -> None:
    if "tools" in example:
        tools = example["tools"]
        if not isinstance(tools, list):
            out.append(("invalid_tools", say("tools_kind", kind=_kind(tools))))
        else:
            for j, tool in enumerate(tools, 1):
                function = tool.get("function") if isinstance(tool, Mapping) else None
                if (
                    not isinstance(function, Mapping)
                    or tool.get("type", "function") != "function"
                    or not isinstance(function.get("name"), str)
                ):
                    out.append(("invalid_tools", say("tool_no_function", j=j)))
                    break
    if "parallel_tool_calls" in example and not isinstance(example["parallel_tool_calls"], bool):
        out.append(("invalid_tools", say("parallel_kind", value=repr(example["parallel_tool_calls"]))))


def check_example(example: Any) -> list[Finding]:
    """Every ``(key, message)`` finding of one example, at most one per key (the first, with a count)."""
    if type(example) is not dict and not isinstance(example, Mapping):  # dict first: ABC checks are slow
        return [("data_type", say("example_not_object", kind=_kind(example)))]
    out: list[Finding] = []
    messages = example.get("messages")
    if not isinstance(messages, list) or not messages:
        got = "missing" if messages is None else _kind(messages) if not isinstance(messages, list) else "empty"
        out.append(("missing_messages_list", say("messages_list", kind=got)))
    else:
        roles = set()
        calls = False
        for i, message in enumerate(messages):
            if type(message) is dict and len(message) == 2:  # the common {"role", "content"}: fast path
                role, content = message.get("role"), message.get("content")
                if type(role) is str and role in _PLAIN_ROLES and type(content) is str and content:
                    roles.add(role)
                    continue
            role = _check_message(message, i, out)
            if isinstance(role, str):
                roles.add(role)
            calls = calls or bool(isinstance(message, Mapping) and message.get("tool_calls"))
        if "tool" in roles or calls:
            _check_call_answers(messages, example.get("tools"), out)
        if "assistant" not in roles:
            out.append(("example_missing_assistant_message", _NO_ASSISTANT))
        if "system" not in roles and "developer" not in roles:
            out.append(("missing_system_message", _NO_SYSTEM))
        if "user" not in roles:
            out.append(("missing_user_message", _NO_USER))
    if "tools" in example or "parallel_tool_calls" in example:
        _check_tools(example, out)
    if not EXAMPLE_KEYS.issuperset(example):
        extra = ", ".join(repr(k) for k in example if k not in EXAMPLE_KEYS)
        out.append(("example_unrecognized_key", say("example_extra_key", keys=extra)))
    return _one_per_key(out) if len(out) > 1 else out


def _one_per_key(findings: list[Finding]) -> list[Finding]:
    counts: dict[str, int] = {}
    first: dict[str, str] = {}
    for key, message in findings:
        counts[key] = counts.get(key, 0) + 1
        first.setdefault(key, message)
    return [
        (key, say("and_more", finding=first[key], more=counts[key] - 1) if counts[key] > 1 else first[key])
        for key in first
    ]


def describe_rules() -> pd.DataFrame:
    """Every rule key with its severity and description (for docs and the UI)."""
    import pandas as pd  # not at the top: validating a file needs no pandas

    return pd.DataFrame(
        [(r.key, r.severity, r.description) for r in RULES.values()], columns=["key", "severity", "description"]
    )
