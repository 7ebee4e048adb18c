"""UI strings in English and Spanish: one TOML table per page under ``studio/locales/``.

``studio/locales/home.toml`` holds ``[en]`` and ``[es]`` tables; ``translator("es")("home.title")`` looks up key
``title`` in that file's ``es`` table, falling back to English, then to the key itself (so a missing string shows
up on screen instead of crashing a page). ``{name}`` placeholders are filled from keyword arguments.

Counts: :func:`plural` picks ``key_one`` for 1 and ``key_other`` for any other number (English and Spanish both
have just these two forms), so ``plural("cli.examples", 1)`` is "1 example" and ``plural("cli.examples", 2)`` is
"2 examples" ("1 ejemplo", "2 ejemplos" in Spanish).
"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

DataFrameT = TypeVar("DataFrameT", bound=Any)

LANGUAGES = ("en", "es")
LANGUAGE_NAMES = {"en": "English", "es": "Español"}
_LOCALES = Path(__file__).with_name("locales")


@cache
def _table(namespace: str) -> dict[str, dict[str, str]]:
    path = _LOCALES / f"{namespace}.toml"
    if not path.exists():
        return {}
    with path.open("rb") as handle:
        return tomllib.load(handle)


def _known(key: str, lang: str) -> str | None:
    """The template of ``key`` in ``lang`` (English when Spanish lacks it), or None when no locale file has it."""
    namespace, _, name = key.partition(".")
    table = _table(namespace)
    return table.get(lang, {}).get(name) or table.get("en", {}).get(name)


def text(key: str, lang: str = "en", **values: Any) -> str:
    """The string for ``namespace.key`` in ``lang``, formatted with ``values``."""
    namespace, _, name = key.partition(".")
    table = _table(namespace)
    template = table.get(lang, {}).get(name) or table.get("en", {}).get(name) or key
    return template.format(**values) if values else template


def plural(key: str, n: int, lang: str = "en", **values: Any) -> str:
    """:func:`text` of ``key_one`` when ``n`` is 1, else ``key_other``, with ``n`` among the ``values``."""
    return text(f"{key}_{'one' if n == 1 else 'other'}", lang, n=n, **values)


class Translator:
    """``tr("home.title", n=3)``: :func:`text` bound to one language, which ``tr.lang`` names."""

    def __init__(self, lang: str) -> None:
        if lang not in LANGUAGES:
            raise ValueError(f"unknown language {lang!r}; choose one of {', '.join(LANGUAGES)}")
        self.lang = lang

    def __call__(self, key: str, **values: Any) -> str:
        return text(key, self.lang, **values)

    def plural(self, key: str, n: int, **values: Any) -> str:
        """:func:`plural` in this language."""
        return plural(key, n, self.lang, **values)

    def label(self, namespace: str, name: str) -> str:
        """How the data value ``name`` (a column name, a rule key, a job status) is shown in this language: the
        string ``namespace.name`` when a locale file has it, else ``name`` itself. The value stays as it is in the
        data; only what is drawn changes."""
        return _known(f"{namespace}.{name}", self.lang) or name

    def columns(self, frame: DataFrameT) -> DataFrameT:
        """A copy of ``frame`` (a pandas DataFrame) whose column headers are shown in this language: each column
        is renamed to its ``columns.<name>`` string where there is one (values untouched)."""
        return frame.rename(columns=lambda c: self.label("columns", c) if isinstance(c, str) else c)


def translator(lang: str) -> Translator:
    """A :class:`Translator` for ``lang`` (one of :data:`LANGUAGES`; anything else raises ``ValueError``)."""
    return Translator(lang)


def missing_keys() -> dict[str, list[str]]:
    """Keys that a locale file defines in English but not in Spanish (tests keep this empty)."""
    out: dict[str, list[str]] = {}
    for path in sorted(_LOCALES.glob("*.toml")):
        table = _table(path.stem)
        gaps = sorted(set(table.get("en", {})) - set(table.get("es", {})))
        if gaps:
            out[path.stem] = gaps
    return out
