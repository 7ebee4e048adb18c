"""A whole-file load refused before it would run out of memory: the estimate, the message, and a normal load."""

from __future__ import annotations

import json

import pytest

from studio.core import memory
from studio.data import loader, readers
from studio.data.loader import load_dataset
from studio.data.memory import check_whole_load
from studio.errors import ResourceError

CHAT = {
    "messages": [
        {"role": "user", "content": "What is a fever?"},
        {"role": "assistant", "content": "A high temperature."},
    ]
}


class Read(Exception):
    """Raised by a reader that a test expects not to be reached."""


@pytest.fixture
def unread(monkeypatch):
    """The JSONL reader replaced by one that fails the test: a refused file must not be parsed."""

    def reader(*args, **kwargs):
        raise Read

    monkeypatch.setattr(readers, "read_jsonl", reader)


def free(monkeypatch, nbytes):
    monkeypatch.setattr(memory, "available_memory", lambda: nbytes)


def test_a_file_too_large_for_the_free_memory_is_refused_before_it_is_read(tmp_path, monkeypatch, unread):
    path = tmp_path / "big.jsonl"
    with path.open("wb") as handle:  # 200 MB on disk but sparse: only its first line is written
        handle.write((json.dumps(CHAT) + "\n").encode())
        handle.truncate(200 * 2**20)
    free(monkeypatch, 2**29)
    with pytest.raises(ResourceError) as refused:
        load_dataset(path)
    message = str(refused.value)  # 3.5 bytes per byte and 1,300 per line, 2 lines
    assert message.startswith(
        "Loading big.jsonl (200.0 MB) whole would need about 0.7 GB of memory and 0.5 GB are free"
    )
    assert "nothing was loaded" in message and "studio analyze big.jsonl" in message
    assert "machine with more memory" in message
    assert refused.value.shown("es").startswith(
        "Cargar big.jsonl (200.0 MB) entero necesitaría unos 0.7 GB de memoria y hay 0.5 GB libres"
    )
    free(monkeypatch, 2**30)  # more than 0.7 GB, less than the 1.8 GB of the per-byte bound: the line count decides
    with pytest.raises(Read):
        load_dataset(path)


def test_the_import_path_counts_the_rules_after_the_load_and_short_examples_cost_more(monkeypatch, unread):
    short = (b"x" * 99 + b"\n") * (10 * 2**20 // 100)  # 10 MB of 100-byte lines
    free(monkeypatch, 150 * 2**20)  # holds the load (~90 MB), not the load, the grid's rules and the import
    with pytest.raises(Read):  # the check let it through to the reader
        load_dataset("upload.jsonl", data=short)
    with pytest.raises(ResourceError, match=r"^Loading upload\.jsonl \(10\.0 MB\) whole and checking it with the"):
        load_dataset("upload.jsonl", data=short, flagged=True)
    with pytest.raises(Read):  # the same size in 10 long lines: ~95 MB with the rules
        load_dataset("upload.jsonl", data=(b"x" * (2**20 - 1) + b"\n") * 10, flagged=True)


def test_binary_formats_cost_more_per_byte_than_text(monkeypatch):
    free(monkeypatch, 200 * 2**20)
    body = b"\0" * (10 * 2**20 - 8)
    check_whole_load("a.csv", b"frage,an" + body)  # text: ~90 MB
    with pytest.raises(ResourceError, match=r"a\.parquet \(10\.0 MB\)"):
        check_whole_load("a.parquet", b"PAR1\x15\x04\0\0" + body)
    with pytest.raises(ResourceError, match=r"a\.xlsx \(10\.0 MB\)"):
        check_whole_load("a.xlsx", b"PK\x03\x04\0\0\0\0" + body)
    free(monkeypatch, 60 * 2**20)  # a text file other than JSONL keeps the per-byte bound: its lines are not rows
    with pytest.raises(ResourceError, match=r"a\.csv \(10\.0 MB\) whole would need about 0\.1 GB"):
        check_whole_load("a.csv", b"frage,an" + body)


def test_with_memory_to_spare_a_file_loads_as_before(tmp_path, monkeypatch):
    path = tmp_path / "small.jsonl"
    path.write_text(json.dumps(CHAT) + "\n" + json.dumps(CHAT) + "\n")
    free(monkeypatch, 64 * 2**30)
    assert len(load_dataset(path, flagged=True).frame) == 2
    free(monkeypatch, None)  # no figure from the kernel: nothing is refused
    assert len(load_dataset(path).frame) == 2
    assert loader.source_columns(path) == ["messages"]
