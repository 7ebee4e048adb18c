"""The one atomic-write helper: all or nothing, one-line errors, partial files of dead writers swept."""

from __future__ import annotations

import errno
import os
import subprocess
import sys

import pytest

from studio.core.files import (
    PARTIAL_SUFFIX,
    atomic_folder,
    atomic_move,
    atomic_open,
    atomic_write,
    remove_partials,
    write_failure,
)
from studio.data.writers import export_dataset
from studio.errors import WriteError


def test_atomic_write_replaces_the_file_and_leaves_nothing_else(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old\n")
    atomic_write(target, b"new\n")
    assert target.read_bytes() == b"new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_an_error_while_writing_keeps_the_old_file_and_removes_the_partial_one(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"old\n")
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write(b"half of the new")
        raise RuntimeError("the export failed half way")
    assert target.read_bytes() == b"old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_a_full_disk_is_one_line_naming_the_file(tmp_path):
    error = write_failure(tmp_path / "out.jsonl", OSError(errno.ENOSPC, "No space left on device"))
    assert str(error) == (
        f"could not write {tmp_path / 'out.jsonl'}: the disk is full or a file-size limit was reached "
        "(No space left on device)"
    )


def test_an_unwritable_folder_raises_write_error(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("running as a user who may write anywhere (root)")
        with pytest.raises(WriteError, match=r"could not write .*locked/out\.csv: Permission denied"):
            atomic_write(folder / "out.csv", b"x")
    finally:
        folder.chmod(0o700)


def test_export_goes_through_the_helper(tmp_path, monkeypatch):
    import pandas as pd

    from studio.data.frame import build_frame

    frame = build_frame([{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}], [1])
    target = tmp_path / "out.jsonl"
    target.write_bytes(b"previous\n")

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(WriteError, match=r"out\.jsonl: the disk is full"):
        export_dataset(frame, target)
    assert target.read_bytes() == b"previous\n" and len(list(tmp_path.iterdir())) == 1
    monkeypatch.undo()
    export_dataset(frame, target)
    assert pd.read_json(target, lines=True).shape == (1, 1)


def test_atomic_folder_replaces_a_folder_whole(tmp_path):
    step = tmp_path / "checkpoints" / "step-3"
    with atomic_folder(step) as partial:
        (partial / "adapter_model.safetensors").write_bytes(b"first")
    with atomic_folder(step) as partial:  # trained again after a resume
        (partial / "adapter_model.safetensors").write_bytes(b"second")
    assert [p.read_bytes() for p in step.iterdir()] == [b"second"]
    with pytest.raises(RuntimeError), atomic_folder(step) as partial:
        (partial / "adapter_model.safetensors").write_bytes(b"half")
        raise RuntimeError("killed half way")
    assert [p.read_bytes() for p in step.iterdir()] == [b"second"]
    assert [p.name for p in step.parent.iterdir()] == ["step-3"]


def test_atomic_move_puts_a_finished_file_in_place(tmp_path):
    source = tmp_path / "upload.tmp"
    source.write_bytes(b"data")
    atomic_move(source, tmp_path / "file-abc")
    assert not source.exists() and (tmp_path / "file-abc").read_bytes() == b"data"


def test_partials_of_dead_writers_are_swept_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    left = tmp_path / f".out.jsonl.{dead_pid}.abc123{PARTIAL_SUFFIX}"
    left.write_bytes(b"half")
    mine = tmp_path / f".out.jsonl.{os.getpid()}.def456{PARTIAL_SUFFIX}"
    mine.write_bytes(b"being written")
    (tmp_path / f".step-1.{dead_pid}.old{PARTIAL_SUFFIX}").mkdir()
    assert remove_partials(tmp_path) == 2
    assert [p.name for p in tmp_path.iterdir()] == [mine.name]
    atomic_write(tmp_path / "out.jsonl", b"x")  # a write sweeps its folder first: the live one stays
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([mine.name, "out.jsonl"])
