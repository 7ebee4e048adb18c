"""The Dataset page's server-side view: regex, rule and duplicate filters, grouping and paging."""

import json

import numpy as np
import pandas as pd
import pytest

from studio.data.frame import build_frame
from studio.editing.grid import (
    GridEvent,
    ViewSpec,
    filter_rows,
    grid_page,
    page_count,
    parse_grid_event,
    refresh_row_flags,
)
from studio.errors import PatternError


def qa(*pairs):
    return build_frame(
        [{"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]} for u, a in pairs],
        list(range(1, len(pairs) + 1)),
    )


FRAME = qa(
    ("What is fever?", "A high temperature."),
    ("Dolor de cabeza", "Descansa."),
    ("what is FEVER?", "A high temperature."),
    ("Sleep?", "Eight hours."),
    ("Cough", "<img src=x>"),
)
FLAGS = pd.DataFrame(
    {
        "too_short": [False, True, False, True, True],
        "pii": [False] * 5,
        "cluster_id": pd.array([0, None, 0, None, None], dtype="Int64"),
    }
)


@pytest.mark.parametrize(
    "spec,expected",
    [
        (ViewSpec(), [0, 1, 2, 3, 4]),
        (ViewSpec(regex="fever"), [0, 2]),
        (ViewSpec(regex="fever", ignore_case=False), [0]),
        (ViewSpec(regex="temperature", fields=("user",)), []),
        (ViewSpec(regex=r"^\w+\?$"), [3]),
        (ViewSpec(rules=("too_short",)), [1, 3, 4]),
        (ViewSpec(rules=("too_short",), regex="Sleep"), [3]),
        (ViewSpec(rules=("pii",)), []),
        (ViewSpec(ids=(3, 1)), [1, 3]),
        (ViewSpec(ids=(3,), regex="fever"), []),
    ],
)
def test_filter_rows(spec, expected):
    assert filter_rows(FRAME, FLAGS, spec).tolist() == expected


def test_duplicate_view_keeps_groups_together():
    groups = pd.Series([10, 11, 12, 10, 12, 13], dtype="Int64")
    frame = qa(*[(str(i), "x") for i in range(6)])
    positions = filter_rows(frame, None, ViewSpec(duplicates="exact"), groups=groups)
    assert positions.tolist() == [0, 3, 2, 4]


def test_invalid_regex_is_a_pattern_error():
    with pytest.raises(PatternError, match="position"):
        filter_rows(FRAME, FLAGS, ViewSpec(regex="(unclosed"))


def test_grid_page_shows_one_page_with_flags_and_text():
    page = grid_page(FRAME, np.arange(5), page=2, page_size=2, flags=FLAGS, rule_keys=("too_short", "pii"))
    assert page["id"].tolist() == [2, 3]
    assert page["flags"].tolist() == ["", "too_short"]
    assert page["user"].tolist() == ["what is FEVER?", "Sleep?"]
    assert list(page.columns) == [
        "id",
        "flags",
        "system",
        "user",
        "assistant",
        "system_turn",
        "user_turn",
        "assistant_turn",
        "flag_notes",
        "tokens",
        "cluster_id",
    ]
    assert page["user_turn"].tolist() == ["last user · turn 0 (2 turns)"] * 2
    assert page["system_turn"].tolist() == ["no system turn yet: saving adds one"] * 2
    from studio.cost.tokens import count_example_tokens

    assert page["tokens"].tolist() == [count_example_tokens({"messages": m}) for m in FRAME["messages"].iloc[2:4]]
    assert page_count(5, 2) == 3 and page_count(0, 100) == 1


def test_refresh_row_flags_rechecks_only_the_edited_row():
    from studio.editing.ops import EditCell
    from studio.quality.rules import analyze

    frame = qa(("Question one?", "Short."), ("Question two?", "Also short."))
    flags = analyze(frame).flags
    assert flags["too_short"].tolist() == [True, True]
    edited = EditCell(
        id=1, field="assistant", value="A long and complete answer that is clearly more than fifty characters long."
    ).apply(frame)
    flags = refresh_row_flags(flags, edited, 1)
    assert flags["too_short"].tolist() == [True, False]


def test_several_edited_rows_are_rechecked_in_one_pass_as_one_by_one():
    from studio.editing.grid import refresh_rows_flags
    from studio.editing.ops import EditCell
    from studio.quality.rules import analyze

    frame = qa(("Question one?", "Short."), ("Question two?", "Also short."), ("Mail me at a@b.example", "Sure."))
    flags = analyze(frame).flags
    edited = EditCell(id=0, field="assistant", value="A long and complete answer, well over fifty characters.").apply(
        frame
    )
    edited = EditCell(id=2, field="user", value="No address here").apply(edited)
    one_by_one = refresh_row_flags(refresh_row_flags(flags, edited, 0), edited, 2)
    together = refresh_rows_flags(flags, edited, [2, 0, 0, 99])  # any order, repeats, an id no longer there
    pd.testing.assert_frame_equal(together, one_by_one)
    assert together["too_short"].tolist() == [False, True, True]
    assert together["pii"].tolist() == [False, False, False] and flags["pii"].tolist() == [False, False, True]


@pytest.mark.parametrize(
    "raw,last,expected",
    [
        (
            {"kind": "edit", "id": 3, "field": "user", "value": "x", "token": "t1"},
            None,
            GridEvent(kind="edit", token="t1", id=3, field="user", value="x"),
        ),
        (
            {"kind": "edit", "id": 3, "field": "user", "value": None, "token": "t1"},
            None,
            GridEvent(kind="edit", token="t1", id=3, field="user", value=""),
        ),
        ({"kind": "edit", "id": 3, "field": "user", "value": "x", "token": "t1"}, "t1", None),
        ({"kind": "edit", "id": 3, "field": "flags", "value": "x", "token": "t2"}, None, None),
        ({"kind": "select", "ids": [1, 2], "token": "t3"}, None, GridEvent(kind="select", token="t3", ids=(1, 2))),
        (None, None, None),
    ],
)
def test_parse_grid_event(raw, last, expected):
    assert parse_grid_event(raw, last) == expected


def test_checks_reuse_the_flags_stored_at_import_and_store_what_they_compute(tmp_path, monkeypatch):
    import studio.quality.rules
    from studio.editing.editor import DatasetEditor
    from studio.editing.grid import Checks
    from studio.editing.ops import DeleteRows
    from studio.storage.workspace import Workspace, import_file

    ws = Workspace(tmp_path / "ws.db")
    info, _ = import_file(ws, "sample_data/medical_faq_dirty.csv")
    editor = DatasetEditor(ws, info.id)
    expected = studio.quality.rules.grid_flags(editor.frame)
    runs = []
    real = studio.quality.rules.grid_flags
    monkeypatch.setattr(studio.quality.rules, "grid_flags", lambda frame: runs.append(len(frame)) or real(frame))

    pd.testing.assert_frame_equal(Checks().update(editor), expected)
    assert runs == []  # read from the workspace, not recomputed
    first = int(editor.frame["id"].iat[0])
    editor.apply(DeleteRows(ids=(first,)))
    after = Checks().update(editor)
    assert runs == [len(expected) - 1] and len(after) == len(expected) - 1
    reopened = DatasetEditor(ws, info.id)  # a new session on the same edits: stored, not recomputed
    pd.testing.assert_frame_equal(Checks().update(reopened), after)
    assert runs == [len(expected) - 1]
    Checks().update(reopened, force=True)
    assert len(runs) == 2
    editor.undo()
    pd.testing.assert_frame_equal(Checks().update(DatasetEditor(ws, info.id)), expected)
    assert len(runs) == 3  # one set is kept per version: the undo's state is checked again


def test_reopening_after_cell_edits_rechecks_only_the_edited_rows(tmp_path, monkeypatch):
    import studio.quality.rules
    from studio.editing.editor import DatasetEditor
    from studio.editing.grid import Checks
    from studio.editing.ops import EditCell
    from studio.storage.workspace import Workspace, import_file

    ws = Workspace(tmp_path / "ws.db")
    info, _ = import_file(ws, "sample_data/medical_faq_dirty.csv")
    editor = DatasetEditor(ws, info.id)
    session = Checks()
    before = session.update(editor)
    short = int(editor.frame["id"][before["too_short"].to_numpy()].iat[0])
    long_answer = "A complete answer, long enough to pass the length rule without any doubt at all."
    editor.apply(EditCell(id=short, field="assistant", value=long_answer))
    session.edited(editor, short)
    editor.apply(EditCell(id=short, field="user", value="How should I rest with a mild fever?"))
    session.edited(editor, short)
    runs = []
    monkeypatch.setattr(studio.quality.rules, "grid_flags", lambda frame: runs.append(1))
    reopened = Checks().update(DatasetEditor(ws, info.id))
    assert runs == []
    pd.testing.assert_frame_equal(reopened, session.flags)
    position = int(np.flatnonzero(editor.frame["id"].to_numpy() == short)[0])
    assert bool(before["too_short"].iat[position]) and not bool(reopened["too_short"].iat[position])


def test_a_grid_edit_is_persisted_and_rechecked_and_a_refused_one_changes_nothing(tmp_path):
    from studio.editing.editor import DatasetEditor
    from studio.editing.grid import Checks, handle_grid_event
    from studio.errors import OperationError
    from studio.storage.workspace import Workspace, import_file

    ws = Workspace(tmp_path / "ws.db")
    info, _ = import_file(ws, "sample_data/medical_faq_dirty.csv")
    editor, checks = DatasetEditor(ws, info.id), Checks()
    flags = checks.update(editor)
    short = int(editor.frame["id"][flags["too_short"].to_numpy()].iat[0])
    answer = "Rest, drink water often, and see a clinic if the fever lasts more than three days."
    raw = {"kind": "edit", "id": short, "field": "assistant", "value": answer, "token": "t1"}
    event = handle_grid_event(editor, checks, raw, None)
    assert event is not None and event.id == short
    assert handle_grid_event(editor, checks, raw, "t1") is None  # the same delta is not applied twice
    again = DatasetEditor(ws, info.id).frame  # persisted: a new session sees it
    assert again.loc[again["id"] == short, "assistant"].iat[0] == answer
    assert not bool(checks.flags["too_short"].to_numpy()[again["id"].to_numpy() == short][0])
    selection = handle_grid_event(editor, checks, {"kind": "select", "ids": [short], "token": "t2"}, "t1")
    assert selection is not None and selection.ids == (short,)
    missing = {"kind": "edit", "id": 10**9, "field": "assistant", "value": "x", "token": "t3"}
    with pytest.raises(OperationError):
        handle_grid_event(editor, checks, missing, "t2")
    assert len(DatasetEditor(ws, info.id).recipe().ops) == 1


def test_an_answer_that_only_calls_tools_shows_the_calls_and_is_not_edited_as_text():
    from studio.editing.ops import EditCell
    from studio.errors import OperationError

    call = {"id": "c1", "type": "function", "function": {"name": "takeoff_drone", "arguments": '{"altitude": 100}'}}
    frame = build_frame(
        [
            {
                "messages": [
                    {"role": "user", "content": "Take off to 100 m"},
                    {"role": "assistant", "content": None, "tool_calls": [call]},
                ]
            },
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
        ],
        [1, 2],
    )
    shown = grid_page(frame, np.arange(2), page=1, page_size=10, encoding=None)
    assert shown["assistant"].tolist() == ["→ takeoff_drone(altitude=100)", "Hello!"]
    with pytest.raises(OperationError, match="is a tool call"):
        EditCell(0, "assistant", "→ takeoff_drone(altitude=200)").apply(frame)


def test_a_conversation_without_an_answer_shows_an_empty_assistant_cell_beside_answered_ones():
    frame = build_frame(
        [
            {"messages": [{"role": "user", "content": "Anyone there?"}]},
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
        ],
        [1, 2],
    )
    shown = grid_page(frame, np.arange(2), page=1, page_size=10, encoding=None)
    assert shown["assistant"].iloc[1] == "Hello!" and pd.isna(shown["assistant"].iloc[0])


def test_the_live_filter_searches_every_turn_and_role_unless_scoped():
    frame = build_frame(
        [
            {
                "messages": [
                    {"role": "user", "content": "My order number is ZX-81"},
                    {"role": "assistant", "content": "Thanks, found it."},
                    {"role": "user", "content": "When does it ship?"},
                    {"role": "assistant", "content": "Tomorrow morning."},
                ]
            },
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]},
        ],
        [1, 2],
    )
    assert filter_rows(frame, None, ViewSpec(regex="ZX-81")).tolist() == [0]  # the first user turn
    assert filter_rows(frame, None, ViewSpec(regex="ZX-81", turns="last")).tolist() == []
    assert filter_rows(frame, None, ViewSpec(regex="ZX-81", fields=("assistant",))).tolist() == []
    assert filter_rows(frame, None, ViewSpec(regex="found it", fields=("assistant",), turns="first")).tolist() == [0]


CHAT = {
    "messages": [
        {"role": "system", "content": "You help with bikes."},
        {"role": "user", "content": "Hi, I am Dana, write to dana.w@example.com please."},
        {"role": "assistant", "content": "Happy to help, Dana. What would you like to know about your bike?"},
        {"role": "user", "content": "How often should I oil the chain?"},
        {"role": "assistant", "content": "Every 200 to 300 kilometres, and after any ride in the rain."},
    ]
}


def test_the_grid_says_which_turn_each_cell_is_and_where_a_flag_was_found():
    from studio.quality.rules import grid_flags

    frame = build_frame([CHAT, {"messages": CHAT["messages"][3:]}], [1, 2])
    flags = grid_flags(frame)
    page = grid_page(frame, np.arange(2), page=1, page_size=10, flags=flags, rule_keys=["pii"], lang="en")
    assert page["assistant_turn"].tolist() == ["last assistant · turn 4 (5 turns)", "last assistant · turn 1 (2 turns)"]
    assert page["system_turn"].iat[0] == "first system · turn 0 (5 turns)"
    assert page["flags"].tolist() == ["pii", ""]
    note = json.loads(page["flag_notes"].iat[0])
    assert note["pii"][0] == "turn 1 (user)" and "dana.w@example.com" in note["pii"][1]
    assert page["flag_notes"].iat[1] == ""
    spanish = grid_page(frame, np.arange(1), page=1, page_size=10, flags=flags, rule_keys=["pii"], lang="es")
    assert spanish["user_turn"].iat[0] == "último turno de usuario · turno 3 (5 turnos)"
    # the badge and its note in Spanish: the turn and the finding, the data quoted as it is
    assert json.loads(spanish["flag_notes"].iat[0]) == {
        "pii": ["turno 1 (usuario)", "correo electrónico 'dana.w@example.com' en turno 1 (usuario)"]
    }


def test_a_conversation_panel_edit_rechecks_only_its_row_like_a_cell_edit(tmp_path, monkeypatch):
    import studio.quality.rules
    from studio.editing.editor import DatasetEditor
    from studio.editing.grid import Checks, apply_and_check
    from studio.editing.turn_ops import EditTurn
    from studio.storage.workspace import Workspace, import_file

    ws = Workspace(tmp_path / "ws.db")
    info, _ = import_file(ws, "sample_data/support_chats.jsonl")
    editor, checks = DatasetEditor(ws, info.id), Checks()
    before = checks.update(editor).copy()
    position = int(np.flatnonzero(before["pii"].to_numpy())[0])
    example_id = int(editor.frame["id"].iat[position])
    version = editor.version
    runs = []
    real = studio.quality.rules.grid_flags
    monkeypatch.setattr(studio.quality.rules, "grid_flags", lambda frame: runs.append(len(frame)) or real(frame))
    turn = next(i for i, m in enumerate(editor.frame["messages"].iat[position]) if "@" in str(m.get("content")))
    apply_and_check(editor, checks, EditTurn(example_id, turn, "My address is on file."))
    assert editor.version == version  # not structural: the grid stays, no full recheck
    assert not bool(checks.flags["pii"].iat[position])
    unchanged = [k for k in before.columns if k != "pii"]
    pd.testing.assert_frame_equal(checks.flags[unchanged], before[unchanged])
    assert checks.update(editor) is checks.flags and runs == []
    reopened = Checks().update(DatasetEditor(ws, info.id))  # a new session: the stored flags, that row re-checked
    assert runs == [] and not bool(reopened["pii"].iat[position])


@pytest.mark.parametrize(
    "lang,label", [("en", "last user · turn 0 (1 turn)"), ("es", "último turno de usuario · turno 0 (1 turno)")]
)
def test_a_one_turn_conversation_is_one_turn_in_the_cell_editor(lang, label):
    from studio.editing.grid import turn_labels

    assert turn_labels(pd.Series([[{"role": "user", "content": "Hi"}]]), lang)["user"] == [label]
