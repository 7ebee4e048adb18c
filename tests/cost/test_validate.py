"""Format checks: every key triggered by a minimal bad example, none by valid tool/weight/list/multi-turn ones."""

import json

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.cost import format_checks
from studio.cost import validation as validate
from studio.cost.format_checks import check_example
from studio.cost.prices import load_prices
from studio.cost.validation import check_examples, validate_examples, validate_file
from studio.errors import LoadError

SYSTEM = {"role": "system", "content": "Be brief."}
USER = {"role": "user", "content": "Weather in Paris?"}
ASSISTANT = {"role": "assistant", "content": "Sunny."}
CALL = {"id": "call_1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Paris"}'}}
TOOL = {
    "type": "function",
    "function": {
        "name": "weather",
        "description": "Current weather.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}


def chat(*messages, **extra):
    return {"messages": [SYSTEM, USER, *messages], **extra}


BAD = [
    ("data_type", ["not", "an", "object"]),
    ("data_type", chat("not a message", ASSISTANT)),
    ("missing_messages_list", {"prompt": "x", "completion": "y"}),
    ("missing_messages_list", {"messages": []}),
    ("message_missing_key", chat({"content": "no role"}, ASSISTANT)),
    ("message_missing_key", chat({"role": "assistant"})),
    ("message_unrecognized_key", chat({**ASSISTANT, "thoughts": "hmm"})),
    ("unrecognized_role", chat({"role": "bot", "content": "Sunny."}, ASSISTANT)),
    ("unrecognized_role", chat({"role": ["assistant"], "content": "Sunny."}, ASSISTANT)),
    ("missing_content", chat({"role": "assistant", "content": ""})),
    ("missing_content", chat({"role": "assistant", "content": None})),
    ("missing_content", chat({"role": "assistant", "content": 42})),
    ("missing_content", chat({"role": "assistant", "content": [{"type": "text", "text": ""}]})),
    ("example_missing_assistant_message", {"messages": [SYSTEM, USER]}),
    ("invalid_weight", chat({**ASSISTANT, "weight": 0.5})),
    ("invalid_weight", chat({**ASSISTANT, "weight": True})),
    ("invalid_weight", {"messages": [SYSTEM, {**USER, "weight": 1}, ASSISTANT]}),
    ("invalid_tool_calls", chat({"role": "assistant", "content": None, "tool_calls": []}, ASSISTANT)),
    (
        "invalid_tool_calls",
        chat({"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "w", "arguments": {}}}]}, ASSISTANT),
    ),
    (
        "invalid_tool_calls",
        chat({"role": "assistant", "tool_calls": [CALL]}, {"role": "tool", "content": "18C"}, ASSISTANT),
    ),
    (
        "invalid_tool_calls",
        chat(
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_9", "content": "18C"},
            ASSISTANT,
        ),
    ),
    (
        "invalid_tool_calls",
        chat(
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            {"role": "assistant", "tool_calls": [CALL]},
            ASSISTANT,
        ),
    ),  # answers a later call
    (
        "invalid_tool_calls",
        chat(
            {
                "role": "assistant",
                "tool_calls": [{**CALL, "function": {"name": "weather", "arguments": "{city: Paris"}}],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            ASSISTANT,
        ),
    ),
    (
        "invalid_tool_content",
        chat(
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18C"}]},
            ASSISTANT,
        ),
    ),
    (
        "invalid_tool_content",
        chat(
            {"role": "assistant", "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": None},
            ASSISTANT,
        ),
    ),
    (
        "unknown_tool",
        chat(
            {"role": "assistant", "tool_calls": [{**CALL, "function": {"name": "forecast", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
            ASSISTANT,
            tools=[TOOL],
        ),
    ),
    ("invalid_tools", chat(ASSISTANT, tools={"type": "function"})),
    ("invalid_tools", chat(ASSISTANT, tools=[{"type": "function", "function": {"description": "no name"}}])),
    ("invalid_tools", chat(ASSISTANT, tools=[TOOL], parallel_tool_calls="yes")),
    ("missing_system_message", {"messages": [USER, ASSISTANT]}),
    ("missing_user_message", {"messages": [SYSTEM, ASSISTANT]}),
    ("example_unrecognized_key", chat(ASSISTANT, id=7)),
]

VALID = [
    chat(ASSISTANT),
    chat(
        {"role": "assistant", "content": None, "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ASSISTANT,
        tools=[TOOL],
        parallel_tool_calls=False,
    ),
    chat(
        {"role": "assistant", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ASSISTANT,
    ),
    chat({**ASSISTANT, "weight": 0}, USER, {**ASSISTANT, "weight": 1}),
    {
        "messages": [
            SYSTEM,
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "A cat."}]},
        ]
    },
    {"messages": [{"role": "developer", "content": "Be brief."}, USER, {**ASSISTANT, "name": "helper"}]},
    # an assistant turn that only calls tools: empty text, or an empty text part beside tool_calls, is fine
    chat(
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ASSISTANT,
        tools=[TOOL],
    ),
    chat(
        {"role": "assistant", "content": [{"type": "text", "text": ""}], "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ASSISTANT,
    ),
]


@pytest.mark.parametrize("key,example", BAD)
def test_each_key_is_triggered_by_a_minimal_bad_example(key, example):
    keys = [k for k, _ in check_example(example)]
    assert key in keys
    assert len(keys) == len(set(keys))  # one finding per key and example


@pytest.mark.parametrize("example", VALID)
def test_valid_tool_weight_list_and_multi_turn_examples_pass(example):
    assert check_example(example) == []


def test_messages_name_the_message_and_value():
    findings = dict(check_example(chat({"role": "bot", "content": "x"}, {"role": "bot", "content": "y"}, ASSISTANT)))
    assert findings["unrecognized_role"] == "messages[2] has role 'bot' (and 1 more)"


@pytest.mark.parametrize(
    "example,key,message",
    [
        (
            chat(
                {"role": "assistant", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "18C"}]},
                ASSISTANT,
            ),
            "invalid_tool_content",
            "messages[3]: a tool message's content must be a string, got list",
        ),
        (
            chat(
                {"role": "assistant", "tool_calls": [CALL]},
                {"role": "tool", "tool_call_id": "call_9", "content": "18C"},
                ASSISTANT,
            ),
            "invalid_tool_calls",
            "messages[3]: 'tool_call_id' 'call_9' answers no tool call made earlier in the conversation",
        ),
        (
            chat(
                {
                    "role": "assistant",
                    "tool_calls": [CALL, {**CALL, "id": "call_2", "function": {"name": "forecast", "arguments": "{}"}}],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
                {"role": "tool", "tool_call_id": "call_2", "content": "rain"},
                ASSISTANT,
                tools=[TOOL],
            ),
            "unknown_tool",
            "messages[2]: tool call 2 calls 'forecast', which is not in 'tools'",
        ),
    ],
)
def test_tool_findings_name_the_message_they_are_about(example, key, message):
    assert dict(check_example(example))[key] == message


def test_findings_frame_has_rows_ids_and_severities():
    examples = [chat(ASSISTANT)] * 12 + [{"messages": [USER]}]
    findings = validate_examples(examples, ids=list(range(100, 113)))
    assert list(findings.columns) == ["row", "id", "severity", "key", "message"]
    rows = findings[findings["key"] == "example_missing_assistant_message"]
    assert (rows["row"].tolist(), rows["id"].tolist(), rows["severity"].tolist()) == ([13], [112], ["error"])
    general = findings[findings["key"] == "few_examples"]
    assert general["row"].isna().all() and general["severity"].tolist() == ["advice"]


@pytest.mark.parametrize("n,key", [(9, "too_few_examples"), (10, "few_examples"), (49, "few_examples"), (50, None)])
def test_example_count_thresholds(n, key):
    report = check_examples([chat(ASSISTANT)] * n)
    found = {k for k in ("too_few_examples", "few_examples") if k in {**report.errors, **report.advice}}
    assert found == ({key} if key else set())
    assert report.ok == (key != "too_few_examples")


def test_over_limit_uses_the_price_tables_limit(tmp_path):
    prices_file = tmp_path / "prices.toml"
    prices_file.write_text('[limits]\n"gpt-4o-mini" = 30\n')
    prices = load_prices(prices_file)
    long = chat({"role": "assistant", "content": "word " * 40})
    report = check_examples([chat(ASSISTANT)] * 50 + [long], model="gpt-4o-mini", prices=prices)
    over = report.findings[report.findings["key"] == "over_token_limit"]
    assert over["row"].tolist() == [51] and report.warnings == {"over_token_limit": 1}
    assert "> 30 for gpt-4o-mini" in over["message"].iloc[0]
    assert report.limit == 30 and report.tokens[50] > 30


@pytest.mark.parametrize(
    "model,limit,advice",
    [
        ("gpt-4o", 65536, {}),
        ("gpt-3.5-turbo-0125", 16385, {}),
        ("gpt-4.1", 65536, {}),  # missing from the table until the token-limit fix
        ("my-model", None, {"token_limit_not_published": 1}),
        (None, None, {}),
    ],
)
def test_limit_per_model_or_not_published(model, limit, advice, tmp_path):
    path = tmp_path / "prices.toml"
    path.write_text('[models."my-model"]\ntraining = 1\n')  # priced, no published limit
    report = check_examples([chat(ASSISTANT)] * 60, model=model, prices=load_prices(path))
    assert report.limit == limit and report.advice == advice


def write_jsonl(path, lines):
    path.write_bytes(b"\n".join(line if isinstance(line, bytes) else json.dumps(line).encode() for line in lines))
    return path


def test_file_bad_json_line_is_a_data_type_error_naming_the_line(tmp_path):
    path = write_jsonl(
        tmp_path / "train.jsonl",
        [b"\xef\xbb\xbf" + json.dumps(chat(ASSISTANT)).encode(), b"", b'{"messages": [', chat(ASSISTANT)],
    )
    report = validate_file(path)
    assert report.rows == 3 and not report.ok
    bad = report.findings[report.findings["key"] == "data_type"]
    assert bad["row"].tolist() == [3]
    assert bad["message"].iloc[0].startswith("line 3 is not valid JSON (")
    assert report.summary() == {
        "rows": 3,
        "errors": {"data_type": 1, "too_few_examples": 1},
        "warnings": {},
        "advice": {},
    }
    assert report.tokens.tolist()[1] == 0


def test_parallel_file_scan_equals_in_process_scan(tmp_path, monkeypatch):
    lines = [chat(ASSISTANT), {"messages": [USER]}, b"oops", chat({"role": "assistant", "content": "Rain " * 9})]
    path = write_jsonl(tmp_path / "big.jsonl", lines * 500)
    serial = validate_file(path, model="gpt-4o", workers=1)
    monkeypatch.setattr(validate, "PARALLEL_MIN_BYTES", 1)
    monkeypatch.setattr(validate, "_PART_BYTES", 4096)
    parallel = validate_file(path, model="gpt-4o", workers=2)
    pd.testing.assert_frame_equal(parallel.findings, serial.findings)
    assert parallel.tokens.tolist() == serial.tokens.tolist()
    assert parallel.errors == {"data_type": 500, "example_missing_assistant_message": 500}
    assert parallel.findings["row"].max() == 1999  # file line numbers survive the split
    in_memory = validate.validate_bytes(path.read_bytes(), model="gpt-4o", workers=2)
    pd.testing.assert_frame_equal(in_memory.findings, serial.findings)
    assert in_memory.tokens.tolist() == serial.tokens.tolist()


def test_large_file_warning(tmp_path, monkeypatch):
    monkeypatch.setattr(validate, "MAX_FILE_BYTES", 100)
    report = validate_file(write_jsonl(tmp_path / "t.jsonl", [chat(ASSISTANT)] * 60))
    assert report.warnings == {"file_too_large": 1} and report.ok


def test_missing_file_names_the_file(tmp_path):
    with pytest.raises(LoadError, match=r"nope\.jsonl: file not found"):
        validate_file(tmp_path / "nope.jsonl")


def test_cookbook_mode_counts_with_cl100k(tmp_path):
    report = validate_file(write_jsonl(tmp_path / "t.jsonl", [chat(ASSISTANT)]), mode="cookbook")
    assert report.encoding == "cl100k_base" and report.mode == "cookbook"


def test_every_rule_is_described():
    rules = format_checks.describe_rules()
    assert set(rules["severity"]) == {"error", "warning", "advice"}
    assert rules["description"].str.len().min() > 10


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(["role", "content", "name", "tool_calls", "weight", "function", "type", "text", "id"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    example=st.dictionaries(st.sampled_from(["messages", "tools", "parallel_tool_calls"]), json_values) | json_values
)
def test_any_json_is_validated_without_crashing(example):
    for key, message in check_example(example):
        assert key in format_checks.RULES and message


def test_validate_json_findings_give_the_message_index_so_tools_need_not_parse_text():
    """``studio validate --json --details`` lists ``SourceReport.findings()``: case 02's error is on the tool
    message, ``messages[2]``, so ``message_index`` is 2; a finding about the whole example or file has None."""
    from studio.cost.sources import check_source
    from tests.conftest import SHARED_CASES

    findings = check_source(str(SHARED_CASES / "conversations" / "02-tool-list-content.jsonl")).findings()
    by_key = {(f["key"], f["message_index"]) for f in findings}
    assert by_key == {("invalid_tool_content", 2), ("missing_system_message", None), ("few_examples", None)}
    assert all(f["message"].startswith("messages[2]: ") for f in findings if f["key"] == "invalid_tool_content")
