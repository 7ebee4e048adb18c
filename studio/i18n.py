"""UI strings in English and Spanish: one TOML table per page under ``studio/locales/``.

``studio/locales/home.toml`` holds ``[en]`` and ``[es]`` tables; ``translator("es")("home.title")`` looks up key
``title`` in that file's ``es`` table, falling back to English, then to the key itself (so a missing string shows
up on screen instead of crashing a page). ``{name}`` placeholders are filled from keyword arguments.

Counts: :func:`plural` picks ``key_one`` for 1 and ``key_other`` for any other number (English and Spanish both
have just these two forms), so ``plural("cli.examples", 1)`` is "1 example" and ``plural("cli.examples", 2)`` is
"2 examples" ("1 ejemplo", "2 ejemplos" in Spanish).

Messages the library writes (a quality finding, a format check's finding) are data in English, and shown in
another language by reading them back: :class:`Messages` writes one from its ``msg_<key>`` template and reads the
template key and values (a :class:`Reason`) back from the English text, so pages translate only what they show.
"""

from __future__ import annotations

import re
import string
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, ClassVar, TypeVar, Union

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


# --- messages read back: one template per message, written in English by the library, shown in any language ----


Value = Union[str, "Reason"]


@dataclass(frozen=True)
class Reason:
    """A message as a template ``key`` (a ``msg_<key>`` string of locale file :attr:`namespace`) and its
    ``values``: text (data, numbers) or another reason. Each message family subclasses it with its namespace
    (``studio.quality.messages.Reason``: ``rules``; ``studio.cost.messages.Reason``: ``cost``)."""

    namespace: ClassVar[str] = ""
    key: str
    values: Mapping[str, Value] = field(default_factory=dict)

    def text(self, lang: str = "en") -> str:
        """This reason written in ``lang`` (``en`` or ``es``; a missing Spanish string falls back to English)."""
        shown = {name: v.text(lang) if isinstance(v, Reason) else v for name, v in self.values.items()}
        return text(f"{self.namespace}.msg_{self.key}", lang, **shown)


class Messages:
    """The messages of one family (``reason``'s namespace): :meth:`say` writes one in English from its template,
    :meth:`read` reads the structure back from that English (one regex per template), :meth:`written` writes it
    in another language. ``top`` are the keys a whole message can be; ``slots`` the placeholders whose value is
    itself one of a few templates; ``numbers`` the placeholders that only hold a number (``1,234.5``, ``-3e-2``),
    which keeps the regexes of neighbouring free text unambiguous."""

    def __init__(
        self,
        reason: type[Reason],
        *,
        top: tuple[str, ...],
        slots: Mapping[str, tuple[str, ...]],
        numbers: frozenset[str],
    ) -> None:
        self.reason, self.top, self.slots, self.numbers = reason, top, slots, numbers
        self._english = cache(self._template)
        self._said: dict[str, str] = {}
        self._regex = cache(self._pattern)
        self._compiled = cache(lambda key: re.compile(self._regex(key, True), re.DOTALL))

    def _template(self, key: str) -> str:
        return text(f"{self.reason.namespace}.msg_{key}", "en")

    def say(self, key: str, **values: Any) -> str:
        """The English message of template ``key`` with ``values`` (each shown with ``format``, so as ``str``)."""
        template = self._said.get(key)  # checks call this once per finding: a dict look-up, no cache wrapper
        if template is None:
            template = self._said[key] = self._english(key)
        return template.format_map(values) if values else template

    def say_column(self, key: str, **values: Any) -> Any:
        """:meth:`say` over columns: a value may be a pandas string Series (one per row, all on one index), the
        rest are scalars; gives a Series like them (a plain ``str`` when no value is a Series). Built by
        concatenating the template's literal parts and the columns, so no Python runs per row."""
        import pandas as pd  # only the column form needs it

        out: Any = ""
        pending = ""
        for literal, name, _, _ in string.Formatter().parse(self._english(key)):
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

    def read(self, message: str) -> Reason | None:
        """The structured reason of an English ``message``, or None when no template reads it."""
        return self._read(message, self.top)

    def written(self, message: str, lang: str = "en") -> str:
        """An English ``message`` (as the library wrote it) written in ``lang``; one no template reads is shown
        as it is."""
        if lang == "en":
            return message
        reason = self.read(message)
        return message if reason is None else reason.text(lang)

    def _read(self, message: str, keys: tuple[str, ...]) -> Reason | None:
        for key in keys:
            found = self._compiled(key).fullmatch(message)
            if found is None:
                continue
            values: dict[str, Value] = {}
            for name, value in found.groupdict().items():
                inner = self._read(value, self.slots[name]) if name in self.slots else value
                if inner is None:  # the slot's pattern matched, so one of its templates reads it
                    break
                values[name] = inner
            else:
                return self.reason(key, values)
        return None

    def _pattern(self, key: str, capture: bool = False) -> str:
        """A regex of template ``key``'s English text: slots match their templates, free text anything; with
        ``capture``, each placeholder is a named group."""
        out = []
        for literal, name, _, _ in string.Formatter().parse(self._english(key)):
            out.append(re.escape(literal))
            if name is None:
                continue
            inner = _NUMBER if name in self.numbers else ".*"
            if name in self.slots:
                inner = "|".join(self._regex(k) for k in self.slots[name])
            out.append(f"(?P<{name}>{inner})" if capture else f"(?:{inner})")
        return "".join(out)


_NUMBER = r"-?\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?"
