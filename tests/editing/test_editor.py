"""DatasetEditor: every acknowledged edit is in SQLite; reopening replays it; undo/redo survive restarts."""

import pytest

from studio.data.frame import build_frame
from studio.editing.editor import DatasetEditor
from studio.editing.ops import DeleteRows, EditCell, FillSystemPrompt
from studio.editing.recipes import Recipe
from studio.errors import OperationError
from studio.storage.workspace import Workspace


@pytest.fixture
def dataset():
    frame = build_frame(
        [
            {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"a{i}"}]}
            for i in range(5)
        ],
        list(range(1, 6)),
    )
    workspace = Workspace()
    return workspace, workspace.import_dataset(frame, name="d", source_name="d.jsonl", format="jsonl/chat").id


def test_edits_survive_a_restart(dataset):
    workspace, dataset_id = dataset
    editor = DatasetEditor(workspace, dataset_id)
    editor.apply(EditCell(id=2, field="assistant", value="edited"))
    editor.apply(DeleteRows(ids=(0,)))
    reopened = DatasetEditor(Workspace(workspace.path), dataset_id)  # as after a server restart
    assert reopened.frame["id"].tolist() == [1, 2, 3, 4]
    assert reopened.frame.set_index("id").at[2, "assistant"] == "edited"
    assert reopened.frame.set_index("id").at[2, "messages"][-1]["content"] == "edited"


def test_undo_redo_persist(dataset):
    workspace, dataset_id = dataset
    editor = DatasetEditor(workspace, dataset_id)
    editor.apply(DeleteRows(ids=(0, 1)))
    assert len(editor.frame) == 3
    editor.undo()
    assert len(DatasetEditor(workspace, dataset_id).frame) == 5
    editor.redo()
    assert len(DatasetEditor(workspace, dataset_id).frame) == 3
    assert editor.undo() is not None and editor.undo() is None


def test_cell_edit_keeps_grid_version_bulk_op_changes_it(dataset):
    workspace, dataset_id = dataset
    editor = DatasetEditor(workspace, dataset_id)
    version, revision = editor.version, editor.revision
    editor.apply(EditCell(id=1, field="user", value="new"))
    assert editor.version == version and editor.revision == revision + 1
    editor.apply(FillSystemPrompt(text="Be kind."))
    assert editor.version == version + 1


def test_failed_operation_stores_nothing(dataset):
    workspace, dataset_id = dataset
    editor = DatasetEditor(workspace, dataset_id)
    with pytest.raises(OperationError):
        editor.apply(EditCell(id=99, field="user", value="x"))
    assert workspace.operations(dataset_id) == []


def test_recipe_replay_and_versions(dataset):
    workspace, dataset_id = dataset
    editor = DatasetEditor(workspace, dataset_id)
    editor.replay(Recipe(ops=(DeleteRows(ids=(4,)), FillSystemPrompt(text="S"))))
    assert editor.recipe().to_dict()["ops"][0]["op"] == "delete_rows"
    version = editor.save_version("clean")
    assert version.rows == 4 and editor.recipe().ops == ()
    assert DatasetEditor(workspace, dataset_id).frame["system"].tolist() == ["S"] * 4
    editor.checkout(workspace.versions(dataset_id)[0].id)
    assert len(editor.frame) == 5


def test_a_turn_edit_keeps_the_grid_version_and_memo_computes_once_per_revision(dataset):
    from studio.editing.turn_ops import EditTurn

    workspace, dataset_id = dataset
    editor = DatasetEditor(workspace, dataset_id)
    calls = []
    compute = lambda: calls.append(1) or len(calls)  # noqa: E731
    assert editor.memo("k", compute) == 1 and editor.memo("k", compute) == 1 and calls == [1]
    version = editor.version
    editor.apply(EditTurn(1, 0, "a new question"))
    assert editor.version == version  # one example changed in place: the grid stays mounted
    assert editor.memo("k", compute) == 2  # but anything derived from the data is computed again


def test_a_one_example_edit_carries_the_turn_view_so_the_live_filter_sees_it_at_once(monkeypatch):
    import pandas as pd

    import studio.data.turns as turns
    from studio.editing.turn_edits import match_ids
    from studio.editing.turn_ops import EditTurn
    from studio.quality.patterns import compile_pattern

    conversations = [
        [
            {"role": "system", "content": f"s{i}"},
            {"role": "user", "content": [{"type": "text", "text": f"first q{i}"}, {"type": "image_url", "x": 1}]},
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
            {"role": "tool", "content": "{}"},
            {"role": "user", "content": f"last q{i}"},
            {"role": "assistant", "content": f"a{i}"},
        ]
        for i in range(6)
    ]
    workspace = Workspace()
    frame = build_frame([{"messages": m} for m in conversations], list(range(1, 7)))
    info = workspace.import_dataset(frame, name="d", source_name="d.jsonl", format="jsonl/chat")
    editor = DatasetEditor(workspace, info.id)
    match_ids(editor.frame, compile_pattern("x"))  # the page's first search builds the view
    built: list[int] = []
    build = turns._build_view
    monkeypatch.setattr(turns, "_build_view", lambda f: built.append(len(f)) or build(f))

    editor.apply(EditCell(id=2, field="assistant", value="zebra"))
    editor.apply(EditTurn(id=4, turn=1, text="first giraffe"))
    found = match_ids(editor.frame, compile_pattern("zebra|giraffe"))
    assert found.tolist() == [False, False, True, False, True, False]
    assert not match_ids(editor.frame, compile_pattern("first q4")).any()
    assert built == [1, 1]  # the edited example alone, each time; the other rows' view was kept
    carried = turns.turn_view(editor.frame)
    pd.testing.assert_frame_equal(carried, build(editor.frame))  # what a full build gives, image part included
