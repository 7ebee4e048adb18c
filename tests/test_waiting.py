"""tests/waiting.py: the one polling helper returns what it waited for, or fails saying what that was."""

import pytest

from tests.waiting import WaitTimeout, wait_until


def test_returns_the_first_truthy_value():
    calls = iter([None, 0, "", "ready", "later"])
    assert wait_until(lambda: next(calls), timeout=60, message="the value", interval=0) == "ready"


def test_fails_naming_what_it_waited_for_and_the_last_value():
    with pytest.raises(WaitTimeout, match=r"after 0 s waiting for the job to finish \(last: \[\]\)"):
        wait_until(list, timeout=0, message="the job to finish")


def test_ignored_exceptions_mean_not_yet_and_are_reported():
    def refused():
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout, match=r"the server to start \(last: ConnectionError\('refused'\)\)"):
        wait_until(refused, timeout=0, message="the server to start", ignoring=(ConnectionError,))
    with pytest.raises(ValueError):  # anything else is a real error, raised at once
        wait_until(lambda: int("x"), timeout=60, message="a number", ignoring=(ConnectionError,))
