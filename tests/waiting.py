"""One way for tests to wait for something that happens in another thread or process."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class WaitTimeout(AssertionError):
    """``wait_until`` gave up: the message says what it waited for, how long, and what it saw last."""


def wait_until(
    predicate: Callable[[], T],
    *,
    timeout: float,
    message: str,
    interval: float = 0.2,
    ignoring: tuple[type[BaseException], ...] = (),
) -> T:
    """Call ``predicate()`` every ``interval`` seconds until it returns a truthy value, and return that value.

    ``message`` names what is awaited ("the job to finish"). After ``timeout`` seconds it raises
    :class:`WaitTimeout` (an ``AssertionError``) with that message and the last value seen, or the last exception
    among ``ignoring`` (exceptions that only mean "not yet", such as a connection refused while a server starts).
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = predicate()
        except ignoring as exc:
            last = exc
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:g} s waiting for {message} (last: {last!r})")
        time.sleep(interval)
