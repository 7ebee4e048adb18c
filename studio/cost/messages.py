"""What a format check says, in English or Spanish: one template per message, in ``studio/locales/cost.toml``.

The checks (:mod:`studio.cost.format_checks`, :mod:`studio.cost.validation`) write every finding in English with
:func:`say` from its ``msg_<key>`` template: that English is what a report's ``findings``, ``studio validate`` and
the exports hold, unchanged. :func:`finding_message` reads a finding's template and values back from it and writes
it in another language (the Cost page's table). The machinery is :class:`studio.i18n.Messages`, shared with the
quality rules' messages (:mod:`studio.quality.messages`).

A ``{kind}`` placeholder is a slot: its value is one of the ``kind_<name>`` templates (what JSON type a value is,
or that it is missing or empty), so the type is translated too; ``{finding}`` (in ``and_more``) is any finding.
Other placeholders are data (a role, a key, a snippet) or numbers, shown as they are.
"""

from __future__ import annotations

import re

from studio import i18n

FINDINGS = (
    # one example (format_checks)
    "example_not_object",
    "messages_list",
    "message_not_object",
    "no_role",
    "bad_role",
    "message_extra_key",
    "tool_content_kind",
    "no_content",
    "content_empty_list",
    "content_bad_part",
    "content_bad_part_user",
    "content_empty",
    "content_kind",
    "tool_calls_not_assistant",
    "tool_calls_not_list",
    "tool_call_no_function",
    "tool_call_no_id",
    "tool_call_no_name",
    "tool_call_bad_arguments",
    "no_tool_call_id",
    "weight_value",
    "weight_role",
    "unknown_tool",
    "unanswered_call_id",
    "tools_kind",
    "tool_no_function",
    "parallel_kind",
    "no_assistant",
    "no_system",
    "no_user",
    "example_extra_key",
    # a file or dataset (validation)
    "not_json",
    "too_deep",
    "too_few",
    "few",
    "too_large",
    "limit_not_published",
    "over_limit",
)
"""Every message a check can give (``and_more`` adds how many more of the same check an example has)."""

KINDS = ("object", "list", "string", "boolean", "null", "int", "float", "missing", "empty")
"""What a ``{kind}`` names: a JSON value's type, or that it is missing or empty (the ``kind_<name>`` strings)."""


class Reason(i18n.Reason):
    """A finding's message as a template ``key`` of ``cost.toml`` (without ``msg_``) and its ``values``."""

    namespace = "cost"


MESSAGES = i18n.Messages(
    Reason,
    top=(*FINDINGS, "and_more"),
    slots={"kind": tuple(f"kind_{k}" for k in KINDS), "finding": FINDINGS},
    numbers=frozenset(
        {"i", "j", "line", "column", "depth", "n", "minimum", "recommended", "more", "mb", "tokens", "limit"}
    ),
)
say = MESSAGES.say
"""The English message of template ``key`` with ``values`` (:meth:`studio.i18n.Messages.say`)."""


def read_reason(message: str) -> i18n.Reason | None:
    """The structured reason of a finding's English ``message``, or None when no template reads it."""
    return MESSAGES.read(message)


def finding_message(message: str, lang: str = "en") -> str:
    """A finding's English ``message`` (as a report's ``findings`` hold it) written in ``lang``; one no template
    reads is shown as it is."""
    return MESSAGES.written(message, lang)


_MESSAGE_AT = re.compile(r"messages\[(\d+)\]")


def message_index(message: str) -> int | None:
    """The index in ``messages`` of the message a finding's English ``message`` names: 2 for ``messages[2]: ...``
    (every template about one message starts so, ``... (and 1 more)`` included), None for a finding about the
    whole example, file or dataset. A prefix match, not :func:`read_reason`: ``studio validate --json --details``
    asks it of every finding."""
    found = _MESSAGE_AT.match(message)
    return int(found[1]) if found else None
