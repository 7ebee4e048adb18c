"""The engine's SQLite store, on a real database in a temporary folder."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from studio.engine.api.errors import http_status
from studio.engine.errors import InvalidValueError, NotFoundError
from studio.engine.records import check_id
from studio.engine.store import EngineStore


@pytest.fixture
def store(tmp_path):
    return EngineStore(tmp_path / "engine")


def _file(store, tmp_path, name="train.jsonl", text='{"messages": []}\n'):
    source = tmp_path / f"upload-{len(list(tmp_path.iterdir()))}"
    source.write_text(text)
    return store.add_file(source, filename=name, purpose="fine-tune")


def _job(store, file_id, **overrides):
    values = {
        "model": "tiny",
        "base_source": {"kind": "path", "path": "/m"},
        "training_file": file_id,
        "validation_file": None,
        "suffix": None,
        "seed": 1,
        "hyperparameters": {"n_epochs": 2},
    }
    return store.create_job(**{**values, **overrides})


def test_database_uses_wal(store):
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_files_are_stored_under_their_opaque_id(store, tmp_path):
    record = _file(store, tmp_path, name="../../evil.jsonl")
    assert record.id.startswith("file-") and record.filename == "evil.jsonl"
    assert store.file_path(record.id) == store.files_dir / record.id
    assert store.file_path(record.id).read_text() == '{"messages": []}\n'
    store.delete_file(record.id)
    assert not (store.files_dir / record.id).exists()
    with pytest.raises(NotFoundError):
        store.get_file(record.id)


@pytest.mark.parametrize("bad", ["../store.db", "file-../../x", "file-", "file-abc/def0000", "", "FILE-abcdefgh1"])
def test_ids_that_are_not_ours_are_404(store, bad):
    with pytest.raises(NotFoundError) as caught:
        store.get_file(bad)
    assert http_status(caught.value)[0] == 404 and caught.value.param == "file_id"
    with pytest.raises(NotFoundError):
        check_id(bad, param="x", what="file")


def test_listings_are_newest_first_and_paged_by_cursor(store, tmp_path):
    ids = [_file(store, tmp_path, name=f"f{i}.jsonl").id for i in range(5)]
    first = store.list_files(limit=2)
    assert [f.id for f in first.items] == ids[:2:-1][:2] and first.has_more
    rest = store.list_files(after=first.items[-1].id, limit=10)
    assert [f.id for f in rest.items] == ids[2::-1] and not rest.has_more
    with pytest.raises(InvalidValueError):
        store.list_files(after="file-unknown000000")
    with pytest.raises(InvalidValueError):
        store.list_files(limit=0)


def test_job_updates_can_be_guarded_by_status(store, tmp_path):
    job = _job(store, _file(store, tmp_path).id)
    assert job.status == "validating_files" and job.attempts == 0 and job.result_files == []
    assert store.update_job(job.id, expect=("validating_files",), status="queued")
    assert not store.update_job(job.id, expect=("running",), status="succeeded")
    assert store.get_job(job.id).status == "queued"
    store.update_job(job.id, error={"code": "x", "message": "m", "param": None}, result_files=["file-a"])
    again = store.get_job(job.id)
    assert again.error == {"code": "x", "message": "m", "param": None} and again.result_files == ["file-a"]
    assert [j.id for j in store.jobs_with_status("queued", "running")] == [job.id]


def test_events_metrics_and_checkpoints(store, tmp_path):
    job = _job(store, _file(store, tmp_path).id)
    store.add_event(job.id, "Step 1", type="metrics", data={"step": 1, "train_loss": 2.0})
    store.add_event(job.id, "Step 2", type="metrics", data={"step": 2, "train_loss": 1.5})
    store.add_event(job.id, "careful", level="warn")
    events = store.list_events(job.id, limit=10).items
    assert [e.message for e in events] == [
        "careful",
        "Step 2",
        "Step 1",
        f"Created fine-tuning job: {job.id}",
    ]
    assert [r["step"] for r in store.metric_rows(job.id)] == [1, 2]

    folder = store.job_dir(job.id) / "checkpoints" / "step-2"
    checkpoint = store.add_checkpoint(
        job.id, step=2, model_id="ft:tiny::x:ckpt-step-2", path=folder, metrics={"step": 2}
    )
    assert store.find_checkpoint("ft:tiny::x:ckpt-step-2") == checkpoint
    assert store.list_checkpoints(job.id).items == [checkpoint]
    with pytest.raises(NotFoundError):
        store.list_events("ftjob-unknown00000")


def test_deleting_a_model_removes_only_folders_inside_the_home(store, tmp_path):
    job = _job(store, _file(store, tmp_path).id)
    inside = store.job_dir(job.id) / "final"
    inside.mkdir(parents=True)
    outside = tmp_path / "precious"
    outside.mkdir()
    store.add_model("ft:a", base="tiny", job_id=job.id, path=inside)
    store.add_model("ft:b", base="tiny", job_id=job.id, path=outside)
    assert store.delete_model("ft:a") and not inside.exists()
    assert store.delete_model("ft:b") and outside.exists()
    assert not store.delete_model("ft:a")
    assert store.list_models() == []


def test_two_processes_share_the_store(store, tmp_path):
    job = _job(store, _file(store, tmp_path).id)
    code = (
        "import sys; from studio.engine.store import EngineStore; s = EngineStore(sys.argv[1]);"
        "[s.add_event(sys.argv[2], f'from child {i}') for i in range(50)]"
    )
    child = subprocess.Popen([sys.executable, "-c", code, str(store.home), job.id])
    for i in range(50):
        store.add_event(job.id, f"from parent {i}")
    assert child.wait(timeout=60) == 0
    assert len(store.list_events(job.id, limit=1000).items) == 101
