"""Refusing a job before it would run out of memory, in the user's language: :func:`check_memory` for any job,
:func:`check_whole_load` for a file about to be loaded whole.

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
from pathlib import Path

from studio.core import memory
from studio.data.containers import detect_container
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


WHOLE_LOAD_MEMORY: dict[str, tuple[int, int]] = {"text": (9, 20), "parquet": (30, 40), "xlsx": (32, 55)}
"""Peak memory of loading a file whole, in bytes per byte of the file, by kind (JSONL, JSON and CSV are "text"):
(the load alone, :func:`load_dataset`; the load and then the grid's quality rules and the import, the Dataset
page's path, :func:`studio.storage.workspace.import_loaded`). Each is the largest measured, rounded up.

Measured on 2026-12-01 as the peak RSS of a child process (``/usr/bin/time -v``) less the same child that only
imports the loader, the rules and the workspace (113 MiB), one at a time on a 2-core machine, 100k examples each
(bench/.cache, converted with ``studio convert``); load | load + ``grid_flags`` | load + ``import_loaded``:
chat JSONL (26 MiB) 8.1 | 17.3 | 19.1; multi-turn JSONL (110 MiB, ~7.4 turns) 4.6 | 10.6 | 11.6; the same as one
JSON array 5.9 | – | –; chat CSV (47 MiB) 8.7 | 10.2 | –; chat Parquet (19 MiB) 20.2 | 27.3 | –; multi-turn
Parquet (32 MiB) 28.5 | 37.4 | –; chat .xlsx (7.9 MiB) 30.2 | 52.7 | –. The page holds the upload's bytes as well,
hence the margin. At 1M examples: chat JSONL (263 MiB) + ``grid_flags`` 14.5; multi-turn (1.1 GB), the same rules
step, 10.5 GB (bench/RESULTS.md): ~9.6."""

JSONL_LOAD_MEMORY: tuple[tuple[float, int], tuple[float, int]] = ((3.5, 1300), (9.5, 2900))
"""A JSONL file's peak as bytes per byte plus bytes per line (one example a line), for the load alone and with the
rules and the import (as :data:`WHOLE_LOAD_MEMORY`): many short examples cost more per byte than a few long ones
(chat 19.1 against multi-turn 11.6 per byte), and the line count tells them apart. Fitted through the two 100k
figures above (load: 3.45 B/B + 1,269 B/line; import: 9.16 B/B + 2,758 B/line) and rounded up; it overestimates
the 1M chat set's ``grid_flags`` peak (3.8 GiB) by 20% and the 1M multi-turn rules step (10.5 GB) by ~25%, where
:data:`WHOLE_LOAD_MEMORY` overestimates them by 38% and 2x. Used when the per-byte bound does not fit: counting the
lines reads the file once more (in 8 MB blocks, ~1 s per GB)."""


def check_whole_load(name: str, data: bytes | None = None, *, flagged: bool = False) -> None:
    """Refuse to load ``name`` whole (the uploaded ``data`` under that name, or the file) when its peak
    (:data:`WHOLE_LOAD_MEMORY`; for JSONL, :data:`JSONL_LOAD_MEMORY` when that bound is too large; ``flagged``:
    with the grid's quality rules and the import after the load) would not fit in the free memory:
    :func:`~studio.data.memory.check_memory` raises :class:`~studio.errors.ResourceError` naming the file, its size,
    the estimate and the free memory, and what to do instead. Reads at most the file's first bytes and its line
    ends. Raises ``OSError`` for a file it cannot open, as reading it would."""
    size = len(data) if data is not None else Path(name).stat().st_size
    if data is not None:
        head = data[:_HEAD]
    else:
        with Path(name).open("rb") as handle:
            head = handle.read(_HEAD)
    kind = "parquet" if head.startswith(b"PAR1") else "xlsx" if head.startswith(b"PK\x03\x04") else "text"
    file = Path(name).name
    what = partial(text, "memory.load_flagged" if flagged else "memory.load", file=file, size=_size(size))
    advice = partial(text, "memory.advice_load", file=file)
    try:
        check_memory(size * WHOLE_LOAD_MEMORY[kind][flagged], what, advice)
    except ResourceError:
        if kind != "text" or detect_container(name, head) != "jsonl":
            raise
        per_byte, per_line = JSONL_LOAD_MEMORY[flagged]
        check_memory(int(size * per_byte) + per_line * _lines(name, data), what, advice)


_HEAD = 64  # bytes that tell the container (magic numbers, or a first "{" after a BOM and blanks)


def _lines(name: str, data: bytes | None) -> int:
    """Line ends in ``data`` (or the file ``name``, read in blocks), plus one for a last line without one."""
    if data is not None:
        return data.count(b"\n") + 1
    count = 1
    with Path(name).open("rb") as handle:
        while block := handle.read(8 * 2**20):
            count += block.count(b"\n")
    return count


def _size(n: int) -> str:
    return f"{n / 2**20:,.1f} MB" if n >= 2**20 else f"{n / 2**10:,.1f} KB"
