"""Tool-call test sets: whole chats as cases, tools sent over HTTP, tool calls as references, tool-call metrics.

``data/tool_calls.jsonl`` has eight chats over three tools (get_weather, get_time, book_flight). The test server
answers ``CALL: <JSON>`` with those tool calls when the request sends ``tools`` (and in text when it does not), so
each row plants one outcome: the right call, two parallel calls in the other order, another argument, arguments
that break the schema, another function, a text answer instead of a call, a multi-turn chat whose reference is
text after a tool result, and a plain chat without tools.
"""

import json
from pathlib import Path

import pandas as pd
import pytest

from studio.errors import CompareError
from studio.playground.cases import load_cases, parse_tools
from studio.playground.compare import Params, RetryPolicy, Target, next_ballot, open_run, run_compare
from studio.playground.metrics import (
    TOOL_METRIC_KEYS,
    aggregate,
    arguments_equal,
    arguments_valid,
    same_functions,
    score_rows,
    text_instead,
)
from studio.providers.profiles import Profile
from studio.storage.workspace import Workspace
from studio.testing.server import Behaviour, TestServer

DATA = Path(__file__).parent / "data" / "tool_calls.jsonl"
FT = "ft:base-model:studio:demo:abc123"
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=5)

# Row → (same_functions, arguments_equal, arguments_valid, text_instead, exact_match); None: does not apply.
EXPECTED = {
    0: (True, True, True, False, None),
    1: (True, True, True, False, None),
    2: (True, False, True, False, None),
    3: (True, False, False, False, None),
    4: (False, False, True, False, None),
    5: (False, False, None, True, None),
    6: (None, None, None, None, True),
    7: (None, None, None, None, True),
}


def _call(name, arguments):
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {"id": "x", "type": "function", "function": {"name": name, "arguments": text}}


WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer", "minimum": 1}},
            "required": ["city"],
        },
    },
}
TOOLS = [WEATHER, {"type": "function", "function": {"name": "get_time"}}]
PARIS = _call("get_weather", {"city": "Paris"})


@pytest.mark.parametrize(
    "answer,reference,same,equal,valid,instead",
    [
        ([PARIS], [PARIS], True, True, True, False),
        ([_call("get_weather", '{ "city" :  "Paris" }')], [PARIS], True, True, True, False),  # JSON, not text
        ([_call("get_weather", {"city": "Lyon"})], [PARIS], True, False, True, False),
        ([_call("get_time", {})], [PARIS], False, False, True, False),
        ([_call("get_weather", {})], [PARIS], True, False, False, False),  # "city" is required
        ([_call("get_weather", {"city": "Paris", "days": 0})], [PARIS], True, False, False, False),  # minimum 1
        ([_call("get_weather", "{not json")], [PARIS], True, False, False, False),
        ([_call("book_flight", {})], [PARIS], False, False, False, False),  # not one of the tools
        ([_call("get_time", {}), PARIS], [PARIS, _call("get_time", {})], True, True, True, False),  # any order
        ([PARIS, PARIS], [PARIS], False, False, True, False),  # called twice
        (None, [PARIS], False, False, None, True),  # answered in text
        ([PARIS], None, None, None, True, None),  # called where the reference is text
        (None, None, None, None, None, None),
    ],
)
def test_tool_call_metrics(answer, reference, same, equal, valid, instead):
    assert same_functions(answer, reference) is same
    assert arguments_equal(answer, reference) is equal
    assert arguments_valid(answer, TOOLS) is valid
    assert text_instead(answer, reference) is instead


def test_arguments_stored_as_objects_compare_like_json_strings():
    stored = {"id": "r", "type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}
    assert arguments_equal([PARIS], [stored]) is True


def test_cases_are_whole_chats_with_tool_call_references():
    cases = load_cases(DATA)
    assert [c.reference_tool_calls is not None for c in cases] == [True] * 6 + [False] * 2
    assert [call["function"]["name"] for call in cases[1].reference_tool_calls] == ["get_weather", "get_time"]
    assert cases[0].reference is None  # a tool-call turn has no text reference
    multi = cases[6]
    assert [m["role"] for m in multi.messages] == ["system", "user", "assistant", "tool"]  # context kept whole
    assert multi.messages[2]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert multi.reference == "It is 18 °C in Paris."
    assert cases[1].request_options() == {"tools": list(cases[1].tools), "parallel_tool_calls": True}
    assert cases[7].request_options() == {}


def _value(cell):
    return None if pd.isna(cell) else bool(cell)


def _targets(url):
    return [
        Target("base", Profile("local", base_url=url), "base-model"),
        Target("tuned", Profile("local", base_url=url), FT),
    ]


def _run(server, tmp_path, **kwargs):
    cases = load_cases(DATA)
    targets, params = _targets(server.url), Params(max_tokens=64)
    workspace = Workspace(tmp_path / "studio.db")
    run = open_run(workspace, targets, params, cases, source="tool_calls.jsonl")
    results = run_compare(workspace, run, targets, cases, params, retry=FAST, **kwargs)
    return cases, results


def test_a_tool_call_set_sends_tools_and_scores_the_calls_through_faults(tmp_path):
    with TestServer(Behaviour(error_rate=0.3, errors=(429, 500, "drop"), retry_after=0.01, seed=3)) as server:
        cases, results = _run(server, tmp_path, concurrency=4)
        bodies = server.requests()
        faults = server.stats()["faults"]
    assert sum(faults.values()) > 0  # the run went through injected faults
    assert results["error"].isna().all()
    # Over HTTP: every request for a case with tools carried them, and parallel_tool_calls exactly when set.
    by_prompt = {json.dumps(c.messages[-1], sort_keys=True): c for c in cases}
    assert len(bodies) >= 16
    for body in bodies:
        case = by_prompt[json.dumps(body["messages"][-1], sort_keys=True)]
        assert body["messages"] == [dict(m) for m in case.messages]  # the whole conversation, tool turns included
        assert body.get("tools") == (list(case.tools) if case.tools else None)
        assert body.get("parallel_tool_calls") == case.parallel_tool_calls
    scored = score_rows(results)
    for row in scored.itertuples():
        expected = EXPECTED[row.row_index]
        got = tuple(_value(getattr(row, k)) for k in TOOL_METRIC_KEYS)
        assert got == expected[:4], f"row {row.row_index} ({row.target})"
        assert _value(row.exact_match) is expected[4]
        if row.row_index < 6:
            assert json.loads(row.reference_tool_calls) == [dict(c) for c in cases[row.row_index].reference_tool_calls]
    ballot = next_ballot(results, pd.DataFrame(), 1, ("base", "tuned"))  # blind votes show the calls too
    assert ballot.row_index == 0
    assert ballot.left_answer == ballot.right_answer == '→ get_weather(unit="celsius", city="Paris")'
    summary = aggregate(scored, ["base", "tuned"]).set_index("target")
    assert summary.loc["base", "scored"] == "8/8"
    assert summary.loc["base", "text_instead"] == 1  # a count, not a share
    assert summary.loc["base", "same_functions"] == pytest.approx(4 / 6)
    assert summary.loc["base", "arguments_valid"] == pytest.approx(4 / 5)


def test_metrics_over_a_partly_failed_run_say_n_of_n(tmp_path):
    # One worker, so the script's three 500s all hit the first request (row 0, base) until its attempts run out.
    with TestServer(Behaviour(script=(500, 500, 500, 500))) as server:
        _, results = _run(server, tmp_path, concurrency=1)
    summary = aggregate(score_rows(results), ["base", "tuned"]).set_index("target")
    assert summary.loc["base", "scored"] == "7/8" and summary.loc["base", "errors"] == 1
    assert summary.loc["tuned", "scored"] == "8/8"
    assert summary.loc["base", "same_functions"] == pytest.approx(3 / 5)  # over the answers that came back


@pytest.mark.parametrize(
    "text,error",
    [
        ("[{", "not valid JSON"),
        ('"x"', "expected a JSON list"),
        ('[{"type": "function"}]', "tool 1 needs"),
        ('[{"type": "function", "function": {"name": ""}}]', 'needs a "name"'),
        ('[{"function": {"name": "a", "parameters": {"type": "nope"}}}]', "a.parameters is not a valid JSON Schema"),
        ('[{"function": {"name": "a"}}, {"function": {"name": "a"}}]', "repeats the name 'a'"),
    ],
)
def test_tools_typed_as_json_are_checked(text, error):
    with pytest.raises(CompareError, match=error):
        parse_tools(text)


def test_tools_typed_as_json_parse():
    assert parse_tools("  ") == []
    assert parse_tools(json.dumps(WEATHER)) == [WEATHER]
