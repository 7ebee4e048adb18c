"""The one provider retry policy, at the HTTP level: a real ``openai`` client over ``httpx.MockTransport``.

Waits are recorded by an injected ``sleep``, never slept.
"""

from __future__ import annotations

import email.utils
import threading
import time

import httpx
import openai
import pytest

from studio.providers.jobs import JobError, with_retries
from studio.providers.profiles import Profile, make_client
from studio.providers.retry import (
    RetryInterrupted,
    RetryPolicy,
    describe_error,
    explain_error,
    is_quota_error,
    retry_after,
    scrub_key,
    should_retry,
)

KEY = "sk-proj-canary-0123456789"
QUOTA = {
    "error": {
        "message": "You exceeded your current quota, please check your plan and billing details.",
        "type": "insufficient_quota",
        "param": None,
        "code": "insufficient_quota",
    }
}
RATE = {
    "error": {
        "message": "Rate limit reached for requests",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
}
MODELS = {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model", "created": 1, "owned_by": "openai"}]}


class Scripted:
    """A transport answering each request with the next (status, body, headers), then 200 with a model list."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status, body, headers = self.answers.pop(0) if self.answers else (200, MODELS, None)
        return httpx.Response(status, json=body, headers=headers or {})

    def client(self) -> openai.OpenAI:
        return make_client(
            Profile("openai"), api_key=KEY, max_retries=0, http_client=httpx.Client(transport=httpx.MockTransport(self))
        )


def _error(status, body=None, headers=None) -> openai.APIStatusError:
    """The SDK's own exception for one HTTP answer."""
    transport = Scripted((status, body or {"error": {"message": "x"}}, headers))
    with pytest.raises(openai.APIStatusError) as caught:
        transport.client().models.list()
    return caught.value


def test_a_quota_429_is_one_request_and_says_it_is_a_billing_stop():
    cloud = Scripted((429, QUOTA, {"retry-after": "1"}))
    delays = []
    with pytest.raises(JobError) as caught:
        with_retries(lambda: cloud.client().models.list(), attempts=5, sleep=delays.append)
    assert len(cloud.requests) == 1 and delays == []
    message = str(caught.value)
    assert "quota" in message and "not a rate limit" in message and "Rate limited" not in message
    assert "You exceeded your current quota" in message  # what the server said stays visible


def test_a_quota_429_in_a_results_table_says_quota_too():
    error = _error(429, QUOTA)
    assert is_quota_error(error) and not should_retry(error)
    assert describe_error(error).startswith("HTTP 429: ") and "You exceeded your current quota" in describe_error(error)
    assert "billing/quota stop, not a rate limit" in describe_error(error)
    assert not is_quota_error(_error(429, RATE)) and should_retry(_error(429, RATE))


@pytest.mark.parametrize(
    "headers,expected",
    [
        ({"retry-after": "2"}, 2.0),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # OpenAI's milliseconds win, as in the SDK
        ({"retry-after": "3600"}, 20.0),  # capped at max_delay
    ],
)
def test_a_rate_limit_429_waits_what_retry_after_says(headers, expected):
    cloud = Scripted((429, RATE, headers))
    delays = []
    models = with_retries(lambda: cloud.client().models.list(), attempts=3, max_delay=20, sleep=delays.append)
    assert [m.id for m in models] == ["gpt-4o-mini"]
    assert delays == [pytest.approx(expected)] and len(cloud.requests) == 2


def test_retry_after_as_an_http_date():
    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert retry_after(_error(429, RATE, {"retry-after": when})) == pytest.approx(30, abs=2)
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry_after(_error(503, None, {"retry-after": past})) == 0.0  # never a negative wait
    assert retry_after(_error(503, None, {"retry-after": "soon"})) is None
    assert retry_after(_error(503)) is None


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504])
def test_transient_statuses_are_retried(status):
    cloud = Scripted((status, {"error": {"message": f"status {status}"}}, None))
    delays = []
    with_retries(lambda: cloud.client().models.list(), attempts=3, base_delay=0.5, sleep=delays.append)
    assert len(cloud.requests) == 2 and len(delays) == 1
    assert 0 <= delays[0] <= 0.5  # full jitter on the first backoff


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_client_errors_are_not_retried(status):
    cloud = Scripted((status, {"error": {"message": f"status {status}"}}, None))
    delays = []
    with pytest.raises(JobError):
        with_retries(lambda: cloud.client().models.list(), attempts=5, sleep=delays.append)
    assert len(cloud.requests) == 1 and delays == []


def test_the_servers_x_should_retry_header_is_obeyed():
    cloud = Scripted((503, {"error": {"message": "down"}}, {"x-should-retry": "false"}))
    with pytest.raises(JobError, match=r"provider failed \(503\)"):
        with_retries(lambda: cloud.client().models.list(), sleep=lambda s: None)
    assert len(cloud.requests) == 1
    cloud = Scripted((400, {"error": {"message": "try again"}}, {"x-should-retry": "true"}))
    with_retries(lambda: cloud.client().models.list(), sleep=lambda s: None)
    assert len(cloud.requests) == 2


def test_backoff_grows_with_full_jitter_and_the_attempts_are_bounded():
    cloud = Scripted(*[(500, {"error": {"message": "boom"}}, None)] * 4)
    delays, retried = [], []
    with pytest.raises(JobError, match=r"provider failed \(500\) after several retries"):
        with_retries(
            lambda: cloud.client().models.list(),
            attempts=4,
            base_delay=1.0,
            max_delay=3.0,
            sleep=delays.append,
            on_retry=lambda n, exc, s: retried.append((n, exc.status_code, s)),
        )
    assert len(cloud.requests) == 4 and len(delays) == 3
    assert [n for n, _, _ in retried] == [1, 2, 3] and [s for _, _, s in retried] == delays
    assert all(0 <= d <= bound for d, bound in zip(delays, (1.0, 2.0, 3.0), strict=True))


def test_a_stop_during_a_wait_interrupts_the_retries():
    cloud = Scripted((503, {"error": {"message": "down"}}, {"retry-after": "30"}))
    stop = threading.Event()

    def wait(seconds: float) -> None:
        stop.set()  # as the Playground's halt.wait returning early

    with pytest.raises(RetryInterrupted) as caught:
        RetryPolicy().call(lambda: cloud.client().models.list(), sleep=wait, stop=stop)
    assert isinstance(caught.value.last, openai.InternalServerError) and len(cloud.requests) == 1


def test_keys_are_scrubbed_from_every_explanation():
    echo = {
        "error": {
            "message": f"Incorrect API key provided: {KEY}.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
        }
    }
    error = _error(400, echo)
    assert KEY not in explain_error(error) and "***" in explain_error(error)  # from the request's own header
    assert KEY not in describe_error(error)
    assert scrub_key(f"key {KEY} and other-key-123", keys=[KEY, "other-key-123", None]) == "key *** and ***"
    assert scrub_key("none of this is a key", keys=["none"]) == "none of this is a key"  # placeholders stay


def test_the_policy_rejects_nonsense_before_any_request():
    with pytest.raises(ValueError, match="max_attempts must be at least 1, got 0"):
        RetryPolicy(max_attempts=0)


def test_a_401_says_whether_a_key_was_sent():
    """A compatible server refusing a request without a key said "The API key was rejected", as for a wrong key."""
    wrong = _error(401, {"error": {"message": "Incorrect API key provided.", "code": "invalid_api_key"}})
    assert explain_error(wrong) == "The API key was rejected (401). Check the key."
    assert "no API key" not in describe_error(wrong)

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(401, json={"error": {"message": "Incorrect API key provided.", "code": None}})

    keyless = make_client(
        Profile("compatible", base_url="http://gpu-box:8000/v1"),
        api_key=None,
        http_client=httpx.Client(transport=httpx.MockTransport(answer)),
    )
    with pytest.raises(openai.AuthenticationError) as caught:
        keyless.models.list()
    assert explain_error(caught.value) == "No API key was sent, and the server requires one (401)."
    assert describe_error(caught.value).endswith("(no API key was sent)")
