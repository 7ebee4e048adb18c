"""How many cores a job may use: the one answer for process pools (token counting, validation) and thread pools
(near-duplicates, where numpy and rapidfuzz release the GIL)."""

from __future__ import annotations

import os


def worker_count(workers: int | None = None) -> int:
    """Workers to use: ``workers`` if given (at least 1), else one per core this process may run on."""
    if workers is not None:
        return max(1, workers)
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)
