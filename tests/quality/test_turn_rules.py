"""Rules read whole conversations: every turn and role, tool results and tool-call arguments; answer rules read
every trained assistant turn. Cases from ../shared/cases/conversations (see its README)."""

import json

import pytest

from studio.data.frame import build_frame
from studio.data.loader import load_dataset
from studio.quality.rules import analyze
from tests.conftest import SHARED_CASES

CASES = SHARED_CASES / "conversations"


def frame_of(*conversations, tools=None):
    examples = [{"messages": m, **({"tools": tools} if tools else {})} for m in conversations]
    return build_frame(examples, list(range(1, len(examples) + 1)))


def test_case_15_pii_in_the_first_user_turn_and_abuse_in_an_earlier_answer_are_found_in_all_12_rows():
    result = analyze(load_dataset(CASES / "15-multiturn-pii-earlier-turn.jsonl").frame)
    assert {k: result.counts[k] for k in ("pii", "blocklist", "placeholder")} == {
        "pii": 12,
        "blocklist": 12,
        "placeholder": 12,
    }
    issues = result.issues
    pii = issues[issues.rule == "pii"]
    assert pii["message"].str.endswith("in turn 1 (user)").all() and (pii["field"] == "user").all()
    for rule in ("blocklist", "placeholder"):
        found = issues[issues.rule == rule]
        assert found["message"].str.endswith("in turn 2 (assistant)").all() and (found["field"] == "assistant").all()


@pytest.mark.parametrize(
    "messages, rule, message",
    [
        # a tool-call argument is text the model learns to write
        (
            [
                {"role": "user", "content": "Book it"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "c",
                            "type": "function",
                            "function": {"name": "book", "arguments": json.dumps({"email": "kim.ito@example.com"})},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "c", "content": "ok"},
                {"role": "assistant", "content": "Booked, you will get a confirmation shortly by e-mail."},
            ],
            "pii",
            "e-mail address 'kim.ito@example.com' in turn 1 (tool call book)",
        ),
        # a list-valued content's text part is read; the image part is not text
        (
            [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "Hello {{name}}, what is this?"},
                        {"type": "image_url", "image_url": {"url": "https://x/y.png"}},
                    ],
                },
                {"role": "assistant", "content": "It is a rear derailleur from a road bike, probably 11-speed."},
            ],
            "placeholder",
            "template variable '{{name}}' in user",
        ),
    ],
)
def test_text_rules_read_tool_calls_and_content_parts(messages, rule, message):
    result = analyze(frame_of(messages), rules=[rule])
    assert result.issues["message"].tolist() == [message]


def test_answer_rules_read_every_trained_assistant_turn_and_skip_weight_zero():
    short_earlier = [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Yo."},
        {"role": "user", "content": "And the hours?"},
        {"role": "assistant", "content": "We are open from nine to six, Tuesday to Saturday."},
    ]
    untrained = [dict(m) for m in short_earlier]
    untrained[1]["weight"] = 0
    tool_only = [
        {"role": "user", "content": "Status?"},
        {
            "role": "assistant",
            "tool_calls": [{"id": "c", "type": "function", "function": {"name": "status", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c", "content": "shipped"},
        {"role": "assistant", "content": "Your parcel has shipped and should arrive tomorrow morning."},
    ]
    result = analyze(frame_of(short_earlier, untrained, tool_only), rules=["too_short", "empty"])
    assert result.issues[["id", "rule", "message"]].values.tolist() == [
        [0, "too_short", "turn 1 (assistant): the answer has 3 characters (minimum 50)"]
    ]


def test_every_finding_names_its_turn_and_role_and_a_badge_says_where_from_them():
    from studio.quality.turn_scope import finding_where

    calls = [{"id": "c", "type": "function", "function": {"name": "book", "arguments": '{"to": "kim@example.com"}'}}]
    messages = [
        {"role": "system", "content": "You book rooms."},
        {"role": "user", "content": "Mail me at dana.w@example.com"},
        {"role": "assistant", "content": "Ok."},
        {"role": "user", "content": "Book it"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "c", "content": "ok"},
        {"role": "assistant", "content": "Booked; the confirmation is on its way to you by e-mail now."},
    ]
    plain = [{"role": "user", "content": "Write to a.b@example.org"}, {"role": "assistant", "content": "Ok."}]
    frame = frame_of(messages, plain, messages)
    result = analyze(frame, rules=["pii", "too_short", "empty", "exact_duplicate"])
    found = result.issues.sort_values(["rule", "id"])
    rows = found[["id", "turn", "role", "rule", "field"]].astype(object).where(found.notna(), None).values.tolist()
    assert rows == [
        [2, None, None, "exact_duplicate", "all"],
        [0, 1, "user", "pii", "user"],
        [1, 0, "user", "pii", "user"],
        [2, 1, "user", "pii", "user"],
        [0, 2, "assistant", "too_short", "assistant"],
        [1, 1, "assistant", "too_short", "assistant"],
        [2, 2, "assistant", "too_short", "assistant"],
    ]
    where = [
        finding_where(frame["messages"].iat[i], t, f)
        for i, t, f in zip(found["id"], found["turn"], found["field"], strict=True)
    ]
    assert where == ["", "turn 1 (user)", "", "turn 1 (user)", "turn 2 (assistant)", "", "turn 2 (assistant)"]
    calls_only = analyze(frame_of(messages[3:5] + messages[6:]), rules=["pii"]).issues
    assert calls_only[["turn", "role", "field"]].values.tolist() == [[1, "assistant", "tool_calls"]]
    assert finding_where(messages[3:5] + messages[6:], 1, "tool_calls") == "turn 1 (tool call)"


def test_an_empty_last_answer_names_its_turn():
    blank = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": " "}]
    issues = analyze(frame_of(blank), rules=["empty"]).issues
    assert issues[["turn", "role", "field"]].values.tolist() == [[1, "assistant", "assistant"]]


def test_a_single_turn_finding_keeps_its_plain_message():
    frame = frame_of(
        [{"role": "user", "content": "Write to me at a.b@example.org"}, {"role": "assistant", "content": "Sure."}]
    )
    result = analyze(frame, rules=["pii", "too_short"])
    assert sorted(result.issues["message"]) == [
        "e-mail address 'a.b@example.org' in user",
        "the answer has 5 characters (minimum 50)",
    ]


def test_duplicate_prompt_compares_the_whole_context_before_the_answer():
    base = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Price?"}]
    frame = frame_of(
        [*base, {"role": "assistant", "content": "Ten euros for the basic service, parts not included."}],
        [*base, {"role": "assistant", "content": "Twenty euros, and that includes every part you need."}],
        # same last question after a different earlier turn: another prompt
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello, how can I help you?"},
            {"role": "user", "content": "Price?"},
            {"role": "assistant", "content": "Ten euros."},
        ],
    )
    result = analyze(frame, rules=["duplicate_prompt"])
    assert result.issues[["id", "message"]].values.tolist() == [
        [1, "same question as example 0 with a different answer"]
    ]


def test_the_turn_view_is_built_once_per_version(monkeypatch):
    """Every rule of one analyze shares one turn view, a second analyze of the same version builds none, and an
    edited version (a new messages column) builds its own once."""
    from studio.data import turns

    builds = []
    real = turns._build_view
    monkeypatch.setattr(turns, "_build_view", lambda frame: builds.append(len(frame)) or real(frame))
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Write to me at ana@example.org"},
        {"role": "assistant", "content": "Sure, I will write to you today and answer every question."},
        {"role": "user", "content": "Thanks, {{name}}"},
        {"role": "assistant", "content": "You are welcome; ask me anything else you need to know."},
    ]
    frame = frame_of(conversation, conversation[:3])
    first = analyze(frame)
    assert builds == [2] and first.counts["pii"] == 2 and first.counts["placeholder"] == 1
    analyze(frame)
    assert builds == [2]
    edited = frame.assign(messages=[conversation[:3], conversation[:3]])
    assert analyze(edited).counts["placeholder"] == 0
    assert builds == [2, 2]
