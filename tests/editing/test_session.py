"""The Dataset page's session: open, import, flags and counts, filtered rows, grid edits, recipes, splits."""

from __future__ import annotations

import pytest

from studio.data.loader import load_dataset
from studio.editing.editor import DatasetEditor
from studio.editing.grid import ViewSpec
from studio.editing.ops import DeleteRows
from studio.editing.recipes import Recipe
from studio.editing.session import DatasetSession
from studio.errors import ConflictError, OperationError, StudioError
from studio.storage.workspace import Workspace, import_file

SAMPLE = "sample_data/medical_faq_dirty.csv"


@pytest.fixture
def session(tmp_path) -> DatasetSession:
    workspace = Workspace(tmp_path / "ws.db")
    info, _ = import_file(workspace, SAMPLE)
    opened = DatasetSession(workspace)
    opened.open(info.id)
    return opened


def test_nothing_open_is_a_clear_error_and_opening_keeps_the_same_editor(tmp_path):
    fresh = DatasetSession(Workspace(tmp_path / "ws.db"))
    with pytest.raises(StudioError, match="no dataset is open"):
        fresh.flags()
    fresh.prefetch_newest()  # an empty workspace: nothing to prefetch, no error
    editor = fresh.import_loaded(load_dataset(SAMPLE), source_name="faq.csv", data=b"")
    assert fresh.open(editor.dataset_id) is editor
    assert len(editor.frame) == 238


def test_counts_follow_the_rules_order_and_the_flags(session):
    flags = session.flags()
    counts = session.rule_counts()
    assert list(counts)[:2] == ["empty", "too_short"]
    assert counts["too_short"] == int(flags["too_short"].sum()) > 0


def test_rows_filter_and_an_invalid_pattern_shows_every_row_and_says_why(session):
    session.flags()
    total = len(session.editor.frame)
    rows, problem = session.rows(ViewSpec(rules=("too_short",)), 0.8)
    assert problem is None and 0 < len(rows) < total
    rows, problem = session.rows(ViewSpec(regex="(unclosed"), 0.8)
    assert len(rows) == total and problem and "(unclosed" in problem


def test_a_grid_edit_goes_through_the_session(session):
    session.flags()
    first = int(session.editor.frame["id"].iat[0])
    raw = {"kind": "edit", "id": first, "field": "assistant", "value": "Drink water and rest.", "token": "t"}
    assert session.grid_event(raw, None).id == first
    assert session.editor.frame["assistant"].iat[0] == "Drink water and rest."


def test_a_recipe_file_is_replayed_and_a_bad_one_changes_nothing(session):
    first = int(session.editor.frame["id"].iat[0])
    replayed, notes = session.replay(Recipe(ops=(DeleteRows(ids=(first,)),)).to_json().encode())
    assert len(replayed.ops) == 1 and len(session.editor.frame) == 237 and notes == []
    with pytest.raises(OperationError, match="UTF-8"):
        session.replay(b"\xff\xfe not a recipe")
    assert len(session.editor.recipe().ops) == 1


def test_splits_are_computed_once_per_data_and_settings_and_saved_beside_the_head(session):
    ratios = {"train": 0.8, "validation": 0.1, "test": 0.1}
    parts, _leaks = session.splits(ratios, 7)
    assert session.splits(ratios, 7)[0] is parts  # same data, ratios and seed: not split again
    assert session.splits(ratios, 8)[0] is not parts
    assert sum(len(p) for p in parts.values()) == len(session.editor.frame)
    head = session.editor.info.head_version_id
    session.save_splits(parts, 7)
    names = [v.name for v in session.workspace.versions(session.editor.dataset_id)]
    assert {"train (seed 7)", "validation (seed 7)", "test (seed 7)"} <= set(names)
    assert session.editor.info.head_version_id == head


def test_a_link_to_an_older_version_opens_the_head_and_checks_out_only_when_asked(session):
    editor = session.editor
    assert editor is not None
    original = editor.head
    editor.apply(DeleteRows(ids=(0,)))
    newer = editor.save_version("newer")
    other = DatasetEditor(session.workspace, editor.dataset_id)
    other.apply(DeleteRows(ids=(1,)))  # another session's acknowledged edit on the head

    tab = DatasetSession(session.workspace)  # a tab refreshed at ?version=<original>
    link = tab.open_link(editor.dataset_id, original.id)
    assert link is not None and (link.named.id, link.head.id) == (original.id, newer.id)
    assert session.workspace.dataset(editor.dataset_id).head_version_id == newer.id  # nothing moved
    assert tab.editor is not None and len(tab.editor.frame) == 236  # the head, with both edits
    assert tab.open_link(editor.dataset_id, newer.id) is None  # a link to the head: nothing to offer
    assert tab.open_link(editor.dataset_id, None) is None

    other.apply(DeleteRows(ids=(2,)))  # the dataset moves again before the user presses the button
    with pytest.raises(ConflictError, match="changed in another session"):
        tab.checkout_link(link)
    assert session.workspace.dataset(editor.dataset_id).head_version_id == newer.id
    assert len(tab.editor.frame) == 235  # it shows what is stored now
    fresh = tab.open_link(editor.dataset_id, original.id)
    assert fresh is not None
    tab.checkout_link(fresh)
    assert session.workspace.dataset(editor.dataset_id).head_version_id == original.id
    assert len(tab.editor.frame) == 238


def test_the_turn_view_warms_once_the_page_is_drawn_or_at_the_first_search_once_per_revision(session, monkeypatch):
    import time

    import studio.data.turns as turns

    built: list[int] = []
    build = turns._build_view

    def slow_build(frame):
        built.append(len(frame))
        time.sleep(0.3)  # still building when the first search comes
        return build(frame)

    monkeypatch.setattr(turns, "_build_view", slow_build)
    with session.workspace.transaction() as db:  # a version stored without its view (an older workspace): built
        db.execute("DELETE FROM turn_views")
    warming = session.warm_search(delay_s=600)  # the page's draw first: nothing built yet
    assert warming is not None and session.warm_search() is None  # once per revision
    time.sleep(0.1)
    assert built == [] and warming.is_alive()
    positions, problem = session.rows(ViewSpec(regex="fever"), 0.8)  # waits for that build, starts none
    assert problem is None and 0 < len(positions) < 238
    assert built == [238] and not warming.is_alive()
    session.grid_event({"kind": "edit", "id": 3, "field": "assistant", "value": "fever", "token": "t"}, None)
    assert session.warm_search() is not None  # a new revision: the carried view is found, nothing rebuilt
    assert len(session.rows(ViewSpec(regex="fever"), 0.8)[0]) == len(positions) + 1 and built == [238, 1]


def test_a_new_session_reads_the_version_s_stored_view_and_carries_the_edits_since(session, monkeypatch):
    import pandas as pd

    import studio.data.turns as turns
    import studio.storage.workspace as workspace_module
    from studio.storage.frames import FrameCache

    editor = session.editor
    assert editor is not None
    session.grid_event({"kind": "edit", "id": 3, "field": "assistant", "value": "fever", "token": "t"}, None)
    session.grid_event({"kind": "edit", "id": 7, "field": "user", "value": "a fever?", "token": "u"}, None)
    monkeypatch.setattr(workspace_module, "_FRAMES", FrameCache())  # a restarted server: nothing decoded or built
    built: list[int] = []
    build = turns._build_view
    monkeypatch.setattr(turns, "_build_view", lambda frame: built.append(len(frame)) or build(frame))
    later = DatasetSession(session.workspace)
    later.open(editor.dataset_id)
    warming = later.warm_search(delay_s=0)
    assert warming is not None
    warming.join()
    assert later.editor is not None and len(later.editor.history.active) == 2
    assert built == [2]  # the stored view, with the two edited examples built again
    view = turns.turn_view(later.editor.frame)
    pd.testing.assert_frame_equal(view, build(later.editor.frame), check_exact=True)
    assert later.rows(ViewSpec(regex="a fever\\?"), 0.8)[0].tolist() == [7]


def test_the_next_warm_up_runs_after_the_prefetched_decode_once_and_right_away_when_nothing_is_decoded(
    tmp_path, monkeypatch
):
    import time

    import studio.storage.workspace as workspace_module
    from studio.storage.frames import FrameCache

    workspace = Workspace(tmp_path / "ws.db")
    import_file(workspace, SAMPLE)
    monkeypatch.setattr(workspace_module, "_FRAMES", FrameCache())
    order: list[str] = []
    decode = workspace_module.frame_from_blob

    def slow_decode(data):
        time.sleep(0.3)  # still decoding when the page reruns
        order.append("decode")
        return decode(data)

    monkeypatch.setattr(workspace_module, "frame_from_blob", slow_decode)
    session = DatasetSession(workspace)
    session.prefetch_newest(then=lambda: order.append("then"))
    session.prefetch_newest(then=lambda: order.append("then"))  # a rerun while it decodes: that thread runs it
    thread = session._prefetching
    assert thread and order == []
    thread.join()
    assert order == ["decode", "then"]
    empty = DatasetSession(Workspace(tmp_path / "empty.db"))
    empty.prefetch_newest(then=lambda: order.append("at once"))
    assert order[-1] == "at once"


@pytest.mark.parametrize(
    "lang,note",
    [
        (
            "en",
            'no change in the last user turn; 12 matches in turns other than the last user turn — field "conversation"',
        ),
        (
            "es",
            "sin cambios en el último turno de usuario; 12 coincidencias en otros turnos, no en el último turno",
        ),
    ],
)
def test_replaying_a_one_turn_replace_says_where_the_other_matches_are(tmp_path, lang, note):
    """Case 15 in the app: the old recipe (field "user") changes nothing, and the page is told about the 12."""
    from tests.conftest import SHARED_CASES

    cases = SHARED_CASES / "conversations"
    workspace = Workspace(tmp_path / "ws.db")
    info, _ = import_file(workspace, cases / "15-multiturn-pii-earlier-turn.jsonl")
    opened = DatasetSession(workspace)
    opened.open(info.id)
    recipe, notes = opened.replay((cases / "15-redact-email.recipe.json").read_bytes(), lang)
    assert len(recipe.ops) == 1 and len(notes) == 1
    number, step, said = notes[0]
    assert number == 1 and said.startswith(note)
    assert step.startswith("Replace" if lang == "en" else "Reemplazar")


def test_the_first_search_after_edits_carries_the_stored_view_over_them_instead_of_building_it(session, monkeypatch):
    """The page schedules the warm-up once drawn, and grid edits (a fragment's runs) do not schedule another: the
    first search must still find the stored view carried over those edits, not build the whole view again."""
    import studio.data.turns as turns
    import studio.storage.workspace as workspace_module
    from studio.storage.frames import FrameCache

    editor = session.editor
    assert editor is not None
    monkeypatch.setattr(workspace_module, "_FRAMES", FrameCache())  # a restarted server: nothing decoded or built
    later = DatasetSession(session.workspace)
    later.open(editor.dataset_id)
    built: list[int] = []
    build = turns._build_view
    monkeypatch.setattr(turns, "_build_view", lambda frame: built.append(len(frame)) or build(frame))
    assert later.warm_search(delay_s=600) is not None  # drawn: the warm-up waits
    later.grid_event({"kind": "edit", "id": 3, "field": "assistant", "value": "fever", "token": "t"}, None)
    later.grid_event({"kind": "edit", "id": 7, "field": "user", "value": "a fever?", "token": "u"}, None)
    assert later.rows(ViewSpec(regex="a fever\\?"), 0.8)[0].tolist() == [7]
    assert built == [2]  # the two edited examples, not the whole view


def test_a_warm_up_superseded_before_it_starts_does_no_work(session, monkeypatch):
    """Each revision drawn schedules a warm-up; one still waiting when a newer revision's comes would build a view
    of data that is gone. It ends without building anything."""
    import studio.data.turns as turns

    built: list[int] = []
    build = turns._build_view
    monkeypatch.setattr(turns, "_build_view", lambda frame: built.append(len(frame)) or build(frame))
    with session.workspace.transaction() as db:  # nothing stored: a warm-up that ran would build
        db.execute("DELETE FROM turn_views")
    first = session.warm_search(delay_s=600)
    session.grid_event({"kind": "edit", "id": 3, "field": "assistant", "value": "fever", "token": "t"}, None)
    latest = session.warm_search(delay_s=600)
    assert first is not None and latest is not None and latest is not first
    first.join(timeout=10)
    assert not first.is_alive() and built == []  # dropped: ended at once, built nothing
    assert len(session.rows(ViewSpec(regex="fever"), 0.8)[0]) > 0 and built == [238, 1]
