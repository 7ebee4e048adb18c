"""Two sessions editing one dataset (two editors on one workspace file): no acknowledged edit is ever lost.

Edits to other examples or other turns merge; a clash is refused with a message and the refused session shows
what is stored; undo, redo and version saves made on a stale view are refused the same way.
"""

import pytest

from studio.data.frame import build_frame
from studio.editing.editor import DatasetEditor, changed_cells
from studio.editing.ops import DeleteRows, EditCell
from studio.editing.turn_ops import EditTurn
from studio.errors import ConflictError
from studio.storage.workspace import Workspace


def _answers(editor: DatasetEditor) -> list[str]:
    return editor.frame["assistant"].tolist()


@pytest.fixture
def two(tmp_path):
    frame = build_frame(
        [
            {
                "messages": [
                    {"role": "user", "content": f"Question {i}."},
                    {"role": "assistant", "content": f"Answer {i}."},
                    {"role": "user", "content": f"Follow-up {i}."},
                    {"role": "assistant", "content": f"Second answer {i}."},
                ]
            }
            for i in range(5)
        ],
        list(range(1, 6)),
    )
    path = tmp_path / "studio.db"
    dataset_id = Workspace(path).import_dataset(frame, name="d", source_name="d.jsonl", format="jsonl/chat").id
    return DatasetEditor(Workspace(path), dataset_id), DatasetEditor(Workspace(path), dataset_id), path


def test_the_measured_sequence_keeps_both_edits(two):
    """A edits answer 0; B (who never saw it) edits answer 1 and saves a version: the head holds both."""
    a, b, path = two
    a.apply(EditCell(id=0, field="assistant", value="A edited answer 0."))
    b.apply(EditCell(id=1, field="assistant", value="B edited answer 1."))
    assert b.merged == 1  # B's page now shows A's edit too
    assert _answers(b)[:2] == ["A edited answer 0.", "B edited answer 1."]
    b.save_version("from B")
    fresh = DatasetEditor(Workspace(path), a.dataset_id)
    assert Workspace(path).version(fresh.info.head_version_id).name == "from B"
    assert _answers(fresh)[:2] == ["A edited answer 0.", "B edited answer 1."]
    assert fresh.recipe().ops == ()


def test_a_version_saved_from_a_stale_view_is_refused_and_the_view_refreshed(two):
    a, b, path = two
    b.apply(EditCell(id=1, field="assistant", value="B edited answer 1."))
    a.apply(EditCell(id=0, field="assistant", value="A edited answer 0."))  # after B's edit: B has not seen it
    versions = len(Workspace(path).versions(a.dataset_id))
    with pytest.raises(ConflictError, match=r"saving the version 'from B' was not done.*another session"):
        b.save_version("from B")
    assert len(Workspace(path).versions(a.dataset_id)) == versions  # nothing saved
    assert _answers(b)[:2] == ["A edited answer 0.", "B edited answer 1."]  # B now sees A's edit
    b.save_version("from B")  # and saving again keeps both
    assert _answers(DatasetEditor(Workspace(path), a.dataset_id))[:2] == ["A edited answer 0.", "B edited answer 1."]


def test_the_same_cell_edited_twice_is_refused_not_overwritten(two):
    a, b, path = two
    a.apply(EditCell(id=2, field="assistant", value="A's answer."))
    with pytest.raises(ConflictError, match="another session changed turn 4 of example 2"):
        b.apply(EditCell(id=2, field="assistant", value="B's answer."))
    assert _answers(b)[2] == "A's answer."  # B shows what is stored
    assert _answers(DatasetEditor(Workspace(path), a.dataset_id))[2] == "A's answer."
    b.apply(EditCell(id=2, field="assistant", value="B's answer, having seen A's."))  # now B may overwrite it
    assert _answers(DatasetEditor(Workspace(path), a.dataset_id))[2] == "B's answer, having seen A's."


def test_other_turns_of_one_conversation_merge(two):
    a, b, path = two
    a.apply(EditTurn(id=3, turn=1, text="A: first answer."))
    b.apply(EditTurn(id=3, turn=3, text="B: second answer."))
    turns = DatasetEditor(Workspace(path), a.dataset_id).frame.set_index("id").at[3, "messages"]
    assert [t["content"] for t in turns] == ["Question 3.", "A: first answer.", "Follow-up 3.", "B: second answer."]


def test_an_edit_to_a_row_another_session_deleted_is_refused(two):
    a, b, path = two
    a.apply(DeleteRows(ids=(4,)))
    with pytest.raises(ConflictError, match="example 4"):
        b.apply(EditCell(id=4, field="assistant", value="lost?"))
    assert b.frame["id"].tolist() == [0, 1, 2, 3]
    b.apply(DeleteRows(ids=(0,)))  # a bulk change to other rows merges
    assert DatasetEditor(Workspace(path), a.dataset_id).frame["id"].tolist() == [1, 2, 3]


def test_undo_on_a_stale_view_never_undoes_the_other_sessions_edit_unseen(two):
    a, b, path = two
    b.apply(EditCell(id=1, field="assistant", value="B's edit."))
    a.apply(EditCell(id=0, field="assistant", value="A's edit."))
    with pytest.raises(ConflictError, match="undo was not done"):
        b.undo()  # the newest edit in the log is A's: B has not seen it
    assert _answers(DatasetEditor(Workspace(path), a.dataset_id))[:2] == ["A's edit.", "B's edit."]
    assert b.undo() == EditCell(id=0, field="assistant", value="A's edit.")  # seen now: an ordinary undo


def test_changed_cells_names_examples_columns_and_turns(two):
    a, _, _ = two
    before = a.frame
    after = EditTurn(id=1, turn=3, text="x").apply(DeleteRows(ids=(0,)).apply(before))
    assert changed_cells(before, after) == {(0,), (1, "messages", 3)}
