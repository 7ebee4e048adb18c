"""Words of message templates and of the data a finding quotes: the tests of studio/quality and studio/cost
messages check with these that a Spanish message has no English word left."""

from __future__ import annotations

import re
import tomllib
from typing import Any

from studio.i18n import Reason
from tests.conftest import ROOT

LETTERS = re.compile(r"[^\W\d_]+")


def locale(name: str) -> dict[str, Any]:
    """studio/locales/<name>.toml, both languages."""
    return tomllib.loads((ROOT / "studio" / "locales" / f"{name}.toml").read_text(encoding="utf-8"))


def words(text: str) -> set[str]:
    return {w.lower() for w in LETTERS.findall(text)}


def template_words(table: dict[str, Any], lang: str) -> set[str]:
    """The words of the ``msg_*`` templates of one language, placeholders left out."""
    return set().union(*(words(re.sub(r"\{[^}]*\}", " ", v)) for k, v in table[lang].items() if k.startswith("msg_")))


def quoted(reason: Reason) -> set[str]:
    """The words of the data a reason quotes (its free-text values, nested ones too)."""
    out: set[str] = set()
    for value in reason.values.values():
        out |= quoted(value) if isinstance(value, Reason) else words(value)
    return out
