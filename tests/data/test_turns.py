"""The turn view sees every turn and part of a conversation: earlier turns, list-valued content, tool calls."""

import json

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from studio.data.frame import build_frame
from studio.data.turns import TURN_COLUMNS, _build_view, carry_view, turn_summary, turn_view
from tests.conftest import SHARED_CASES

CASES = SHARED_CASES / "conversations"


def _frame(*conversations):
    return build_frame([{"messages": m} for m in conversations], list(range(1, len(conversations) + 1)))


def test_every_turn_and_part_is_a_row_naming_its_turn_role_and_kind():
    frame = _frame(
        [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "What is this?"},
                    {"type": "image_url", "image_url": {"url": "https://x/y.jpg"}},
                ],
            },
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"id": "c1", "type": "function", "function": {"name": "lookup", "arguments": '{"q": "bolt"}'}}
                ],
            },
            {"role": "tool", "tool_call_id": "c1", "content": '{"part": "bolt"}'},
            {"role": "assistant", "content": "A bolt.", "weight": 0},
            {"role": "assistant", "content": "It is a bolt.", "name": "helper"},
        ]
    )
    view = turn_view(frame)
    assert tuple(view.columns) == TURN_COLUMNS
    rows = [
        (
            r.turn,
            r.part,
            r.role,
            r.kind,
            r.text if not pd.isna(r.text) else None,
            r.name if not pd.isna(r.name) else None,
            bool(r.trained),
        )
        for r in view.itertuples()
    ]
    assert rows == [
        (0, 0, "system", "text", "Be brief.", None, False),
        (1, 0, "user", "text", "What is this?", None, False),
        (1, 1, "user", "image_url", None, None, False),
        (2, 0, "assistant", "tool_call", '{"q": "bolt"}', "lookup", True),
        (3, 0, "tool", "text", '{"part": "bolt"}', None, False),
        (4, 0, "assistant", "text", "A bolt.", None, False),  # weight 0: context, not trained
        (5, 0, "assistant", "text", "It is a bolt.", "helper", True),
    ]
    assert view["weight"].iloc[5] == 0 and pd.isna(view["weight"].iloc[6])


def test_a_turn_with_nothing_in_it_still_has_a_blank_row_and_the_frame_is_untouched():
    frame = _frame([{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None}], [])
    before = frame.copy(deep=True)
    view = turn_view(frame)
    assert list(zip(view["id"], view["turn"], view["text"], strict=True)) == [(0, 0, "Hi"), (0, 1, "")]
    pd.testing.assert_frame_equal(frame, before)


def test_earlier_turns_of_the_shared_multiturn_case_are_in_the_view():
    lines = (CASES / "15-multiturn-pii-earlier-turn.jsonl").read_text().splitlines()
    frame = build_frame([json.loads(line) for line in lines], list(range(1, len(lines) + 1)))
    view = turn_view(frame)
    first_user = view[(view["turn"] == 1) & (view["role"] == "user")]
    assert len(first_user) == 12 and first_user["text"].str.contains("@example.com").all()
    assert set(view["turn"]) == {0, 1, 2, 3, 4}


def test_summary_counts_turns_and_roles():
    frame = _frame(
        [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "a"},
            {"role": "assistant", "content": "b"},
            {"role": "user", "content": "c"},
            {"role": "assistant", "content": "d"},
        ],
        [{"role": "user", "content": "x"}],
    )
    summary = turn_summary(frame)
    assert summary["turns"].tolist() == [5, 1]
    assert summary["roles"].tolist() == ["system user ×2 assistant ×2", "user"]


_message = st.fixed_dictionaries(
    {
        "role": st.sampled_from(["system", "user", "assistant", "tool"]),
        "content": st.one_of(
            st.none(),
            st.sampled_from(["", "a b", "x"]),
            st.lists(st.sampled_from([{"type": "text", "text": "t"}, {"type": "image_url", "image_url": {}}])),
        ),
    }
)
_chats = st.lists(st.lists(_message, max_size=4), min_size=1, max_size=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_chats, st.data())
def test_a_view_carried_over_an_edit_is_the_view_a_full_build_gives(chats, data):
    before = _frame(*chats)
    turn_view(before)
    positions = data.draw(st.sets(st.integers(0, len(chats) - 1), min_size=1))
    after = before.copy(deep=False)
    messages = after["messages"].copy()
    for p in positions:
        messages.iat[p] = data.draw(st.lists(_message, max_size=4))
    after["messages"] = messages
    assert carry_view(before, after, sorted(positions))
    pd.testing.assert_frame_equal(turn_view(after), _build_view(after))
