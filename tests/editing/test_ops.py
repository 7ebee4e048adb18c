"""Cleaning operations, recipes (JSON, deterministic replay) and undo/redo."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from studio.data.frame import build_frame
from studio.editing.column_ops import MoveColumn, RenameColumn
from studio.editing.history import History
from studio.editing.ops import (
    DeleteFlagged,
    DeleteRows,
    EditCell,
    FillSystemPrompt,
    KeepOnePerGroup,
    RegexReplace,
    StripWhitespace,
)
from studio.editing.previews import preview_regex_replace
from studio.editing.recipes import OPERATIONS, Recipe, apply_recipe, op_from_dict
from studio.editing.turn_ops import DeleteTurn, EditToolCall, EditTurn, InsertTurn, MoveTurn, SetRole, SetWeight
from studio.errors import OperationError

COLD = "Rest, drink plenty of fluids and keep warm until the symptoms pass in a week."


def make_frame() -> pd.DataFrame:
    rows = [
        ("  What helps with a cold? ", COLD, None),
        ("What helps with a cold?", COLD, None),
        ("what helps with a COLD", COLD + " Also sleep well and avoid alcohol.", "Be brief."),
        ("Call me?", "Sure, call the clinic on 555-123-4567 on any weekday morning.", None),
        ("¿Qué es la gripe?", "Ok.", None),
    ]
    examples = []
    for user, answer, system in rows:
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": user},
            {"role": "assistant", "content": answer, "weight": 1},
        ]
        examples.append({"messages": messages})
    meta = pd.DataFrame({"topic": ["cold", "cold", "cold", "admin", "flu"], "lang": ["en"] * 4 + ["es"]})
    return build_frame(examples, [2, 3, 4, 5, 6], meta)


def ids(frame: pd.DataFrame) -> list[int]:
    return frame["id"].tolist()


@pytest.mark.parametrize(
    "op,expected_ids",
    [
        (DeleteRows(ids=(1, 3, 99)), [0, 2, 4]),
        (DeleteFlagged(rule="too_short"), [0, 1, 2, 3]),
        (DeleteFlagged(rule="too_short", params={"min_chars": 2}), [0, 1, 2, 3, 4]),
        (DeleteFlagged(rule="exact_duplicate"), [0, 1, 2, 3, 4]),  # row 0 has extra spaces
        (DeleteFlagged(rule="normalized_duplicate"), [0, 2, 3, 4]),
        (KeepOnePerGroup(kind="exact"), [0, 1, 2, 3, 4]),
        (KeepOnePerGroup(kind="normalized", keep="first"), [0, 2, 3, 4]),
        (KeepOnePerGroup(kind="normalized", keep="longest"), [0, 2, 3, 4]),
        (KeepOnePerGroup(kind="near", keep="longest", threshold=0.7), [2, 3, 4]),
        (KeepOnePerGroup(kind="near", keep="first", threshold=0.7), [0, 3, 4]),
        # ids: only the rows a filter shows are looked at; the others stay whatever they are
        (DeleteFlagged(rule="too_short", ids=(0, 1, 2, 3)), [0, 1, 2, 3, 4]),
        (DeleteFlagged(rule="too_short", ids=(4,)), [0, 1, 2, 3]),
        (KeepOnePerGroup(kind="near", keep="first", threshold=0.7, ids=(1, 2)), [0, 1, 3, 4]),
        (KeepOnePerGroup(kind="near", keep="longest", threshold=0.7, ids=(0, 1)), [0, 2, 3, 4]),
        (KeepOnePerGroup(kind="normalized", ids=(0, 3, 4)), [0, 1, 2, 3, 4]),
    ],
)
def test_row_operations(op, expected_ids):
    frame = make_frame()
    before = frame.copy(deep=True)
    out = op.apply(frame)
    assert ids(out) == expected_ids
    assert list(out.index) == list(range(len(out)))
    pd.testing.assert_frame_equal(frame, before)


def test_edit_cell_updates_messages_then_text_columns():
    frame = make_frame()
    original_messages = [list(m) for m in frame["messages"]]
    out = EditCell(id=4, field="assistant", value="La gripe es una infección vírica respiratoria.").apply(frame)
    row = out[out["id"] == 4].iloc[0]
    assert row["assistant"] == "La gripe es una infección vírica respiratoria."
    assert row["messages"][-1] == {"role": "assistant", "content": row["assistant"], "weight": 1}
    assert [list(m) for m in frame["messages"]] == original_messages  # the input's lists are untouched
    assert frame.loc[4, "assistant"] == "Ok."

    system = EditCell(id=0, field="system", value="You are a nurse.").apply(frame)
    assert system.loc[0, "messages"][0] == {"role": "system", "content": "You are a nurse."}
    assert system.loc[0, "system"] == "You are a nurse."
    assert EditCell(id=3, field="topic", value="billing").apply(frame).loc[3, "topic"] == "billing"


@pytest.mark.parametrize(
    "op,message",
    [
        (EditCell(id=42, field="user", value="x"), "no example with id 42"),
        (EditCell(id=0, field="nope", value="x"), "no column 'nope'"),
        (RenameColumn(old="missing", new="x"), "no column 'missing'"),
        (RenameColumn(old="topic", new="lang"), "'lang' already exists"),
        (MoveColumn(name="topic", position=5), "position 5 is out of range"),
        (RegexReplace(field="nope", pattern="a", replacement="b"), "no column 'nope'"),
    ],
)
def test_operation_errors_name_what_is_wrong(op, message):
    with pytest.raises(OperationError, match=message):
        op.apply(make_frame())


@pytest.mark.parametrize(
    "build,message",
    [
        (lambda: EditCell(id=0, field="messages", value="x"), "cannot be edited"),
        (lambda: EditCell(id=0, field="user", value=3), "must be text"),
        (lambda: RegexReplace(field="assistant", pattern="(a", replacement="b"), "position 0"),
        (lambda: RegexReplace(field="assistant", pattern="(a)", replacement=r"\2"), "invalid replacement"),
        (lambda: DeleteFlagged(rule="typo"), "unknown rule 'typo'"),
        (lambda: DeleteFlagged(rule="too_short", params={"min": 3}), "no parameter 'min'"),
        (lambda: KeepOnePerGroup(kind="fuzzy"), "kind must be"),
        (lambda: RenameColumn(old="user", new="question"), "core column"),
        (lambda: FillSystemPrompt(text="  "), "empty"),
    ],
)
def test_bad_operations_are_rejected_when_built(build, message):
    with pytest.raises(OperationError, match=message):
        build()


def test_regex_replace_and_preview():
    frame = make_frame()
    op = RegexReplace(field="assistant", pattern=r"(\d{3})-(\d{3})-(\d{4})", replacement=r"[phone]")
    preview = preview_regex_replace(frame, op, sample=5)
    assert preview.rows_affected == 1
    assert preview.sample.to_dict("records") == [
        {
            "id": 3,
            "turn": 1,  # the preview names the turn and role it changes
            "role": "assistant",
            "before": "Sure, call the clinic on 555-123-4567 on any weekday morning.",
            "after": "Sure, call the clinic on [phone] on any weekday morning.",
        }
    ]
    out = op.apply(frame)
    assert out.loc[3, "assistant"] == "Sure, call the clinic on [phone] on any weekday morning."
    assert out.loc[3, "messages"][-1]["content"] == "Sure, call the clinic on [phone] on any weekday morning."
    assert (
        RegexReplace(field="assistant", pattern="OK", replacement="Okay", ignore_case=True)
        .apply(frame)
        .loc[4, "assistant"]
        == "Okay."
    )
    assert (
        RegexReplace(field="topic", pattern="^cold$", replacement="resfriado").apply(frame)["topic"].tolist()[:3]
        == ["resfriado"] * 3
    )


def test_strip_whitespace_and_fill_system_prompt():
    frame = make_frame()
    stripped = StripWhitespace(fields=("user",)).apply(frame)
    assert stripped.loc[0, "user"] == "What helps with a cold?"
    assert stripped.loc[0, "messages"][0]["content"] == "What helps with a cold?"
    filled = FillSystemPrompt(text="You are a careful medical assistant.").apply(frame)
    assert (
        filled["system"].tolist()
        == ["You are a careful medical assistant."] * 2 + ["Be brief."] + ["You are a careful medical assistant."] * 2
    )
    assert all(m[0]["role"] == "system" for m in filled["messages"])
    everywhere = FillSystemPrompt(text="Short answers.", only_missing=False).apply(frame)
    assert set(everywhere["system"]) == {"Short answers."}
    assert [m["role"] for m in everywhere.loc[2, "messages"]] == ["system", "user", "assistant"]


def test_rename_and_move_columns():
    frame = make_frame()
    renamed = RenameColumn(old="topic", new="category").apply(frame)
    assert list(renamed.columns)[-2:] == ["category", "lang"]
    moved = MoveColumn(name="lang", position=0).apply(frame)
    assert list(moved.columns) == [
        "id",
        "messages",
        "system",
        "user",
        "assistant",
        "source_row",
        "lang",
        "topic",
    ]


RECIPE = Recipe(
    ops=(
        StripWhitespace(),
        KeepOnePerGroup(kind="normalized", keep="longest"),
        DeleteFlagged(rule="too_short"),
        RegexReplace(field="assistant", pattern=r"\d{3}-\d{3}-\d{4}", replacement="[phone]"),
        FillSystemPrompt(text="You are a careful medical assistant."),
        EditCell(id=3, field="topic", value="contact"),
        RenameColumn(old="topic", new="category"),
        MoveColumn(name="lang", position=0),
        DeleteRows(ids=(77,)),
    )
)


# The conversation panel's operations (they need a tool call, which the frame above has not; applied in
# tests/editing/test_turn_ops.py).
TURN_OPS = (
    EditTurn(id=3, turn=1, text="Can I call you?"),
    SetWeight(id=3, turn=2, weight=0),
    DeleteTurn(id=3, turn=0),
    InsertTurn(id=3, turn=3, role="user", text="Thanks!"),
    MoveTurn(id=3, turn=3, to=2),
    SetRole(id=3, turn=0, role="developer"),
    EditToolCall(id=3, turn=2, call=0, arguments='{"q": 1}'),
)


def test_every_operation_round_trips_through_json():
    assert {op.op for op in (*RECIPE.ops, *TURN_OPS)} == set(OPERATIONS)
    text = RECIPE.to_json()
    assert json.loads(text)["version"] == 1
    assert Recipe.from_json(text) == RECIPE
    for op in (*RECIPE.ops, *TURN_OPS):
        assert op_from_dict(json.loads(json.dumps(op.to_dict()))) == op
        assert op.describe() and "\n" not in op.describe()


def test_recipe_replay_is_deterministic_and_reports_each_step():
    frame = make_frame()
    reports = []
    first = apply_recipe(frame, Recipe.from_json(RECIPE.to_json()), on_step=reports.append)
    second = apply_recipe(make_frame(), RECIPE)
    pd.testing.assert_frame_equal(first, second)
    assert ids(first) == [0, 2, 3]
    assert [(r.rows_before, r.rows_after) for r in reports][:3] == [(5, 5), (5, 4), (4, 3)]
    assert reports[0].message == "1. Strip leading and trailing whitespace in system, user, assistant: changed 1 row"
    assert reports[-1].message.endswith("no change")
    assert first.loc[2, "assistant"] == "Sure, call the clinic on [phone] on any weekday morning."
    assert list(first.columns)[-2:] == ["lang", "category"]


@pytest.mark.parametrize(
    "text,message",
    [
        ("{not json", "line 1 column 2"),
        ('{"version": 1, "ops": [{"op": "explode"}]}', "recipe step 1: unknown operation 'explode'"),
        ('{"version": 1, "ops": [{"op": "delete_rows", "ids": [1], "why": 2}]}', "unknown field 'why'"),
        (
            '{"version": 1, "ops": [{"op": "strip_whitespace"}, {"op": "delete_flagged", "rule": "x"}]}',
            "recipe step 2: delete_flagged: unknown rule 'x'",
        ),
        ('{"version": 9, "ops": []}', "version 9 is newer"),
        ('{"ops": "nope"}', "a recipe is an object"),
    ],
)
def test_bad_recipes_name_the_step(text, message):
    with pytest.raises(OperationError, match=message):
        Recipe.from_json(text)


def test_failing_step_is_named_when_applied():
    with pytest.raises(OperationError, match=r"step 2 \(Set user of example 9"):
        apply_recipe(make_frame(), [StripWhitespace(), EditCell(id=9, field="user", value="x")])


def test_history_undo_redo_and_truncation():
    base = make_frame()
    history = History()
    history.push(DeleteRows(ids=(0,)))
    history.push(EditCell(id=1, field="user", value="Edited?"))
    assert ids(history.current(base)) == [1, 2, 3, 4]
    assert history.current(base).loc[0, "user"] == "Edited?"

    assert history.undo() == EditCell(id=1, field="user", value="Edited?")
    assert history.current(base).loc[0, "user"] == "What helps with a cold?"
    assert history.undo() == DeleteRows(ids=(0,))
    assert ids(history.current(base)) == [0, 1, 2, 3, 4]
    assert history.undo() is None and not history.can_undo

    assert history.redo() == DeleteRows(ids=(0,))
    assert ids(history.current(base)) == [1, 2, 3, 4]
    history.push(DeleteRows(ids=(4,)))  # a new edit drops the undone one
    assert not history.can_redo and len(history.ops) == 2
    assert ids(history.current(base)) == [1, 2, 3]
    assert history.recipe() == Recipe(ops=(DeleteRows(ids=(0,)), DeleteRows(ids=(4,))))
    pd.testing.assert_frame_equal(base, make_frame())


def test_history_matches_a_full_replay_after_many_steps():
    base = make_frame()
    history = History()
    for op in RECIPE.ops:
        history.push(op)
        history.current(base)
    for _ in range(4):
        history.undo()
    history.redo()
    replay = apply_recipe(base, history.active)
    pd.testing.assert_frame_equal(history.current(base), replay)
    restored = History(history.ops, cursor=history.cursor)
    pd.testing.assert_frame_equal(restored.current(base), replay)


def test_the_preview_cuts_long_text_around_the_change_not_at_its_start():
    from studio.editing.previews import around_change

    before = "x" * 300 + " call 555-123-4567 today " + "y" * 300
    after = before.replace("555-123-4567", "[phone]")
    shown_before, shown_after = around_change(before, after, context=10)
    assert shown_before == "…" + "x" * 4 + " call 555-123-4567 today " + "y" * 3 + "…"  # 10 either side
    assert shown_after == "…" + "x" * 4 + " call [phone] today " + "y" * 3 + "…"
    assert around_change("short text", "short test") == ("short text", "short test")  # fits: shown whole
    start, _ = around_change("a" * 1000, "b" * 1000, longest=50)
    assert len(start) == 50 and start.endswith("…")


def test_a_scoped_fix_says_which_examples_it_looked_at_and_replays_the_same():
    op = KeepOnePerGroup(kind="near", keep="first", threshold=0.7, ids=(1, 2))
    assert op.describe().endswith("among 2 examples (ids 1, 2)")
    again = op_from_dict(json.loads(json.dumps(op.to_dict())))
    assert again == op and ids(again.apply(make_frame())) == [0, 1, 3, 4]
    with pytest.raises(OperationError, match="delete_flagged: ids must be whole numbers"):
        DeleteFlagged(rule="too_short", ids=("3",))
