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
numbers) or one of the slots of :data:`SLOTS`, whose value is itself one of the slot's templates.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Union

import pandas as pd

from studio.i18n import text

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

Value = Union[str, "Reason"]


@dataclass(frozen=True)
class Reason:
    """A finding's message as a template ``key`` of ``rules.toml`` (without ``msg_``) and its ``values``."""

    key: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        """This reason written in ``lang`` (``en`` or ``es``; a missing Spanish string falls back to English)."""
        shown = {name: v.text(lang) if isinstance(v, Reason) else v for name, v in self.values.items()}
        return text(f"rules.msg_{self.key}", lang, **shown)


def say(key: str, **values: Any) -> str:
    """The English message of template ``key`` with ``values`` (each shown with ``format``, so as ``str``)."""
    return _english(key).format_map(values)


@cache
def _english(key: str) -> str:
    # The rules call say() once per flagged row: the template is looked up once.
    return text(f"rules.msg_{key}", "en")


def say_column(key: str, **values: Any) -> Any:
    """:func:`say` over columns: a value may be a string Series (one per row, all on one index), the rest are
    scalars; gives a Series like them (a plain ``str`` when no value is a Series). Built by concatenating the
    template's literal parts and the columns, so no Python runs per row."""
    out: Any = ""
    pending = ""
    for literal, name, _, _ in string.Formatter().parse(_english(key)):
        pending += literal
        if name is None:
            continue
        value = values[name]
        if isinstance(value, pd.Series):
            out = out + pending + value if pending else out + value
            pending = ""
        else:
            pending += str(value)
    return out + pending if pending else out


def read_reason(message: str) -> Reason | None:
    """The structured reason of a finding's English ``message``, or None when no template reads it (a message a
    rule wrote without one)."""
    return _read(message, (*FINDINGS, "in_turn"))


def finding_message(message: str, lang: str = "en") -> str:
    """A finding's English ``message`` (as ``Analysis.issues`` holds it) written in ``lang``; one no template
    reads is shown as it is."""
    if lang == "en":
        return message
    reason = read_reason(message)
    return message if reason is None else reason.text(lang)


def turn_label(turn: int, field: str, lang: str = "en") -> str:
    """Which turn a finding in ``field`` (a role, or ``tool_calls``) is in: ``turn 1 (user)``, ``turn 4 (tool
    call)``; ``turno 1 (usuario)`` in Spanish."""
    role: Value = Reason("tool_call_any") if field == "tool_calls" else Reason(f"role_{field}")
    return Reason("turn", {"turn": str(turn), "role": role if field in ROLES else field}).text(lang)


def _read(message: str, keys: tuple[str, ...]) -> Reason | None:
    for key in keys:
        found = _compiled(key).fullmatch(message)
        if found is None:
            continue
        values: dict[str, Value] = {}
        for name, value in found.groupdict().items():
            inner = _read(value, SLOTS[name]) if name in SLOTS else value
            if inner is None:  # the slot's pattern matched, so one of its templates reads it
                break
            values[name] = inner
        else:
            return Reason(key, values)
    return None


_NUMBERS = frozenset({"turn", "chars", "minimum", "id", "cluster", "size", "percent", "threshold"})
_NUMBER = r"-?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


@cache
def _compiled(key: str) -> re.Pattern[str]:
    return re.compile(_pattern(key, capture=True), re.DOTALL)


@cache
def _pattern(key: str, capture: bool = False) -> str:
    """A regex of template ``key``'s English text: slots match their templates, free text anything; with
    ``capture``, each placeholder is a named group."""
    out = []
    for literal, name, _, _ in string.Formatter().parse(_english(key)):
        out.append(re.escape(literal))
        if name is None:
            continue
        inner = _NUMBER if name in _NUMBERS else ".*"
        if name in SLOTS:
            inner = "|".join(_pattern(k) for k in SLOTS[name])
        out.append(f"(?P<{name}>{inner})" if capture else f"(?:{inner})")
    return "".join(out)
