"""The command line as a user waits for it: whole processes, timed from outside.

Functions follow ``bench.tasks``: ``name(args) -> {"wall_s": ..., ...}`` for the harness to run in fresh processes.

- ``help_ours`` / ``bare_python``: ``studio --help`` against a bare interpreter start; each spawns ``runs`` new
  Python processes and reports the median wall time of one; ``heavy_modules`` lists the heavy libraries that
  ``studio --help`` imported (none is the goal: registering a command imports nothing heavy).
- ``validate_process`` / ``estimate_process`` / ``analyze_process`` / ``cookbook_process``: one command on a
  dataset under ``/usr/bin/time``: wall (start to exit), CPU (user + system of the process and the workers it
  waited for) and ``time_max_rss_mb`` (the biggest single process, what ``/usr/bin/time`` prints) come from outside;
  ``tree_peak_mb`` sums RSS over the command's whole process tree, sampled every 50 ms. Then the same command's
  inner step (the library call, in a warm process, encoding already built) runs in a fresh process, so the row
  shows what start-up, imports and output add: ``inner_step_s``.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from bench.harness import ROOT, timed, tree_rss_mb

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


# -- whole processes on a dataset ---------------------------------------------------------------------------------

MODEL = "gpt-4o-mini"
# `studio analyze` runs the rules of the "rules" cases: all but near-duplicates (quadratic at 1M) and regex.
_GRID_RULES = "from studio.quality.rules import GRID_RULES; print(','.join(GRID_RULES))"
_INNER = {
    "validate": (
        "from studio.cost.validation import validate_file\ndef step(path):\n    return validate_file(path).summary()\n"
    ),
    "estimate": (
        "from studio.cost.estimate import estimate_cost\n"
        "from studio.cost.validation import validate_file\n"
        f"def step(path):\n"
        f"    report = validate_file(path, model={MODEL!r})\n"
        f"    estimate = estimate_cost(report.tokens, model={MODEL!r})\n"
        "    return {'rows': estimate.rows, 'billed_tokens': estimate.billed_tokens, 'usd': round(estimate.usd, 4)}\n"
    ),
    "analyze": (
        "from studio.data.loader import load_dataset\n"
        "from studio.quality.rules import analyze\n"
        "def step(path):\n"
        "    frame = load_dataset(path).frame\n"
        "    analysis = analyze(frame, rules=RULES.split(','))\n"
        "    return {'rows': len(frame), 'counts': analysis.counts}\n"
    ),
}
_INNER_MAIN = (
    "import json, resource, sys, time\n"
    "from studio.cost.bpe import get_encoding\n"
    "get_encoding('o200k_base')\n"
    "def cpu():\n"
    "    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)\n"
    "    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime\n"
    "wall, used = time.perf_counter(), cpu()\n"
    "result = step(sys.argv[1])\n"
    "print(json.dumps({'inner_step_s': time.perf_counter() - wall, 'inner_cpu_s': cpu() - used, 'result': result}))\n"
)


class _TreePeak(threading.Thread):
    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.peak_mb, self.done = pid, 0.0, threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            self.peak_mb = max(self.peak_mb, tree_rss_mb(self.pid))


def _whole_process(command: list[str]) -> dict:
    """Run ``command`` under ``/usr/bin/time``; its exit code, stdout (last line) and figures."""
    with tempfile.NamedTemporaryFile(suffix=".time", delete=False) as handle:
        report = Path(handle.name)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    started = time.perf_counter()
    process = subprocess.Popen(
        ["/usr/bin/time", "-f", "%e %U %S %M", "-o", str(report), *command],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    sampler = _TreePeak(process.pid)
    sampler.start()
    out, _ = process.communicate()
    wall = time.perf_counter() - started
    sampler.done.set()
    sampler.join()
    try:
        fields = report.read_text().split()[-4:]
    finally:
        report.unlink(missing_ok=True)
    _, user, system, max_kb = (float(f) for f in fields)
    return {
        "wall_s": wall,
        "cpu_s": user + system,
        "time_max_rss_mb": round(max_kb / 1024, 1),
        "tree_peak_mb": round(sampler.peak_mb, 1),
        "exit_code": process.returncode,
        "output": (out.strip().splitlines() or [""])[-1],
    }


def _with_inner(kind: str, command: list[str], path: Path, *, rules: str = "") -> dict:
    """The command's figures, what it printed (``--json``), its inner step's figures, and whether both agree."""
    figures = _whole_process(command)
    printed = json.loads(figures.pop("output"))
    inner = subprocess.run(
        [sys.executable, "-c", f"RULES = {rules!r}\n" + _INNER[kind] + _INNER_MAIN, str(path)],
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    step = json.loads(inner.stdout)
    result = step.pop("result")
    same = all(printed.get(key) == value for key, value in result.items())
    shown = {key: printed[key] for key in ("rows", "errors", "warnings", "billed_tokens", "usd") if key in printed}
    return {**figures, **shown, **step, "same_as_inner_step": same}


def validate_process(size: str) -> dict:
    """``studio validate FILE --json``: OpenAI format checks and token counts, whole process."""
    from bench.data import chat_jsonl

    path = chat_jsonl(size)
    return _with_inner("validate", [sys.executable, "-m", "studio.cli", "validate", str(path), "--json"], path)


def estimate_process(size: str) -> dict:
    """``studio estimate FILE --model gpt-4o-mini --json``: billed tokens and dollars, whole process."""
    from bench.data import chat_jsonl

    path = chat_jsonl(size)
    command = [sys.executable, "-m", "studio.cli", "estimate", str(path), "--model", MODEL, "--json"]
    return _with_inner("estimate", command, path)


def analyze_process(size: str) -> dict:
    """``studio analyze FILE --rules ... --json``: load + the quality rules, whole process."""
    from bench.data import chat_jsonl

    path = chat_jsonl(size)
    rules = subprocess.run([sys.executable, "-c", _GRID_RULES], cwd=ROOT, check=True, capture_output=True, text=True)
    keys = rules.stdout.strip()
    command = [sys.executable, "-m", "studio.cli", "analyze", str(path), "--rules", keys, "--json"]
    return {**_with_inner("analyze", command, path, rules=keys), "rules": keys}


def cookbook_process(size: str) -> dict:
    """The OpenAI cookbook's notebook code (``bench.tasks.tokens_baseline``: per-line ``json.loads``, its format
    checks, tiktoken per message) as its own process, timed from outside like ours."""
    command = [
        sys.executable,
        "-c",
        "import json, sys; from bench.tasks import tokens_baseline; print(json.dumps(tokens_baseline(sys.argv[1])))",
        size,
    ]
    figures = _whole_process(command)
    inner = json.loads(figures.pop("output"))
    return {**figures, "inner_step_s": inner["wall_s"], "rows": inner["rows"], "total_tokens": inner["total_tokens"]}
