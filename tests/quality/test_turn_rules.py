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
