"""The free memory a job is weighed against (a container's limit included), the collector paused, and the core count
pools use."""

from __future__ import annotations

import pytest

from studio.core import cores, memory
from studio.data.memory import check_memory
from studio.errors import ResourceError


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
        check_memory(2**20, "a job")


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
