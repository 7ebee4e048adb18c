"""The SQLite workspace: datasets, versions, the edit log, reopening, and no secrets."""

import sqlite3

import pandas as pd
import pytest

from studio.data.frame import build_frame, set_turn
from studio.errors import WorkspaceError
from studio.storage.workspace import Workspace, frame_from_blob, frame_to_blob, import_file, seed_samples


@pytest.fixture
def frame():
    examples = [
        {
            "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a", "weight": 0}],
            "tools": [{"type": "function", "function": {"name": "f"}}],
        },
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "ñ 🚀"}]}]},
    ]
    import pandas as pd

    return build_frame(examples, [1, 2], pd.DataFrame({"meta": [{"k": 1}, None], "tag": ["x", "y"]}))


@pytest.mark.parametrize("stored_as", ["arrow", "parquet (versions stored before)"])
def test_blob_roundtrip_is_lossless(frame, stored_as):
    import io

    import pyarrow as pa
    import pyarrow.parquet as pq

    blob = frame_to_blob(frame)
    if stored_as != "arrow":  # what frame_to_parquet wrote: the same table, schema metadata included, as Parquet
        buffer = io.BytesIO()
        pq.write_table(pa.ipc.open_file(pa.py_buffer(blob)).read_all(), buffer, compression="zstd")
        blob = buffer.getvalue()
    assert blob.startswith(b"ARROW1" if stored_as == "arrow" else b"PAR1")
    again = frame_from_blob(blob)
    assert again["messages"].tolist() == frame["messages"].tolist()
    assert again["tools"].tolist() == frame["tools"].tolist()
    assert again["meta"].tolist() == frame["meta"].tolist()
    assert again["user"].tolist() == frame["user"].tolist()
    assert again.dtypes["user"] == frame.dtypes["user"]
    pd.testing.assert_frame_equal(again, frame_from_blob(frame_to_blob(frame)))


def test_reopening_shows_same_datasets_and_versions(tmp_path, frame):
    path = tmp_path / "ws.db"
    ws = Workspace(path)
    info = ws.import_dataset(frame, name="faq", source_name="faq.jsonl", source_bytes=b"raw", format="jsonl/chat")
    edited = frame.copy()
    edited.at[0, "messages"] = set_turn(edited.at[0, "messages"], "user", "new")
    ws.save_version(info.id, edited, name="cleaned")
    again = Workspace(path)
    assert [d.name for d in again.datasets()] == ["faq"]
    assert [v.name for v in again.versions(info.id)] == ["original", "cleaned"]
    head = again.dataset(info.id).head_version_id
    assert again.load_version(head)["messages"].iat[0][0]["content"] == "new"
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_edit_log_undo_redo_and_branching(frame):
    ws = Workspace()
    info = ws.import_dataset(frame, name="d", source_name="d.jsonl", format="jsonl/chat")
    for n in range(3):
        ws.append_operation(info.id, {"op": "edit", "n": n})
    assert [o["n"] for o in ws.operations(info.id)] == [0, 1, 2]
    assert ws.undo(info.id)["n"] == 2 and ws.undo(info.id)["n"] == 1
    assert [o["n"] for o in ws.operations(info.id)] == [0]
    assert ws.redo(info.id)["n"] == 1
    ws.append_operation(info.id, {"op": "edit", "n": 9})  # discards the undone op 2
    assert [o["n"] for o in ws.operations(info.id, include_undone=True)] == [0, 1, 9]
    assert ws.redo(info.id) is None
    ws.save_version(info.id, frame, name="v2")
    assert ws.operations(info.id) == []


def test_errors_name_what_is_missing(frame):
    ws = Workspace()
    with pytest.raises(WorkspaceError, match="no dataset with id 42"):
        ws.dataset(42)
    with pytest.raises(WorkspaceError, match="refusing to store"):
        ws.set_setting("openai_api_key", "sk-test")
    ws.set_setting("lang", "es")
    assert ws.setting("lang") == "es"


def test_env_var_selects_workspace(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "elsewhere" / "w.db"))
    assert Workspace().path == tmp_path / "elsewhere" / "w.db"
    assert (tmp_path / "elsewhere" / "w.db").exists()


def test_import_file_and_seed_samples(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("question,answer\nQ,A\n")
    ws = Workspace()
    info, _result = import_file(ws, path)
    assert info.format == "csv/qa" and len(ws.load_version(info.head_version_id)) == 1
    added = seed_samples(ws)
    assert seed_samples(ws) == []  # idempotent
    assert len(ws.datasets()) == 1 + len(added)


def test_imported_datasets_carry_their_rule_flags(tmp_path):
    from studio.quality.rules import flags_signature, grid_flags

    ws = Workspace(tmp_path / "ws.db")
    info, _result = import_file(ws, "sample_data/medical_faq_dirty.csv")
    frame = ws.load_version(info.head_version_id)
    stored = ws.load_flags(info.head_version_id, flags_signature(), frame)
    assert stored is not None
    pd.testing.assert_frame_equal(stored, grid_flags(frame))
    assert stored["too_short"].sum() > 0  # the sample's defects are there
    assert ws.load_flags(info.head_version_id, flags_signature([{"op": "delete_rows", "ids": [1]}]), frame) is None


def test_stored_flags_are_one_set_per_version_and_only_for_the_same_rows(tmp_path, frame):
    ws = Workspace(tmp_path / "ws.db")
    info = ws.import_dataset(frame, name="faq", source_name="faq.jsonl", format="jsonl/chat")
    version = info.head_version_id
    flags = pd.DataFrame({"empty": [True, False], "cluster_id": pd.array([1, None], dtype="Int64")})
    ws.save_flags(version, "a", frame, flags)
    ws.save_flags(version, "b", frame, flags.assign(empty=[False, False]))
    assert ws.load_flags(version, "a", frame) is None  # replaced
    again = ws.load_flags(version, "b", frame)
    assert again["empty"].tolist() == [False, False]
    assert again["cluster_id"].tolist() == [1, pd.NA]
    assert ws.load_flags(version, "b", frame.iloc[::-1]) is None  # other row order: not these flags
    ws.delete_dataset(info.id)
    with Workspace(tmp_path / "ws.db").connect() as db:
        assert db.execute("SELECT count(*) FROM flags").fetchone()[0] == 0


def test_a_workspace_from_before_stored_flags_is_upgraded_in_place(tmp_path, frame):
    from studio.storage.migrations import MIGRATIONS as _MIGRATIONS

    path = tmp_path / "old.db"
    db = sqlite3.connect(path)
    db.executescript(f"{_MIGRATIONS[0]}; PRAGMA user_version=1;")
    db.close()
    ws = Workspace(path)
    info = ws.import_dataset(frame, name="faq", source_name="faq.jsonl", format="jsonl/chat")
    ws.save_flags(info.head_version_id, "s", frame, pd.DataFrame({"empty": [False, True]}))
    assert ws.load_flags(info.head_version_id, "s", frame)["empty"].tolist() == [False, True]
    assert sqlite3.connect(path).execute("PRAGMA user_version").fetchone()[0] == len(_MIGRATIONS)


def test_versions_read_again_come_from_memory_and_a_reused_id_is_not_confused(tmp_path, frame):
    ws = Workspace(tmp_path / "ws.db")
    info = ws.import_dataset(frame, name="faq", source_name="faq.jsonl", format="jsonl/chat")
    first = ws.load_version(info.head_version_id)
    assert Workspace(tmp_path / "ws.db").load_version(info.head_version_id) is first  # a new session: no decode
    ws.delete_dataset(info.id)
    other = frame.iloc[:1].copy()
    again = ws.import_dataset(other, name="other", source_name="o.jsonl", format="jsonl/chat")
    assert len(ws.load_version(again.head_version_id)) == 1  # even if SQLite hands out the same id again


def test_a_prefetched_version_is_decoded_once_even_when_opened_meanwhile(tmp_path, frame, monkeypatch):
    import threading

    import studio.storage.workspace as workspace_module

    ws = Workspace(tmp_path / "ws.db")
    info = ws.import_dataset(frame, name="faq", source_name="faq.jsonl", format="jsonl/chat")
    decodes, release = [], threading.Event()
    real = workspace_module.frame_from_blob

    def slow_decode(data):
        decodes.append(1)
        release.wait(5)
        return real(data)

    monkeypatch.setattr(workspace_module, "frame_from_blob", slow_decode)
    prefetch = ws.prefetch_version(info.head_version_id)
    opened = []
    reader = threading.Thread(target=lambda: opened.append(ws.load_version(info.head_version_id)))
    reader.start()
    release.set()
    prefetch.join(5)
    reader.join(5)
    assert decodes == [1]
    assert opened[0]["user"].tolist() == frame["user"].tolist()
    ws.prefetch_version(10**6).join(5)  # a missing version is reported by the later load, not by the thread
    with pytest.raises(WorkspaceError):
        ws.load_version(10**6)


def test_the_frames_kept_in_memory_are_bounded(tmp_path, frame, monkeypatch):
    import studio.storage.workspace as workspace_module
    from studio.storage.frames import FrameCache

    monkeypatch.setattr(workspace_module, "_FRAMES", FrameCache(max_rows=3))
    ws = Workspace(tmp_path / "ws.db")
    versions = [
        ws.import_dataset(frame, name=f"d{n}", source_name="d.jsonl", format="jsonl/chat").head_version_id
        for n in range(3)
    ]
    for version in versions:
        ws.load_version(version)
    # 2 rows each, at most 3 rows kept: only the newest
    assert [key[1] for key in workspace_module._FRAMES.cached_keys()] == [versions[-1]]


def test_inserted_id_is_the_new_rowid_and_never_none(tmp_path):
    from types import SimpleNamespace

    from studio.storage.workspace import inserted_id

    db = sqlite3.connect(tmp_path / "t.db")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
    assert [inserted_id(db.execute("INSERT INTO t(v) VALUES (?)", (v,))) for v in "ab"] == [1, 2]
    db.close()
    with pytest.raises(WorkspaceError, match="no row id"):
        inserted_id(SimpleNamespace(lastrowid=None))


def test_decoded_versions_are_out_of_the_collectors_sight_until_one_is_dropped(tmp_path, frame, monkeypatch):
    import gc
    import weakref

    import studio.storage.workspace as workspace_module
    from studio.storage.frames import FrameCache

    monkeypatch.setattr(workspace_module, "_FRAMES", FrameCache(kept=1))
    ws = Workspace(tmp_path / "ws.db")
    first, second = (
        ws.import_dataset(frame, name=f"d{n}", source_name="d.jsonl", format="jsonl/chat").head_version_id
        for n in range(2)
    )

    class Node:
        pass

    cycle = Node()
    cycle.me = cycle  # type: ignore[attr-defined]  # garbage only the collector can free
    gone = weakref.ref(cycle)
    try:
        conversation = ws.load_version(first)["messages"].iat[0]
        tracked = {id(o) for o in gc.get_objects()}
        assert id(conversation) not in tracked and gc.get_freeze_count() > 0  # full collections skip it
        del cycle
        gc.collect()
        assert gone() is not None  # frozen with the frame
        ws.load_version(second)  # the cache drops the first version: what was frozen is handed back
        gc.collect()
        assert gone() is None
    finally:
        gc.unfreeze()
