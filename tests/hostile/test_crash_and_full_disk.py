"""Crashes mid-write and full disks (issue 20, items 4 and 5), on real processes.

Kill points: a writer process (:mod:`tests.hostile.writer`) saves versions / imports / exports / uploads to the
engine / writes checkpoints in a loop and is SIGKILLed at a random instant, several times over the same folder;
after each kill the old or the new state is there (every acknowledged write included), the workspace passes
``PRAGMA integrity_check``, every version loads, and no partial file is left once the next writer (or engine) has
started: SQLite leaves none, a killed file write leaves a ``.part`` file naming its dead PID, never a half target,
and the next write into that folder removes it.

Full disk: the same writer, once, under RLIMIT_FSIZE (SIGXFSZ ignored, so a write past the limit fails with
EFBIG as on a full disk): it fails with one line naming what could not be written, the previous state is intact,
and no partial file is left.
"""

from __future__ import annotations

import os
import random
import resource
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from studio.core.files import PARTIAL_SUFFIX, remove_partials
from studio.editing.editor import DatasetEditor
from studio.storage import workspace as workspace_module
from studio.storage.workspace import Workspace
from tests.hostile.writer import ROWS, chat_lines, checkpoint_bytes, prepare

ROOT = Path(__file__).resolve().parents[2]
KILLS = int(os.environ.get("STUDIO_KILL_POINTS", "4"))
"""Kills per operation (each one a fresh writer process over the same folder); more with STUDIO_KILL_POINTS."""
LIMIT = 64 * 1024
"""The file-size limit of the full-disk runs: above what opening the workspace writes, below every write tried."""

pytestmark = pytest.mark.timeout(300)
pytest_plugins = ("tests.engine_fixtures",)


@pytest.fixture
def folder(tmp_path):
    prepare(tmp_path)
    workspace_module._FRAMES.clear()
    return tmp_path


def _writer(op: str, folder: Path, *, once: bool = False, limit: int | None = None) -> subprocess.Popen:
    def limited() -> None:
        if limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # inherited across exec: writes then fail with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return subprocess.Popen(
        [sys.executable, "-m", "tests.hostile.writer", op, str(folder), *(["--once"] if once else [])],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=limited,
    )


def kill_at_random(op: str, folder: Path, rng: random.Random) -> list[str]:
    """Start the writer, let it finish one write, then SIGKILL it at a random instant within the time one write
    took (the machine's load changes that time tenfold); the lines it acknowledged."""
    child = _writer(op, folder)
    lines: list[str] = []
    ready, first = threading.Event(), threading.Event()

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            lines.append(line.strip())
            (first if ready.is_set() else ready).set()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert ready.wait(120), f"the {op} writer never started: {child.stderr.read() if child.stderr else ''}"
    started = time.monotonic()
    assert first.wait(120), f"the {op} writer never finished a write: {lines}"
    time.sleep(rng.uniform(0.0, time.monotonic() - started))  # anywhere in the next write (one write's time)
    assert child.poll() is None, (
        f"the {op} writer died by itself: {lines} {child.stderr.read() if child.stderr else ''}"
    )
    child.send_signal(signal.SIGKILL)
    child.wait()
    reader.join(10)
    assert child.stderr is not None
    child.stderr.close()
    assert lines[0] == "ready" and not any(line.startswith("error") for line in lines), lines
    return lines[1:]


def check_workspace(path: Path) -> Workspace:
    """The workspace passes integrity_check and every version of every dataset loads; returns it."""
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    workspace_module._FRAMES.clear()
    workspace = Workspace(path)
    for dataset in workspace.datasets():
        for version in workspace.versions(dataset.id):
            assert len(workspace.load_version(version.id)) == version.rows
        DatasetEditor(workspace, dataset.id).frame  # the head and its log replay  # noqa: B018
    return workspace


def no_partials(folder: Path) -> None:
    left = list(folder.rglob(f"*{PARTIAL_SUFFIX}"))
    assert left == [], f"partial files left: {left}"


# ---------------------------------------------------------------------------------------------- kill points


def test_saving_versions_killed_at_random_points_loses_no_acknowledged_version(folder):
    rng = random.Random(20)
    acknowledged = 0
    for _ in range(KILLS):
        saved = [int(line.split()[1]) for line in kill_at_random("save", folder, rng)]
        acknowledged += len(saved)
        workspace = check_workspace(folder / "studio.db")
        (dataset,) = workspace.datasets()
        names = {v.name: v.id for v in workspace.versions(dataset.id)}
        for n in saved:  # every acknowledged save is a version holding its edit
            frame = workspace.load_version(names[f"v{n}"]).set_index("id")
            assert frame.at[n % ROWS, "assistant"] == f"edit {n}"
    assert acknowledged >= 1  # the kills did land while versions were being saved
    no_partials(folder)


def test_imports_killed_at_random_points_leave_whole_datasets_or_none(folder):
    rng = random.Random(21)
    acknowledged: list[int] = []
    for _ in range(KILLS):
        acknowledged += [int(line.split()[1]) for line in kill_at_random("import", folder, rng)]
        workspace = check_workspace(folder / "studio.db")
        datasets = {d.id: d for d in workspace.datasets()}
        assert set(acknowledged) <= set(datasets)
        for dataset in datasets.values():
            assert workspace.version(dataset.head_version_id).rows == ROWS
    assert acknowledged
    no_partials(folder)


def test_exports_killed_at_random_points_leave_the_old_file_or_the_new_one(folder):
    rng = random.Random(22)
    out = folder / "out.jsonl"
    complete = set()
    for _ in range(KILLS):
        lines = kill_at_random("export", folder, rng)
        if out.exists():
            data = out.read_bytes()
            assert data.count(b"\n") == ROWS and data.endswith(b"}\n")  # never half a file
            complete.add(b"the other export" in data)
        assert lines == [] or out.exists()
        remove_partials(folder)  # what the next write there does first
        no_partials(folder)
    assert complete  # at least one export finished before a kill


def test_engine_uploads_killed_at_random_points_keep_only_whole_recorded_files(folder, monkeypatch):
    from studio.engine.store import EngineStore

    rng = random.Random(23)
    size = len((folder / "data.jsonl").read_bytes())
    acknowledged: list[str] = []
    monkeypatch.setattr(EngineStore, "_ORPHAN_AGE_S", 0)  # no writer runs while the test looks
    for _ in range(KILLS):
        acknowledged += [line.split()[1] for line in kill_at_random("upload", folder, rng)]
        store = EngineStore(folder / "engine")  # opening the store sweeps what the killed writer left
        records = {f.id: f for f in store.list_files().items}
        assert set(acknowledged) <= set(records)
        assert {p.name for p in store.files_dir.iterdir()} == set(records)
        assert all(f.bytes == size == (store.files_dir / f.id).stat().st_size for f in records.values())
        assert list((folder / "engine" / "tmp").glob("*")) == []
        no_partials(folder / "engine")
    assert acknowledged


def test_checkpoints_killed_at_random_points_are_whole_or_absent(folder):
    rng = random.Random(24)
    step = folder / "job" / "checkpoints" / "step-1"
    for _ in range(KILLS):
        kill_at_random("checkpoint", folder, rng)
        remove_partials(step.parent)  # what the next checkpoint and the engine's store at start do first
        if step.exists():
            n = int((step / "adapter_config.json").read_bytes().split(b":")[0])
            assert {p.name: p.read_bytes() for p in step.iterdir()} == checkpoint_bytes(n)
        no_partials(folder)


# ---------------------------------------------------------------------------------------------- full disk


def write_once_on_a_full_disk(op: str, folder: Path) -> str:
    """The writer's one output line after ready, run under a file-size limit of LIMIT bytes."""
    child = _writer(op, folder, once=True, limit=LIMIT)
    out, err = child.communicate(timeout=240)
    lines = out.splitlines()
    assert child.returncode == 0 and lines[0] == "ready" and len(lines) == 2, (out, err)
    assert "Traceback" not in err, err
    return lines[1]


def test_a_full_disk_during_export_names_the_file_and_keeps_the_old_one(folder):
    (folder / "out.jsonl").write_bytes(b"the previous export\n")
    line = write_once_on_a_full_disk("export", folder)
    assert line == (
        f"error: could not write {folder / 'out.jsonl'}: the disk is full or a file-size limit was reached "
        "(File too large)"
    )
    assert (folder / "out.jsonl").read_bytes() == b"the previous export\n"
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []
    no_partials(folder)


def test_a_full_disk_during_import_names_the_workspace_and_adds_nothing(folder):
    before = [d.id for d in Workspace(folder / "studio.db").datasets()]
    line = write_once_on_a_full_disk("import", folder)
    assert line.startswith(f"error: could not write the workspace {folder / 'studio.db'}: the disk is full")
    assert [d.id for d in check_workspace(folder / "studio.db").datasets()] == before


def test_a_full_disk_during_a_version_save_names_the_workspace_and_keeps_the_head(folder):
    workspace = Workspace(folder / "studio.db")
    (dataset,) = workspace.datasets()
    versions = workspace.versions(dataset.id)
    line = write_once_on_a_full_disk("save", folder)
    assert line.startswith(f"error: could not write the workspace {folder / 'studio.db'}: the disk is full")
    workspace = check_workspace(folder / "studio.db")
    assert workspace.versions(dataset.id) == versions
    assert workspace.dataset(dataset.id).head_version_id == dataset.head_version_id


def test_a_full_disk_during_an_engine_upload_answers_one_line_and_keeps_no_file(folder):
    from studio.engine.store import EngineStore

    EngineStore(folder / "engine")  # the engine's home exists; then the disk fills up
    line = write_once_on_a_full_disk("upload", folder)
    assert line == (  # over 1 MB, Starlette buffers the form in the system's temp folder before the engine sees it
        f"error: could not write the upload (buffered in {tempfile.gettempdir()}): the disk is full or a file-size "
        "limit was reached (File too large)"
    )
    line = write_once_on_a_full_disk("upload-small", folder)
    assert line == (
        "error: could not write the upload train-1.jsonl: the disk is full or a file-size limit was reached "
        "(File too large)"
    )
    home = folder / "engine"
    assert list((home / "files").iterdir()) == [] and list((home / "tmp").iterdir()) == []
    no_partials(home)


def test_a_full_disk_while_writing_a_checkpoint_names_it_and_leaves_no_folder(folder):
    line = write_once_on_a_full_disk("checkpoint", folder)
    step = folder / "job" / "checkpoints" / "step-1"
    assert line == (
        f"error: could not write {step}: the disk is full or a file-size limit was reached (File too large)"
    )
    assert list(step.parent.iterdir()) == []


_TRAIN = """
import sys
from pathlib import Path
from studio.engine.encoding import read_examples
from studio.engine.hyperparameters import resolve_config
from studio.engine.trainer import train
from studio.errors import StudioError

examples = read_examples(Path(sys.argv[2]))
config = resolve_config({"n_epochs": 1, "batch_size": 2}, n_examples=len(examples), seed=1)
try:
    train(base=sys.argv[1], train_examples=examples, valid_examples=None, config=config, job_dir=Path(sys.argv[3]))
except StudioError as exc:
    print(f"error: {exc}")
"""


def test_a_full_disk_while_the_trainer_writes_its_checkpoint_names_it_and_leaves_no_folder(tiny_model_dir, tmp_path):
    """The real training loop on the tiny Llama: its first write is the epoch's adapter, past a 4 KB limit."""
    from tests.engine_support import write_chat_file

    data, job = write_chat_file(tmp_path / "train.jsonl", n=4), tmp_path / "job"

    def limited() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))

    done = subprocess.run(
        [sys.executable, "-c", _TRAIN, str(tiny_model_dir), str(data), str(job)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "STUDIO_ENGINE_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=240,
        preexec_fn=limited,
    )
    step = job / "checkpoints" / "step-2"
    assert done.stdout.splitlines() == [
        f"error: could not write {step}: the disk is full or a file-size limit was reached (File too large)"
    ], done.stderr[-2000:]
    assert list((job / "checkpoints").iterdir()) == []


def test_chat_lines_are_big_enough_to_pass_the_limit():
    assert len(chat_lines()) > 10 * LIMIT
