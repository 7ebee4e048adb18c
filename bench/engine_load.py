"""The local engine under load and at rest: a whole ``studio compare`` against it, and its CPU when idle.

Both start a real ``studio engine --preload <default model>`` process on a free port
(:func:`bench.engine.engine_process`; the default model must be pulled: ``studio engine pull``; nothing is
downloaded).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.engine import engine_process
from bench.questions import QUESTIONS


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of ``pid`` so far (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def compare_ours(prompts: str = "12") -> dict:
    """``studio compare`` in a fresh process, 2 targets × ``prompts`` against the engine, every default
    (concurrency 8, 512 max tokens, 60 s timeout, 5 attempts): wall time, errors, attempts and the engine's count
    of generations started (equal to the answers when no request was decoded twice)."""
    import httpx

    from studio.engine.models import DEFAULT_MODEL

    n = int(prompts)
    folder = Path(tempfile.mkdtemp(prefix="bench-compare-"))
    data = folder / "test.jsonl"
    with data.open("w") as handle:
        for question in (QUESTIONS * (n // len(QUESTIONS) + 1))[:n]:
            handle.write(json.dumps({"messages": [{"role": "user", "content": question}]}) + "\n")
    with engine_process() as (url, _, _):
        env = {**os.environ, "STUDIO_WORKSPACE": str(folder / "studio.db")}
        command = [sys.executable, "-m", "studio.cli", "compare", "--data", str(data), "-o", str(folder / "out.jsonl")]
        command += ["--target", f"base=local:{DEFAULT_MODEL}@{url}", "--target", f"again=local:{DEFAULT_MODEL}@{url}"]
        began = time.perf_counter()
        done = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, timeout=1800)
        wall = time.perf_counter() - began
        chat = httpx.get(url.removesuffix("/v1") + "/health", timeout=5).json()["chat"]
    if done.returncode not in (0, 1):
        raise RuntimeError(f"studio compare failed ({done.returncode}): {done.stderr[-2000:]}")
    rows = [json.loads(line) for line in (folder / "out.jsonl").read_text().splitlines() if line.strip()]
    errors = [r["error"] for r in rows if r.get("error")]
    return {
        "wall_s": wall,
        "answers": len(rows),
        "errors": len(errors),
        "first_errors": errors[:3],
        "attempts": sum(int(r.get("attempts") or 0) for r in rows),
        "generations_started": chat["started"],
        "retries_attached": chat["attached"],
        "tokens_out": sum(int(r.get("tokens_out") or 0) for r in rows),
        "latency_max_s": max((float(r["latency_s"]) for r in rows if r.get("latency_s") is not None), default=None),
    }


def idle_cpu_ours(seconds: str = "60") -> dict:
    """The engine process's CPU while idle for ``seconds``, after it has answered one request (so its decode
    loop has run): ``cpu_pct`` in % of one core (CPU s ÷ wall s × 100)."""
    import openai

    from studio.engine.models import DEFAULT_MODEL

    with engine_process() as (url, _, server):
        client = openai.OpenAI(base_url=url, api_key="local")
        client.chat.completions.create(
            model=DEFAULT_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=16, temperature=0
        )
        time.sleep(3)
        began_cpu, began = _cpu_s(server.pid), time.perf_counter()
        time.sleep(float(seconds))
        cpu = _cpu_s(server.pid) - began_cpu
        wall = time.perf_counter() - began
    return {"wall_s": wall, "cpu_s": cpu, "cpu_pct": round(100 * cpu / wall, 3), "window_s": float(seconds)}
