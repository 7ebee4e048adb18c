"""One retry policy and one error explanation for every provider call (jobs, moderation, the playground).

What is retried follows the ``openai`` SDK's own rules (``openai._base_client.BaseClient._should_retry``): a
timeout, a dropped connection, 408, 409, 429 and any 5xx, and whatever the server's ``x-should-retry`` header says.
One exception: a 429 whose error code is ``insufficient_quota`` is a billing stop, not a rate limit, and waiting
never ends it, so it is never retried. The wait before a retry is what the server asked for (``retry-after-ms``,
``Retry-After`` in seconds or as an HTTP date, read by the SDK's own parser), capped at ``max_delay``; without one,
exponential backoff with full jitter (a uniform draw in [0, ``base_delay`` × 2^(attempt-1)], at most ``max_delay``).
The loop itself is `tenacity <https://tenacity.readthedocs.io>`_.

Every attempt of one :meth:`RetryPolicy.call` carries the same ``Idempotency-Key`` header (:func:`request_key`,
sent by the clients of :func:`studio.providers.profiles.make_client`). The local engine uses it to attach a retry
to the generation it is still decoding instead of starting it again; other servers ignore it.

Provider error text can echo the key (a 401's "Incorrect API key provided: sk-..."): :func:`scrub_key` masks it,
and :func:`explain_error` / :func:`describe_error` always scrub before anything is shown, stored or logged.
"""

from __future__ import annotations

import contextvars
import math
import random
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import tenacity

from studio.errors import RetryInterrupted

T = TypeVar("T")
RETRY_STATUSES = frozenset({408, 409, 429})  # and every 5xx, as the SDK
QUOTA_CODE = "insufficient_quota"
WIND_DOWN = (
    "OpenAI no longer accepts new self-serve fine-tuning jobs (the wind-down ends new jobs on 2027-01-06). "
    "Choose the Local engine profile to train an open model on this machine with the same data and settings."
)
QUOTA_STOP = (
    "a billing/quota stop, not a rate limit: the account has no credit or hit its spending limit, and "
    "retrying will not help. Add credit or raise the limit in the provider's billing settings"
)
IDEMPOTENCY_HEADER = "Idempotency-Key"
_REQUEST_KEY: contextvars.ContextVar[str | None] = contextvars.ContextVar("studio_request_key", default=None)
_MIN_KEY = 8  # shorter "keys" ("none", "x") are placeholders; masking them would garble ordinary words
NO_KEY = "none"
"""What a client sends when the user gave no key (the SDK needs one; a server without keys ignores it)."""
NO_KEY_SENT = "No API key was sent, and the server requires one (401)."
KEY_REJECTED = "The API key was rejected (401). Check the key."


# ---------------------------------------------------------------------------------------------- classification


def _error_fields(exc: BaseException) -> tuple[str | None, str | None, str | None]:
    """(code, type, message) of an SDK status error's body (OpenAI's ``{"error": {...}}`` or a bare object)."""
    body = getattr(exc, "body", None)
    error = body.get("error", body) if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return getattr(exc, "code", None), getattr(exc, "type", None), None
    return error.get("code"), error.get("type"), error.get("message")


def is_quota_error(exc: BaseException) -> bool:
    """True for OpenAI's out-of-credit answer: HTTP 429 with code (or type) ``insufficient_quota``."""
    if getattr(exc, "status_code", None) != 429:
        return False
    code, kind, _ = _error_fields(exc)
    return QUOTA_CODE in (code, kind)


def should_retry(exc: BaseException) -> bool:
    """Whether another attempt may succeed: the SDK's rules, less the quota 429 (see the module docstring)."""
    import openai

    if isinstance(exc, openai.APIConnectionError):  # includes APITimeoutError
        return True
    if not isinstance(exc, openai.APIStatusError) or is_quota_error(exc):
        return False
    verdict = exc.response.headers.get("x-should-retry")
    if verdict in ("true", "false"):
        return verdict == "true"
    return exc.status_code in RETRY_STATUSES or exc.status_code >= 500


def request_key() -> str | None:
    """The idempotency key of the :meth:`RetryPolicy.call` running in this thread (None outside one): one per
    logical request, the same on each of its attempts."""
    return _REQUEST_KEY.get()


def _sdk_retry_after_parser() -> Callable[[Any, Any], float | None]:
    import openai

    # The SDK's parser (retry-after-ms, then Retry-After as seconds or an HTTP date). It never reads ``self``;
    # tests/providers/test_retry.py pins its behaviour so an SDK change shows up there, not in production.
    return openai.OpenAI._parse_retry_after_header


def retry_after(exc: BaseException) -> float | None:
    """Seconds the server asked to wait before retrying (never negative); None when it said nothing usable."""
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if headers is None:
        return None
    seconds = _sdk_retry_after_parser()(None, headers)
    if seconds is None or math.isnan(seconds):
        return None
    return max(0.0, seconds)


# ---------------------------------------------------------------------------------------------- the policy


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per request (the first included), backoff (seconds) and the per-request timeout (seconds)."""

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    timeout: float = 60.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(f"delays must not be negative, got {self.base_delay} and {self.max_delay}")

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt ``attempt`` (1-based): the server's Retry-After when given, else
        full-jitter backoff; never more than ``max_delay``."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_delay)
        return (rng or random).uniform(0, min(self.max_delay, self.base_delay * 2 ** (attempt - 1)))

    def call(
        self,
        fn: Callable[[], T],
        *,
        sleep: Callable[[float], Any] = time.sleep,
        on_retry: Callable[[int, BaseException, float], None] | None = None,
        stop: threading.Event | None = None,
        rng: random.Random | None = None,
    ) -> T:
        """``fn()``, retried per :func:`should_retry`; the last error is raised as it came (an SDK exception).

        ``on_retry(attempt, error, seconds)`` is called before each wait. ``sleep`` waits (tests record instead);
        with ``stop``, a set event ends the retries, and one set during a wait raises :class:`RetryInterrupted`.
        Every attempt sends the same ``Idempotency-Key`` (:func:`request_key`; a call nested in another keeps the
        outer key).
        """

        def wait(state: tenacity.RetryCallState) -> float:
            error = _failure(state)
            return self.delay(state.attempt_number, retry_after(error) if error is not None else None, rng)

        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = _failure(state)
            if on_retry and error is not None and state.next_action is not None:
                on_retry(state.attempt_number, error, state.next_action.sleep)

        def pause(seconds: float) -> None:
            sleep(seconds)
            if stop is not None and stop.is_set():
                raise RetryInterrupted(last_error[0])

        last_error: list[BaseException] = []

        def attempt() -> T:
            try:
                return fn()
            except BaseException as exc:
                last_error[:] = [exc]
                raise

        ends: tenacity.stop.stop_base = tenacity.stop_after_attempt(self.max_attempts)
        token = _REQUEST_KEY.set(_REQUEST_KEY.get() or f"studio-{secrets.token_hex(12)}")
        if stop is not None:
            ends = ends | tenacity.stop_when_event_set(stop)
        retrying = tenacity.Retrying(
            stop=ends,
            wait=wait,
            retry=tenacity.retry_if_exception(should_retry),
            sleep=pause,
            before_sleep=before_sleep,
            reraise=True,
        )
        try:
            return retrying(attempt)
        finally:
            _REQUEST_KEY.reset(token)


def _failure(state: tenacity.RetryCallState) -> BaseException | None:
    """The error of the attempt tenacity is deciding about (it waits and sleeps only after failed ones)."""
    return state.outcome.exception() if state.outcome is not None else None


# ---------------------------------------------------------------------------------------------- explaining


def scrub_key(text: str, *, keys: Iterable[str | None] = (), exc: BaseException | None = None) -> str:
    """``text`` with every key masked as ``***``: the ``keys`` given and the one the failed request sent
    (``Authorization: Bearer …`` or Azure's ``api-key`` header of ``exc.request``)."""
    found = [key for key in keys if key]
    request = getattr(exc, "request", None)
    headers = getattr(request, "headers", None) or {}
    for name in ("authorization", "api-key"):
        found.append((headers.get(name) or "").removeprefix("Bearer ").strip())
    for key in sorted({k.strip() for k in found if k and len(k.strip()) >= _MIN_KEY}, key=len, reverse=True):
        text = text.replace(key, "***")
    return text


def _sent_key(exc: BaseException) -> bool:
    """Whether the failed request carried a key (not none, nor the :data:`NO_KEY` placeholder); True when the
    request is unknown, so a 401 is then taken as a rejected key."""
    request = getattr(exc, "request", None)
    headers = getattr(request, "headers", None)
    if headers is None:
        return True
    sent = (headers.get("authorization") or "").partition(" ")[2] or headers.get("api-key") or ""
    return sent.strip() not in ("", NO_KEY)


def explain_error(exc: BaseException, *, keys: Iterable[str | None] = ()) -> str:
    """A one-line, actionable explanation of an SDK exception after the retries (the key never in it)."""
    return scrub_key(_explanation(exc), keys=keys, exc=exc)


def describe_error(exc: BaseException, *, keys: Iterable[str | None] = (), limit: int = 500) -> str:
    """A short record of one failed request for a results table: ``HTTP 503: <the server's message>`` or
    ``APITimeoutError: <message>``; a quota 429 says it is a billing stop. Scrubbed, at most ``limit`` characters."""
    status = getattr(exc, "status_code", None)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    text = f"HTTP {status}: {message}" if status else f"{type(exc).__name__}: {message}"
    if is_quota_error(exc):
        text += f" ({QUOTA_STOP})"
    elif status == 401 and not _sent_key(exc):
        text += " (no API key was sent)"
    return scrub_key(text, keys=keys, exc=exc)[:limit]


def _explanation(exc: BaseException) -> str:
    import openai

    if isinstance(exc, RetryInterrupted):
        return f"Interrupted before retrying: {_explanation(exc.last)}"
    if isinstance(exc, openai.APIStatusError):
        code, _, message = _error_fields(exc)
        if exc.status_code == 401:
            return KEY_REJECTED if _sent_key(exc) else NO_KEY_SENT
        if exc.status_code == 403 and code == "training_not_available":
            return f"Fine-tuning is not available to this account (403 training_not_available). {WIND_DOWN}"
        if exc.status_code == 403:
            return f"Permission denied (403): {message or 'the key cannot do this'}."
        if exc.status_code == 404:
            return f"Not found (404): {message or 'the model or job does not exist'}. Is the model fine-tunable?"
        if is_quota_error(exc):
            return f"Out of quota (429 {QUOTA_CODE}), {QUOTA_STOP}. The provider said: {message or 'no detail'}"
        if exc.status_code == 429:
            return f"Rate limited (429) after several retries: {message or 'try again later'}."
        if exc.status_code >= 500:
            return f"The provider failed ({exc.status_code}) after several retries: {message or 'server error'}."
        return f"Request rejected ({exc.status_code}): {message or exc}"
    if isinstance(exc, openai.APITimeoutError):
        return "The provider did not answer in time (timeout) after several retries."
    if isinstance(exc, openai.APIConnectionError):
        return "Cannot reach the provider (network down or wrong endpoint)."
    return str(exc)
