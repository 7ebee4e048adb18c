"""Run one measurement in a fresh process and read its wall time, CPU time and peak RSS (``os.wait4``)."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Sample:
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    extra: dict


def run_once(target: str, *args: str, timeout: float = 1800) -> Sample:
    """Run ``bench.worker target args`` in a child process; its own figures plus the kernel's for the child."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as handle:
        out = Path(handle.name)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "bench.worker", target, str(out), *args], cwd=ROOT, env=env)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{target} {args} exited with {process.returncode}")
    report = json.loads(out.read_text())
    out.unlink()
    return Sample(wall_s=report.pop("wall_s", wall), cpu_s=usage.ru_utime + usage.ru_stime,
                  peak_rss_mb=usage.ru_maxrss / 1024, extra=report)


def measure(target: str, *args: str, repeat: int = 3) -> Sample:
    """Median wall/CPU and max peak RSS over ``repeat`` fresh-process runs."""
    samples = [run_once(target, *args) for _ in range(repeat)]
    return Sample(wall_s=statistics.median(s.wall_s for s in samples),
                  cpu_s=statistics.median(s.cpu_s for s in samples),
                  peak_rss_mb=max(s.peak_rss_mb for s in samples), extra=samples[len(samples) // 2].extra)
