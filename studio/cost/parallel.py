"""Worker pools for token counting and validation: one process per core, items shared by fork where possible."""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from typing import Any

from studio.core.cores import worker_count

__all__ = ["map_parts", "pool_context", "shared_items", "slices", "worker_count"]

# Under the "fork" start method, workers read shared items from this inherited global instead of a pickle.
_SHARED: Sequence[Any] = ()


def shared_items(start: int, stop: int, items: Sequence[Any] | None) -> Sequence[Any]:
    """Inside a worker of :func:`map_parts`: ``items`` when they were pickled, else the inherited slice."""
    return _SHARED[start:stop] if items is None else items


def pool_context() -> multiprocessing.context.BaseContext:
    """Process start method for worker pools: fork on Linux (workers inherit loaded encodings), else the default."""
    if sys.platform == "linux" and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


def map_parts(
    fn: Callable[..., Any],
    tasks: Sequence[tuple[Any, ...]],
    *,
    workers: int,
    items: Sequence[Any] | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> list[Any]:
    """``[fn(*task) for task in tasks]`` over a process pool, results in task order.

    With ``items``, every task starts with ``(start, stop)`` and ``fn`` receives a third argument: the pickled
    slice, or None under fork, where :func:`shared_items` reads the parent's list without copying it.
    """
    global _SHARED
    context = pool_context()
    forked = context.get_start_method() == "fork"
    results: dict[int, Any] = {}
    _SHARED = items if (items is not None and forked) else ()
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = {}
            for index, task in enumerate(tasks):
                if items is not None:
                    start, stop, *rest = task
                    task = (start, stop, None if forked else list(items[start:stop]), *rest)
                futures[pool.submit(fn, *task)] = index
            for done, future in enumerate(as_completed(futures), 1):
                results[futures[future]] = future.result()
                if on_progress:
                    on_progress(done / len(tasks))
    finally:
        _SHARED = ()
    return [results[index] for index in range(len(tasks))]


def slices(total: int, *, workers: int, minimum: int = 5_000) -> list[tuple[int, int]]:
    """About eight ``(start, stop)`` slices per worker (for progress and load balance), none below ``minimum``."""
    step = max(minimum, -(-total // (workers * 8)))
    return [(start, min(start + step, total)) for start in range(0, total, step)]
