"""The OpenAI-compatible test server: answers, streams and faults, driven through the real openai SDK."""

import httpx
import openai
import pytest

from studio.testing.server import Behaviour, TestServer, reply_for, request_key, spawn_server

USER = [{"role": "user", "content": "hello there"}]


@pytest.fixture
def server():
    with TestServer() as running:
        yield running


def _client(server, **options):
    return openai.OpenAI(base_url=server.url, api_key="test", max_retries=0, **options)


def test_lists_models_and_answers_deterministically(server):
    client = _client(server)
    assert [m.id for m in client.models.list()] == ["base-model", "ft:base-model:studio:demo:abc123"]
    response = client.chat.completions.create(model="base-model", messages=USER)
    assert response.choices[0].message.content == "base-model: hello there"
    assert response.usage.prompt_tokens == 2 and response.usage.completion_tokens == 3
    answer = client.chat.completions.create(model="base-model", messages=[{"role": "user", "content": "ANSWER: 42"}])
    assert answer.choices[0].message.content == "42"
    assert server.stats()["completions"] == 2


def test_max_tokens_truncates_with_finish_reason_length(server):
    response = _client(server).chat.completions.create(model="base-model", messages=USER, max_tokens=2)
    assert response.choices[0].message.content == "base-model: hello"
    assert response.choices[0].finish_reason == "length"


def test_streams_chunks_and_usage(server):
    stream = _client(server).chat.completions.create(
        model="base-model",
        messages=[{"role": "user", "content": "ANSWER:one two three"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    pieces, usage = [], None
    for chunk in stream:
        usage = chunk.usage or usage
        pieces += [c.delta.content for c in chunk.choices if c.delta.content]
    assert pieces == ["one", " two", " three"]
    assert usage.completion_tokens == 3


def test_unknown_model_is_a_404(server):
    with pytest.raises(openai.NotFoundError, match="does not exist"):
        _client(server).chat.completions.create(model="nope", messages=USER)


def test_scripted_faults_in_order(server):
    server.configure(script=(429, 500, 503, "drop", "hang"), hang=5, retry_after=0.25)
    client = _client(server, timeout=0.5)
    with pytest.raises(openai.RateLimitError) as rate_limited:
        client.chat.completions.create(model="base-model", messages=USER)
    assert rate_limited.value.response.headers["retry-after"] == "0.25"
    assert rate_limited.value.response.headers["retry-after-ms"] == "250"
    with pytest.raises(openai.InternalServerError):
        client.chat.completions.create(model="base-model", messages=USER)
    with pytest.raises(openai.InternalServerError) as unavailable:
        client.chat.completions.create(model="base-model", messages=USER)
    assert unavailable.value.status_code == 503
    with pytest.raises(openai.APIConnectionError):
        client.chat.completions.create(model="base-model", messages=USER)
    with pytest.raises(openai.APITimeoutError):
        client.chat.completions.create(model="base-model", messages=USER)
    assert client.chat.completions.create(model="base-model", messages=USER).choices[0].message.content
    stats = server.stats()
    assert stats["faults"] == {"429": 1, "500": 1, "503": 1, "drop": 1, "hang": 1}
    assert stats["completions"] == 1 and stats["requests"] == 6


def test_random_faults_are_deterministic_by_seed_and_attempt():
    def faults(seed):
        with TestServer(Behaviour(error_rate=0.3, errors=(429, 500), seed=seed)) as running:
            client = _client(running)
            outcome = []
            for i in range(30):
                try:
                    client.chat.completions.create(model="base-model", messages=[{"role": "user", "content": str(i)}])
                    outcome.append("ok")
                except openai.APIStatusError as exc:
                    outcome.append(exc.status_code)
            return outcome

    first = faults(1)
    assert first == faults(1)
    assert first != faults(2)
    assert 0 < sum(o != "ok" for o in first) < 30


def test_api_key_is_checked_when_set():
    with TestServer(Behaviour(api_key="sk-right")) as running:
        with pytest.raises(openai.AuthenticationError):
            openai.OpenAI(base_url=running.url, api_key="sk-wrong", max_retries=0).models.list()
        assert openai.OpenAI(base_url=running.url, api_key="sk-right", max_retries=0).models.list().data


def test_duplicate_charges_are_counted(server):
    client = _client(server)
    for _ in range(2):
        client.chat.completions.create(model="base-model", messages=USER)
    assert server.stats()["duplicates"] == 1
    assert request_key("base-model", USER) != request_key("other", USER)
    assert reply_for("m", [{"role": "user", "content": "ANSWER:<b>x</b>"}]) == "<b>x</b>"


def test_rejects_unknown_faults():
    with pytest.raises(ValueError, match="unknown fault"):
        Behaviour(errors=(200,))


def test_runs_in_its_own_process():
    with spawn_server(Behaviour(models=("m",))) as process:
        response = httpx.post(f"{process.url}/chat/completions", json={"model": "m", "messages": USER}, timeout=10)
        assert response.json()["choices"][0]["message"]["content"] == "m: hello there"
        process.configure(Behaviour(models=("m",), script=(500,)))
        assert (
            httpx.post(f"{process.url}/chat/completions", json={"model": "m", "messages": USER}, timeout=10).status_code
            == 500
        )
        assert process.stats()["faults"] == {"500": 1}
