"""The command line's start-up: ``studio --help`` in a fresh process, against a bare interpreter start.

Functions follow ``bench.tasks``: ``name(runs) -> {"wall_s": ..., ...}`` for the harness to run in fresh processes.
Each spawns ``runs`` new Python processes and reports the median wall time of one; ``heavy_modules`` lists the
heavy libraries that ``studio --help`` imported (none is the goal: registering a command imports nothing heavy).
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from bench.harness import timed

HEAVY = ("pandas", "numpy", "pyarrow", "httpx", "openai", "tiktoken", "fastapi", "torch", "transformers")
_PROBE = (
    "import json, sys\n"
    "from studio.cli import build_parser\n"
    "build_parser().format_help()\n"
    f"print(json.dumps(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r}))))\n"
)


def _median_run(command: list[str], runs: str) -> dict:
    walls, cpus = [], []
    for _ in range(int(runs)):
        with timed() as timing:
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        walls.append(timing.wall_s)
        cpus.append(timing.cpu_s)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "processes": int(runs)}


def help_ours(runs: str) -> dict:
    """``python -m studio.cli --help``, ``runs`` times; plus which heavy libraries it imports."""
    figures = _median_run([sys.executable, "-m", "studio.cli", "--help"], runs)
    probe = subprocess.run([sys.executable, "-c", _PROBE], check=True, capture_output=True, text=True)
    return {**figures, "heavy_modules": json.loads(probe.stdout)}


def bare_python(runs: str) -> dict:
    """The floor: ``python -c pass`` (interpreter and site start-up only), ``runs`` times."""
    return _median_run([sys.executable, "-c", "pass"], runs)
