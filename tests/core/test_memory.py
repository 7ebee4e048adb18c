"""The free-memory check that refuses a job before it would run out, and the core count pools use."""

from __future__ import annotations

import pytest

from studio.core import cores, memory
from studio.errors import ResourceError


def test_a_job_that_would_not_fit_is_refused_with_the_figures(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: 4 * 2**30)
    memory.check_memory(3 * 2**30, "a job")  # within 90% of what is free
    with pytest.raises(ResourceError, match=r"a job would need about 3\.8 GB of memory and 4\.0 GB are free"):
        memory.check_memory(int(3.8 * 2**30), "a job")


def test_a_refusal_says_the_same_in_spanish_and_names_what_to_do(monkeypatch):
    from functools import partial

    from studio.i18n import text

    monkeypatch.setattr(memory, "available_memory", lambda: 4 * 2**30)
    with pytest.raises(ResourceError) as refused:
        memory.check_memory(int(3.8 * 2**30), "a job")
    assert str(refused.value).endswith(
        "are free; run it on part of the data (or a machine with more memory), or skip this rule"
    )
    assert refused.value.shown("es").startswith(
        "a job necesitaría unos 3.8 GB de memoria y hay 4.0 GB libres; ejecútalo"
    )
    with pytest.raises(ResourceError) as refused:
        memory.check_memory(2**33, partial(text, "memory.load", file="f.jsonl", size="1.0 GB"), "split it")
    assert (
        refused.value.shown("es")
        == "Cargar f.jsonl (1.0 GB) entero necesitaría unos 8.0 GB de memoria y hay 4.0 GB libres; split it"
    )


def test_without_a_figure_from_the_kernel_nothing_is_refused(monkeypatch):
    monkeypatch.setattr(memory, "available_memory", lambda: None)
    memory.check_memory(2**50, "a job")


def test_available_memory_reads_the_kernel():
    free = memory.available_memory()
    assert free is None or free > 0


def test_worker_count_is_at_least_one_and_honours_a_request():
    assert cores.worker_count(3) == 3
    assert cores.worker_count(0) == 1
    assert cores.worker_count() >= 1


@pytest.mark.parametrize(
    "limit,current,left",
    [("1073741824\n", "268435456\n", 3 * 2**28), ("max\n", "268435456\n", None), ("100\n", "200\n", 0)],
)
def test_a_container_limit_lowers_what_is_free(tmp_path, limit, current, left):
    (tmp_path / "memory.max").write_text(limit)
    (tmp_path / "memory.current").write_text(current)
    assert memory.cgroup_memory_left(tmp_path) == left
    assert memory.cgroup_memory_left(tmp_path / "absent") is None


def test_the_free_figure_is_the_container_limit_when_it_is_lower(tmp_path, monkeypatch):
    (tmp_path / "memory.max").write_text(str(2**20))
    (tmp_path / "memory.current").write_text("0")
    monkeypatch.setattr(memory, "CGROUP", tmp_path)
    assert memory.available_memory() == 2**20
    with pytest.raises(ResourceError, match="GB are free"):
        memory.check_memory(2**20, "a job")


def test_the_collector_is_paused_for_a_block_and_left_as_it_was_after_it_even_on_an_error():
    import gc

    assert gc.isenabled()
    with memory.collector_paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), memory.collector_paused():
        raise ValueError("a decode failed")
    assert gc.isenabled()
    gc.disable()
    try:
        with memory.collector_paused():
            pass
        assert not gc.isenabled()  # paused by someone else: not restarted behind their back
    finally:
        gc.enable()
