"""The turn views kept in the workspace: stored as Arrow, read back by every new session, built again when other
code built them."""

import pandas as pd

from studio.storage.turn_views import load_turn_view, version_turn_view
from studio.storage.workspace import Workspace, import_file

MULTI_TURN = "sample_data/support_chats.jsonl"  # tool calls, an image part, many turns


def test_a_turn_view_stored_as_arrow_reads_back_identical_and_only_for_its_rows():
    from studio.data.loader import load_dataset
    from studio.data.turns import _build_view
    from studio.storage.frames import view_from_arrow, view_to_arrow

    frame = load_dataset(MULTI_TURN).frame
    view = _build_view(frame)
    assert set(view["kind"]) > {"text"}  # the sample has tool calls and non-text parts
    pd.testing.assert_frame_equal(view_from_arrow(view_to_arrow(view), frame), view, check_exact=True)
    others = frame.iloc[1:].reset_index(drop=True)
    assert view_from_arrow(view_to_arrow(view), others) is None  # another version's rows: not used


def test_a_version_s_turn_view_is_built_once_then_read_back_by_every_new_session(tmp_path, monkeypatch):
    import studio.data.turns as turns
    import studio.storage.workspace as workspace_module
    from studio.storage.frames import FrameCache

    ws = Workspace(tmp_path / "ws.db")
    info, result = import_file(ws, MULTI_TURN)  # the rules built the view at import: it is stored with the version
    expected = turns._build_view(result.frame)
    built: list[int] = []
    build = turns._build_view
    monkeypatch.setattr(turns, "_build_view", lambda frame: built.append(len(frame)) or build(frame))

    def new_process_frame() -> pd.DataFrame:  # nothing decoded or cached: as a restarted server sees it
        monkeypatch.setattr(workspace_module, "_FRAMES", FrameCache())
        return ws.load_version(info.head_version_id)

    frame = new_process_frame()
    view = version_turn_view(ws, info.head_version_id, frame)
    pd.testing.assert_frame_equal(view, expected, check_exact=True)
    assert turns.turn_view(frame) is view and built == []  # read back, not built
    with ws.transaction() as db:  # a workspace from before stored views
        db.execute("DELETE FROM turn_views")
    frame = new_process_frame()
    assert load_turn_view(ws, info.head_version_id, frame) is None
    pd.testing.assert_frame_equal(version_turn_view(ws, info.head_version_id, frame), expected, check_exact=True)
    assert built == [len(frame)]  # built once, and stored
    frame = new_process_frame()
    pd.testing.assert_frame_equal(version_turn_view(ws, info.head_version_id, frame), expected, check_exact=True)
    assert built == [len(frame)]
    with ws.transaction() as db:  # a view another studio's code built (an older or newer turn view): not trusted
        db.execute("UPDATE turn_views SET builder='other code'")
    frame = new_process_frame()
    assert load_turn_view(ws, info.head_version_id, frame) is None
    pd.testing.assert_frame_equal(version_turn_view(ws, info.head_version_id, frame), expected, check_exact=True)
    assert built == [len(frame)] * 2  # built again, and stored in its place
    frame = new_process_frame()
    pd.testing.assert_frame_equal(version_turn_view(ws, info.head_version_id, frame), expected, check_exact=True)
    assert built == [len(frame)] * 2
