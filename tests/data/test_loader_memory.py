"""A whole-file load refused before it would run out of memory: the estimate, the message, and a normal load."""

from __future__ import annotations

import json

import pytest

from studio.core import memory
from studio.data import loader, readers
from studio.data.loader import check_whole_load, load_dataset
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
    free(monkeypatch, 2**30)
    with pytest.raises(ResourceError) as refused:
        load_dataset(path)
    message = str(refused.value)
    assert message.startswith(
        "Loading big.jsonl (200.0 MB) whole would need about 1.8 GB of memory and 1.0 GB are free"
    )
    assert "nothing was loaded" in message and "studio analyze big.jsonl" in message
    assert "machine with more memory" in message
    assert refused.value.shown("es").startswith(
        "Cargar big.jsonl (200.0 MB) entero necesitaría unos 1.8 GB de memoria y hay 1.0 GB libres"
    )


def test_the_import_path_counts_the_rules_after_the_load(monkeypatch, unread):
    data = b"x" * (10 * 2**20)
    free(monkeypatch, 150 * 2**20)  # holds the load (~90 MB), not the load and the grid's rules (~200 MB)
    with pytest.raises(Read):  # the check let it through to the reader
        load_dataset("upload.jsonl", data=data)
    with pytest.raises(ResourceError, match=r"^Loading upload\.jsonl \(10\.0 MB\) whole and checking it with the"):
        load_dataset("upload.jsonl", data=data, flagged=True)


def test_binary_formats_cost_more_per_byte_than_text(monkeypatch):
    free(monkeypatch, 200 * 2**20)
    check_whole_load("a.csv", 10 * 2**20, b"frage,an")  # text: ~90 MB
    with pytest.raises(ResourceError, match=r"a\.parquet \(10\.0 MB\)"):
        check_whole_load("a.parquet", 10 * 2**20, b"PAR1\x15\x04")
    with pytest.raises(ResourceError, match=r"a\.xlsx \(10\.0 MB\)"):
        check_whole_load("a.xlsx", 10 * 2**20, b"PK\x03\x04")


def test_with_memory_to_spare_a_file_loads_as_before(tmp_path, monkeypatch):
    path = tmp_path / "small.jsonl"
    path.write_text(json.dumps(CHAT) + "\n" + json.dumps(CHAT) + "\n")
    free(monkeypatch, 64 * 2**30)
    assert len(load_dataset(path, flagged=True).frame) == 2
    free(monkeypatch, None)  # no figure from the kernel: nothing is refused
    assert len(load_dataset(path).frame) == 2
    assert loader.source_columns(path) == ["messages"]
