"""Conversation-panel operations change one turn and keep everything else; they round-trip through recipes."""

import json

import pytest

from studio.data.frame import build_frame
from studio.editing.recipes import Recipe, apply_recipe
from studio.editing.turn_ops import (
    DeleteTurn,
    EditToolCall,
    EditTurn,
    InsertTurn,
    MoveTurn,
    SetRole,
    SetWeight,
)
from studio.errors import OperationError

CALL = {"id": "c1", "type": "function", "function": {"name": "takeoff", "arguments": '{"altitude": 100}'}}
MESSAGES = [
    {"role": "system", "content": "Be brief.", "x_source": "crm"},
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://i/1.png"}},
        ],
        "name": "kim",
    },
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "ok"},
    {"role": "assistant", "content": "A drone, now at 100 m.", "weight": 1},
]


@pytest.fixture
def frame():
    return build_frame([{"messages": MESSAGES}, {"messages": [{"role": "user", "content": "Hi"}]}], [1, 2])


def test_each_operation_changes_only_its_turn(frame):
    def after(op):
        return op.apply(frame)["messages"].iat[0]

    edited = after(EditTurn(0, 1, "What part is this?"))
    assert edited[1] == {
        **MESSAGES[1],
        "content": [{"type": "text", "text": "What part is this?"}, MESSAGES[1]["content"][1]],
    }
    assert [m for i, m in enumerate(edited) if i != 1] == [m for i, m in enumerate(MESSAGES) if i != 1]
    assert after(SetWeight(0, 4, 0))[4] == {**MESSAGES[4], "weight": 0}
    assert after(DeleteTurn(0, 3)) == MESSAGES[:3] + MESSAGES[4:]
    assert after(InsertTurn(0, 5, "user", "Thanks!"))[5] == {"role": "user", "content": "Thanks!"}
    assert after(MoveTurn(0, 0, 1))[:2] == [MESSAGES[1], MESSAGES[0]]
    assert after(SetRole(0, 0, "developer"))[0] == {**MESSAGES[0], "role": "developer"}
    call = after(EditToolCall(0, 2, 0, '{"altitude": 120}'))[2]["tool_calls"][0]
    assert call == {**CALL, "function": {"name": "takeoff", "arguments": '{"altitude": 120}'}}
    assert frame["messages"].iat[0] == MESSAGES  # the input frame is untouched


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda: EditToolCall(0, 2, 0, "{altitude: 120"), "not valid JSON"),
        (lambda: SetWeight(0, 4, 2), "0 or 1"),
        (lambda: SetRole(0, 0, "robot"), "role must be one of"),
    ],
)
def test_bad_operations_are_refused_when_built(build, message):
    with pytest.raises(OperationError, match=message):
        build()


@pytest.mark.parametrize(
    "op, message",
    [
        (SetWeight(0, 1, 0), "not an assistant turn"),
        (EditTurn(0, 9, "x"), "has no turn 9"),
        (EditToolCall(0, 4, 0, "{}"), "has no call 0"),
        (DeleteTurn(7, 0), "no example with id 7"),
    ],
)
def test_operations_on_missing_turns_say_what_is_missing(frame, op, message):
    with pytest.raises(OperationError, match=message):
        op.apply(frame)


def test_turn_operations_replay_from_a_recipe(frame):
    ops = [EditTurn(0, 1, "What part is this?"), SetWeight(0, 4, 0), InsertTurn(1, 1, "assistant", "Hello!")]
    recipe = Recipe.from_dict(json.loads(json.dumps(Recipe(tuple(ops)).to_dict())))
    assert recipe.ops == tuple(ops)
    out = apply_recipe(frame, recipe)
    assert out["messages"].iat[1] == [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]
    assert out["assistant"].iat[1] == "Hello!"


def test_training_off_then_on_gives_the_turn_back_byte_for_byte():
    """No ``weight`` means trained (OpenAI's default): turning training back on removes the 0, never writes 1."""
    plain = {"role": "assistant", "content": "A", "x_note": "kept"}
    frame = build_frame([{"messages": [{"role": "user", "content": "Q"}, plain]}], [1])
    off = SetWeight(0, 1, 0).apply(frame)
    assert off["messages"].iat[0][1] == {**plain, "weight": 0}
    back = SetWeight(0, 1, 1).apply(off)
    assert json.dumps(back["messages"].iat[0][1]) == json.dumps(plain)
    assert SetWeight(0, 1, 1).apply(frame)["messages"].iat[0][1] == plain  # already trained: unchanged
    replayed = apply_recipe(
        frame,
        Recipe.from_json(
            '{"ops": [{"op": "set_weight", "id": 0, "turn": 1, "weight": 0}, '
            '{"op": "set_weight", "id": 0, "turn": 1, "weight": 1}]}'
        ),
    )
    assert replayed["messages"].iat[0][1] == plain  # a saved recipe with the op replays the same way


def test_turning_training_on_keeps_an_explicit_weight_1():
    explicit = {"role": "assistant", "content": "A", "weight": 1}
    frame = build_frame([{"messages": [{"role": "user", "content": "Q"}, explicit]}], [1])
    assert SetWeight(0, 1, 1).apply(frame)["messages"].iat[0][1] == explicit
