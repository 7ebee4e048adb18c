"""Run one measurement in a fresh process and read its wall time, CPU time and peak memory.

- Wall time is what the task reports for its measured part (setup such as reading inputs is outside it).
- CPU time is the measured part's (``getrusage`` of the worker and its reaped children, see :func:`timed`)
  when the task reports it, else the whole process's from ``os.wait4``.
- Peak RSS is the larger of the kernel's figure for the biggest single process (``ru_maxrss`` from
  ``os.wait4``) and the sum of RSS over the worker's whole process tree sampled every 0.1 s (worker pools,
  the Streamlit server and Chromium count too; pages shared after ``fork`` count once per process: errs high).
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Sample:
    """One fresh-process run: wall and CPU of the measured part, peak memory, and the task's own figures."""

    wall_s: float
    cpu_s: float
    process_cpu_s: float
    peak_rss_mb: float
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Measured:
    """Medians over ``samples`` (numbers in ``extra`` too); peak RSS is the max over runs."""

    samples: tuple[Sample, ...]

    @property
    def wall_s(self) -> float:
        return statistics.median(s.wall_s for s in self.samples)

    @property
    def cpu_s(self) -> float:
        return statistics.median(s.cpu_s for s in self.samples)

    @property
    def process_cpu_s(self) -> float:
        return statistics.median(s.process_cpu_s for s in self.samples)

    @property
    def peak_rss_mb(self) -> float:
        return max(s.peak_rss_mb for s in self.samples)

    @property
    def extra(self) -> dict[str, Any]:
        """Numbers: median over runs; anything else: the first run's value."""
        out: dict[str, Any] = {}
        for key, value in self.samples[0].extra.items():
            values = [s.extra.get(key) for s in self.samples]
            numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
            out[key] = statistics.median(values) if numeric else value
        return out

    def figure(self, name: str) -> float:
        """The median of one figure: ``wall_s``, ``cpu_s``, ``peak_rss_mb`` or a key of the task's result."""
        if name in ("wall_s", "cpu_s", "process_cpu_s", "peak_rss_mb"):
            return getattr(self, name)
        return self.extra[name]

    def as_dict(self) -> dict[str, Any]:
        return {
            "wall_s": self.wall_s,
            "cpu_s": self.cpu_s,
            "process_cpu_s": self.process_cpu_s,
            "peak_rss_mb": self.peak_rss_mb,
            "runs": len(self.samples),
            **self.extra,
        }


# -- inside the worker ---------------------------------------------------------------------------------------------


@dataclass
class Timing:
    wall_s: float = 0.0
    cpu_s: float = 0.0


def _cpu_now() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@contextmanager
def timed() -> Iterator[Timing]:
    """Time a block: wall clock and CPU of this process, its threads and the children it reaped meanwhile."""
    timing = Timing()
    wall, cpu = time.perf_counter(), _cpu_now()
    try:
        yield timing
    finally:
        timing.wall_s, timing.cpu_s = time.perf_counter() - wall, _cpu_now() - cpu


def timed_call(function: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Timing]:
    with timed() as timing:
        value = function(*args, **kwargs)
    return value, timing


# -- in the parent -------------------------------------------------------------------------------------------------


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            continue
        ppid = int(stat[stat.rfind(b")") + 2 :].split()[1])
        tree.setdefault(ppid, []).append(int(entry.name))
    return tree


def tree_rss_mb(pid: int) -> float:
    """Sum of the RSS of ``pid`` and all its descendants, in MB (0 when it is gone)."""
    tree, total, todo = _children(), 0, [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            pass
        todo.extend(tree.get(current, ()))
    return total / 2**20


class _TreeSampler(threading.Thread):
    def __init__(self, pid: int, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak_mb = pid, interval, 0.0
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))


def run_once(target: str, *args: str, timeout: float = 3600) -> Sample:
    """Run ``python -m bench.worker target OUT args`` and combine its report with the kernel's figures."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "PYTHONPATH": path}
    started = time.perf_counter()
    command = [sys.executable, "-m", "bench.worker", target, str(out), *args]
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    sampler = _TreeSampler(process.pid)
    sampler.start()
    watchdog = threading.Timer(timeout, process.kill)
    watchdog.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        watchdog.cancel()
        sampler.done.set()
        sampler.join()
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    try:
        if code != 0:
            raise RuntimeError(f"{target} {' '.join(args)} exited with {code}")
        report = json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)
    process_cpu = usage.ru_utime + usage.ru_stime
    peak = max(usage.ru_maxrss / 1024, sampler.peak_mb)
    return Sample(
        wall_s=float(report.pop("wall_s", wall)),
        cpu_s=float(report.pop("cpu_s", process_cpu)),
        process_cpu_s=process_cpu,
        peak_rss_mb=peak,
        extra=report,
    )


def measure(target: str, *args: str, repeat: int = 3) -> Measured:
    """``repeat`` fresh-process runs of ``target``."""
    return Measured(tuple(run_once(target, *args) for _ in range(max(1, repeat))))
