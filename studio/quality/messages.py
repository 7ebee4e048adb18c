"""What a quality finding says, in English or Spanish: one template per message, in ``studio/locales/rules.toml``.

A finding's reason is structured — a template key and its values, e.g. :class:`Reason` ``("too_short", {"chars":
"12", "minimum": "50"})``, a value being text (data, numbers) or another reason (the turn it is in: ``("turn",
{"turn": "1", "role": ("role_user", {})})``). The rules write it in English with :func:`say` (one finding) or
:func:`say_column` (a column of them, vectorised), which is what ``Analysis.issues["message"]``, the CLI and the
exports hold, unchanged. :func:`read_reason` reads the structure back from that English text (one regex per
template; every template round-trips, see ``tests/quality/test_messages.py``), so the rules keep building plain
string columns at no extra cost and only the findings a page shows are read back: :func:`finding_message` writes a
finding in another language and :func:`turn_label` names a turn ("turno 1 (usuario)").

Templates are the ``msg_<key>`` strings of ``rules.toml``. A template's placeholder is either free text (data,
numbers) or one of the slots of :data:`SLOTS`, whose value is itself one of the slot's templates. The machinery
is :class:`studio.i18n.Messages`, shared with the format checks' messages (:mod:`studio.cost.messages`).
"""

from __future__ import annotations

from collections.abc import Mapping

from studio import i18n

ROLES = ("system", "user", "assistant", "tool", "tool_calls")
"""The fields a finding can be in (a turn's role, or ``tool_calls`` for a call's arguments)."""

FINDINGS = (
    "no_user",
    "user_blank",
    "no_answer",
    "answer_blank",
    "both_blank",
    "too_short",
    "ellipsis",
    "mid_sentence",
    "connector",
    "exact",
    "normalized",
    "near",
    "duplicate_prompt",
    "found",
    "uppercase",
    "regex",
)
"""Every message a rule can give (``in_turn`` puts the turn an earlier turn's finding is in in front of one)."""

WHATS = (
    "template_variable",
    "placeholder",
    "prompt_label",
    "filler_text",
    "email",
    "token_url",
    "card",
    "dni",
    "phone",
    "blocklisted",
)
"""What the pattern rules (``placeholder``, ``pii``, ``blocklist``) name as found: the ``what_<key>`` strings."""

_ROLE_KEYS = tuple(f"role_{r}" for r in ROLES)
SLOTS: Mapping[str, tuple[str, ...]] = {
    "at": ("turn",),
    "where": ("turn", *_ROLE_KEYS),
    "role": (*_ROLE_KEYS, "tool_call", "tool_call_any"),
    "what": tuple(f"what_{w}" for w in WHATS),
    "finding": FINDINGS,
}
"""Placeholders whose value is another template (one of these keys); any other placeholder is free text."""


class Reason(i18n.Reason):
    """A finding's message as a template ``key`` of ``rules.toml`` (without ``msg_``) and its ``values``."""

    namespace = "rules"


MESSAGES = i18n.Messages(
    Reason,
    top=(*FINDINGS, "in_turn"),
    slots=SLOTS,
    numbers=frozenset({"turn", "chars", "minimum", "id", "cluster", "size", "percent", "threshold"}),
)
say = MESSAGES.say
"""The English message of template ``key`` with ``values`` (:meth:`studio.i18n.Messages.say`)."""
say_column = MESSAGES.say_column
""":func:`say` over string columns (:meth:`studio.i18n.Messages.say_column`)."""


def read_reason(message: str) -> i18n.Reason | None:
    """The structured reason of a finding's English ``message``, or None when no template reads it (a message a
    rule wrote without one)."""
    return MESSAGES.read(message)


def finding_message(message: str, lang: str = "en") -> str:
    """A finding's English ``message`` (as ``Analysis.issues`` holds it) written in ``lang``; one no template
    reads is shown as it is."""
    return MESSAGES.written(message, lang)


def turn_label(turn: int, field: str, lang: str = "en") -> str:
    """Which turn a finding in ``field`` (a role, or ``tool_calls``) is in: ``turn 1 (user)``, ``turn 4 (tool
    call)``; ``turno 1 (usuario)`` in Spanish."""
    role: i18n.Value = Reason("tool_call_any") if field == "tool_calls" else Reason(f"role_{field}")
    return Reason("turn", {"turn": str(turn), "role": role if field in ROLES else field}).text(lang)
