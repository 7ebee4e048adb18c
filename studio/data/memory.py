"""Refusing a job before it would run out of memory, in the user's language.

A job that can estimate its peak (near-duplicates over a large frame, a file loaded whole, the rules over a file
in parts) calls :func:`check_memory` before any work, so the user gets a message naming the job and the figures
instead of the kernel killing the process. The message's words are in ``studio/locales/memory.toml``, so a page
shows it in its language (:meth:`~studio.errors.ResourceError.shown`); the free figure is
:func:`studio.core.memory.available_memory` (here rather than in ``studio.core``, which the engine shares and which
holds no user-facing words).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

from studio.core import memory
from studio.errors import ResourceError
from studio.i18n import text

Words = str | Callable[[str], str]
"""Part of a message: English text, or a function of the language (``"en"``, ``"es"``) giving it, such as
``partial(studio.i18n.text, "memory.load", file=..., size=...)``."""


def check_memory(needed: int, what: Words, advice: Words | None = None) -> None:
    """Raise ``ResourceError`` when ``needed`` bytes are more than 90% of the memory available now: "``what``
    would need about N GB of memory and M GB are free; ``advice``" (default advice: run it on part of the data,
    on a machine with more memory, or skip this rule)."""
    free = memory.available_memory()
    if free is not None and needed > 0.9 * free:
        raise ResourceError(partial(_refusal, what, advice, needed, free))


def _refusal(what: Words, advice: Words | None, needed: int, free: int, lang: str) -> str:
    """:func:`check_memory`'s message in ``lang``."""

    def said(words: Words) -> str:
        return words if isinstance(words, str) else words(lang)

    return text(
        "memory.msg_refused",
        lang,
        what=said(what),
        needed=f"{needed / 2**30:.1f}",
        free=f"{free / 2**30:.1f}",
        advice=said(advice if advice is not None else partial(text, "memory.advice_rule")),
    )
