"""Moderation pre-check against a mocked HTTP layer (real openai SDK, real response shapes) and the offline list."""

import json

import httpx
import openai
import pytest

from studio.errors import ModerationError
from studio.quality.moderation import blocklist_rows, example_texts, moderate, moderate_rows

CATEGORIES = [
    "harassment",
    "harassment/threatening",
    "hate",
    "hate/threatening",
    "illicit",
    "illicit/violent",
    "self-harm",
    "self-harm/instructions",
    "self-harm/intent",
    "sexual",
    "sexual/minors",
    "violence",
    "violence/graphic",
]


def result(text):
    hits = dict.fromkeys(CATEGORIES, False)
    hits["violence"] = "kill" in text
    hits["harassment"] = "idiot" in text
    return {
        "flagged": any(hits.values()),
        "categories": hits,
        "category_scores": {name: float(hit) for name, hit in hits.items()},
        "category_applied_input_types": {name: ["text"] for name in CATEGORIES},
    }


def client_for(answers):
    """An OpenAI client whose transport replays ``answers`` (status codes, or 200 with real results)."""
    requests = []

    def handler(request):
        body = json.loads(request.content)
        requests.append(body)
        status = answers.pop(0) if answers else 200
        if status != 200:
            return httpx.Response(status, json={"error": {"message": f"status {status}", "type": "x"}})
        return httpx.Response(
            200, json={"id": "modr-1", "model": body["model"], "results": [result(text) for text in body["input"]]}
        )

    client = openai.OpenAI(api_key="sk-test", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    return client, requests


TEXTS = ["How do I reset my password?", "I will kill the process", "", "you idiot", "Thanks!"]


def test_flags_rows_in_batches_and_reports_progress():
    client, requests = client_for([])
    seen = []
    results = moderate_rows(client, TEXTS, batch_size=2, on_progress=seen.append)
    assert results["flagged"].tolist() == [False, True, False, True, False]
    assert results["categories"].tolist() == ["", "violence", "", "harassment", ""]
    assert [r["input"] for r in requests] == [TEXTS[:2], TEXTS[3:]]  # the empty text is never sent
    assert seen == [0.5, 1.0]


@pytest.mark.parametrize("status", [429, 500, 503])
def test_retries_rate_limits_and_server_errors(status):
    client, requests = client_for([status, status])
    waits = []
    results = moderate_rows(client, TEXTS[:2], sleep=waits.append)
    assert results["flagged"].tolist() == [False, True]
    assert len(requests) == 3 and len(waits) == 2
    # Full jitter (the bug was a fixed 0.5 s, 1 s that every client retried in lockstep): a draw below the backoff.
    assert 0 <= waits[0] <= 0.5 and 0 <= waits[1] <= 1.0


def test_moderation_waits_what_retry_after_says():
    seen = []

    def handler_headers(request):  # a 429 with Retry-After: 7 seconds, then the results
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(
                429,
                json={"error": {"message": "slow down", "type": "requests", "code": "rate_limit_exceeded"}},
                headers={"retry-after": "7"},
            )
        body = json.loads(request.content)
        return httpx.Response(
            200, json={"id": "modr-1", "model": body["model"], "results": [result(text) for text in body["input"]]}
        )

    client = openai.OpenAI(api_key="sk-test", http_client=httpx.Client(transport=httpx.MockTransport(handler_headers)))
    waits = []
    assert moderate_rows(client, TEXTS[:2], sleep=waits.append)["flagged"].tolist() == [False, True]
    assert waits == [7.0] and len(seen) == 2


def test_moderation_stops_at_once_when_the_quota_is_spent():
    requests = []

    def handler(request):
        requests.append(request)
        return httpx.Response(
            429,
            json={
                "error": {
                    "message": "You exceeded your current quota",
                    "type": "insufficient_quota",
                    "code": "insufficient_quota",
                }
            },
        )

    client = openai.OpenAI(api_key="sk-test", http_client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(ModerationError, match="quota stop, not a rate limit"):
        moderate_rows(client, TEXTS[:2], sleep=lambda s: None)
    assert len(requests) == 1


def test_gives_up_after_the_retries_naming_the_rows():
    client, requests = client_for([500] * 10)
    with pytest.raises(ModerationError, match="moderation of rows 11-12 failed after 3 attempts"):
        moderate_rows(client, TEXTS[:2], rows=[11, 12], max_retries=2, sleep=lambda s: None)
    assert len(requests) == 3


def test_a_bad_key_stops_at_once():
    client, requests = client_for([401])
    with pytest.raises(ModerationError, match="moderation of rows 1-2 failed: "):
        moderate_rows(client, TEXTS[:2], sleep=lambda s: None)
    assert len(requests) == 1


@pytest.mark.parametrize(
    "text,flagged,category",
    [
        ("You are an idiot.", True, "blocklist: idiot"),
        ("Eres un idiota, de verdad.", True, "blocklist: idiota"),
        ("Idiotic is not on the list", False, ""),
        ("A perfectly kind answer.", False, ""),
    ],
)
def test_offline_blocklist(text, flagged, category):
    results = blocklist_rows([text])
    assert (results["flagged"].iloc[0], results["categories"].iloc[0]) == (flagged, category)


def test_without_a_client_the_report_says_blocklist():
    report = moderate(["fine", "you moron"], rows=[3, 9])
    assert (report.source, report.rows, report.flagged) == ("blocklist", 2, 1)
    assert report.results["row"].tolist() == [3, 9]


def test_with_a_client_the_report_says_openai():
    client, _ = client_for([])
    assert moderate(TEXTS, client=client).source == "openai"


def test_example_texts_join_every_turn():
    examples = [
        {
            "messages": [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]},
            ]
        },
        None,
    ]
    assert example_texts(examples) == ["Hi\nHello", ""]
