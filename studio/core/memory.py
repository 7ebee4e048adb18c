"""Memory the machine has free, and refusing a job before it would run out of it.

A job that can estimate its peak (near-duplicates over a large frame, a file loaded whole) calls
:func:`check_memory` before any work, so the user gets a message naming the job and the figures instead of the
kernel killing the process. The message's words are in ``studio/locales/memory.toml``, so a page shows it in its
language (:meth:`~studio.errors.ResourceError.shown`).
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

from studio.errors import ResourceError

CGROUP = Path("/sys/fs/cgroup")
"""Where a container's memory limit is (cgroup v2: ``memory.max`` and ``memory.current``)."""


def available_memory() -> int | None:
    """Bytes a new allocation can still get, or None where unknown: the kernel's ``MemAvailable``, lowered to
    what is left under this container's cgroup memory limit when there is one."""
    free = None
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except OSError:  # not Linux: no check
        pass
    left = cgroup_memory_left()
    if left is not None:
        free = left if free is None else min(free, left)
    return free


def cgroup_memory_left(root: Path | None = None) -> int | None:
    """Bytes left under the cgroup v2 memory limit at ``root`` (``memory.max - memory.current``), or None when
    there is no limit or no cgroup v2 there (default: :data:`CGROUP`)."""
    root = CGROUP if root is None else root
    try:
        limit = (root / "memory.max").read_text(encoding="ascii").strip()
        used = (root / "memory.current").read_text(encoding="ascii").strip()
    except OSError:
        return None
    if limit == "max" or not limit.isdigit() or not used.isdigit():
        return None
    return max(0, int(limit) - int(used))


Words = str | Callable[[str], str]
"""Part of a message: English text, or a function of the language (``"en"``, ``"es"``) giving it, such as
``partial(studio.i18n.text, "memory.load", file=..., size=...)``."""


def check_memory(needed: int, what: Words, advice: Words | None = None) -> None:
    """Raise ``ResourceError`` when ``needed`` bytes are more than 90% of the memory available now: "``what``
    would need about N GB of memory and M GB are free; ``advice``" (default advice: run it on part of the data,
    on a machine with more memory, or skip this rule)."""
    free = available_memory()
    if free is not None and needed > 0.9 * free:
        raise ResourceError(partial(_refusal, what, advice, needed, free))


def _refusal(what: Words, advice: Words | None, needed: int, free: int, lang: str) -> str:
    """:func:`check_memory`'s message in ``lang``."""
    from studio.i18n import text  # the strings are the library's; nothing of it is loaded until a refusal

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


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector paused for the block (and restarted after, if it was running): for code
    that builds many objects holding no cycles, such as decoded JSON, which the collector would otherwise walk
    again and again as they pile up (~35 % of the CPU of decoding 100k multi-turn conversations)."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()
