"""Memory the machine has free, and refusing a job before it would run out of it.

A job that can estimate its peak (near-duplicates over a large frame) calls :func:`check_memory` before any
work, so the user gets a message naming the job and the figures instead of the kernel killing the process.
"""

from __future__ import annotations

from studio.errors import ResourceError


def available_memory() -> int | None:
    """Bytes the kernel says a new allocation can still get (``MemAvailable``), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:  # not Linux: no check
        pass
    return None


def check_memory(needed: int, what: str) -> None:
    """Raise ``ResourceError`` when ``needed`` bytes are more than 90% of the memory available now."""
    free = available_memory()
    if free is not None and needed > 0.9 * free:
        raise ResourceError(
            f"{what} would need about {needed / 2**30:.1f} GB of memory and {free / 2**30:.1f} GB are free; "
            "run it on part of the data (or a machine with more memory), or skip this rule"
        )
