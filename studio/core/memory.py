"""Memory the machine has free (:func:`available_memory`: what :func:`studio.data.memory.check_memory` weighs a
job against) and pausing the garbage collector while objects without cycles pile up."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

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
