"""The chat with every target: streams run at once, each target keeps its own history, tool calls get results."""

from studio.playground.compare import (
    ChatTurn,
    Params,
    StreamStats,
    Target,
    conversation,
    pending_calls,
    stream_side_by_side,
)
from studio.providers.profiles import Profile
from studio.testing.server import Behaviour, TestServer

FT = "ft:base-model:studio:demo:abc123"
LONG = "ANSWER: " + " ".join(f"w{i}" for i in range(12))


def _targets(url, *models):
    return [Target(f"t{i}", Profile("local", base_url=url), m) for i, m in enumerate(models)]


def test_every_target_streams_at_once():
    with TestServer(Behaviour(chunk_delay=0.05)) as server:
        targets = _targets(server.url, "base-model", FT)
        stats = [StreamStats(t.name, t.model) for t in targets]
        ask = [{"role": "user", "content": LONG}]
        events = list(stream_side_by_side(targets, [ask, ask], Params(), stats))
        assert server.stats()["max_in_flight"] == 2
    order = [(e.target, e.kind) for e in events]
    first_of_second = order.index((1, "text"))
    end_of_first = order.index((0, "done"))
    assert first_of_second < end_of_first  # the second target's first token came before the first one finished
    assert sorted(k for _, k in order if k != "text") == ["done", "done"]
    assert [s.text for s in stats] == [LONG.removeprefix("ANSWER: ")] * 2
    assert all(s.tokens_out == 12 and s.latency_s is not None for s in stats)


def test_a_failing_target_ends_with_an_error_and_the_others_finish():
    with TestServer() as server:
        targets = _targets(server.url, "base-model", "no-such-model")
        stats = [StreamStats(t.name, t.model) for t in targets]
        ask = [{"role": "user", "content": "hi"}]
        events = list(stream_side_by_side(targets, [ask, ask], Params(), stats))
    ends = {e.target: e for e in events if e.kind != "text"}
    assert ends[0].kind == "done" and stats[0].text == "base-model: hi"
    assert ends[1].kind == "error" and "no-such-model" in ends[1].text


def test_each_target_keeps_its_own_history_and_tool_calls_get_the_next_message_as_result():
    call = {"id": "call_7", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'}}
    turns = [
        ChatTurn("hi", [StreamStats(text="A: hi"), StreamStats(text="B: hi")]),
        ChatTurn("weather?", [StreamStats(text="", tool_calls=[call]), "HTTP 500: boom"]),
    ]
    assert conversation(turns, 0, "3 °C") == [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "A: hi"},
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": "call_7", "content": "3 °C"},
    ]
    assert conversation(turns, 1, "3 °C") == [  # its failed reply is left out
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "B: hi"},
        {"role": "user", "content": "weather?"},
        {"role": "user", "content": "3 °C"},
    ]
    assert pending_calls(turns, 0) == [call] and pending_calls(turns, 1) == []
