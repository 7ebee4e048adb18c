"""bench/RESULTS.md and bench/results.json: the figures, the machine, the versions and the command."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
from pathlib import Path
from typing import Any

from bench.cases import CASES

# Figures that the details line shows when a task reported them (the rest stay in results.json).
_DETAILS = (
    "rows",
    "matched",
    "cold_s",
    "flagged",
    "clustered",
    "total_tokens",
    "findings",
    "too_long",
    "encoding_build_s",
    "columns",
    "warm_render_s",
    "edit_max_s",
    "regex_minus_debounce_s",
    "regex_grid_s",
    "regex_rows_shown",
    "regex_first_s",
    "regex_max_s",
    "first_render_cpu_s",
    "edit_cpu_s",
    "regex_cpu_s",
    "first_render_server_cpu_s",
    "edit_server_cpu_s",
    "regex_server_cpu_s",
    "load_before",
    "load_after",
    "turns_per_example",
    "server_peak_rss_mb",
    "js_heap_mb",
    "import_s",
    "inner_step_s",
    "inner_cpu_s",
    "tree_peak_mb",
    "time_max_rss_mb",
    "exit_code",
    "same_as_inner_step",
    "billed_tokens",
    "usd",
    "errors",
    "warnings",
    "precision",
    "threads",
    "steps_timed",
    "dtype",
    "prompt_tokens",
    "again_s",
    "merged_s",
    "first_in_process_s",
    "preload_s",
    "kl_vs_fp32",
    "requests",
    "answered",
    "peak_in_flight",
    "extrapolated_from",
    "lost_rows",
    "duplicate_charges",
    "injected_faults",
    "retries",
    "rerun_requests",
    "charged",
    "processes",
    "heavy_modules",
    "watcher",
    "cpu_pct_by_page",
    "streams",
    "first_token_max_s",
    "first_run_s",
)


def machine() -> dict[str, Any]:
    cpu, mem_kb = "unknown", 0
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        cpu = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        flags = next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), [])
        # The vector units decide the engine's speed (int8 decoding, bf16): name the ones this CPU has.
        units = [u for u in ("avx2", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "amx_bf16") if u in flags]
        cpu = f"{cpu} ({', '.join(units) or 'no AVX2'})"
        mem_kb = int(
            next(
                line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")
            ).split()[1]
        )
    except (OSError, StopIteration, ValueError):
        pass
    return {
        "cores": os.cpu_count(),
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "cpu": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def load_average() -> list[float]:
    """1, 5 and 15 minute load averages (the machine's other work during the run)."""
    try:
        return [float(v) for v in Path("/proc/loadavg").read_text().split()[:3]]
    except (OSError, ValueError):
        return []


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in (
        "fine-tuning-studio",
        "pandas",
        "pyarrow",
        "numpy",
        "orjson",
        "tiktoken",
        "google-re2",
        "rapidfuzz",
        "datasketch",
        "streamlit",
        "streamlit-aggrid",
        "playwright",
        "openai",
        "torch",
        "transformers",
        "peft",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[name] = version(name)
    return out


def _seconds(value: float) -> str:
    return f"{value * 1000:.0f} ms" if value < 1 else f"{value:.2f} s" if value < 100 else f"{value:.0f} s"


def _value(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    return _seconds(value) if unit == "s" else f"{value:.1f} {unit}"


def _detail(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def merge(rows: list[dict], path: Path) -> list[dict]:
    """``rows`` plus the rows of an earlier results.json that this run did not measure, in case order (a row
    at a smoke size sits where its case does)."""
    previous = json.loads(path.read_text()).get("results", []) if path.exists() else []
    key = lambda r: (r["group"], r["measurement"], r["size"])  # noqa: E731
    fresh = {key(r) for r in rows}
    keys, names = [c.key for c in CASES], [(c.group, c.name) for c in CASES]

    def position(row: dict) -> tuple[int, int]:
        if key(row) in keys:
            return keys.index(key(row)), 0
        name = (row["group"], row["measurement"])
        return (names.index(name) if name in names else len(names)), 1

    return sorted([r for r in previous if key(r) not in fresh] + rows, key=position)


def write(rows: list[dict], out: Path, command: str) -> dict:
    """Merge ``rows`` into ``out``/results.json and redraw ``out``/RESULTS.md; returns the JSON document."""
    out.mkdir(parents=True, exist_ok=True)
    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": machine(),
        "versions": versions(),
    }
    for row in rows:
        row["date"], row["command"] = info["date"], command
    rows = merge(rows, out / "results.json")
    document = {**info, "results": rows}
    (out / "results.json").write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    (out / "RESULTS.md").write_text(markdown(document))
    return document


def markdown(document: dict) -> str:
    info, rows = document, document["results"]
    m = info["machine"]
    lines = [
        "# Benchmark results",
        "",
        "Benchmarks report; they never assert and never run in CI's pass/fail path. `make bench` (or "
        "`python -m bench`) regenerates this file and results.json; `make bench ONLY=tokens` runs one group, "
        "`python -m bench --skip-slow` leaves out the 1M and engine cases.",
        "",
        f"- Machine: {m['cores']} cores, {m['ram_gb']} GB RAM, {m['cpu']}; Python {m['python']}; {m['platform']}",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()),
        "- Runs that produced the rows below (UTC date · exact command · 1-minute load average at the start "
        "of each case, from /proc/loadavg):",
    ]
    runs: dict[tuple[str, str], list[float]] = {}
    for row in rows:
        loads = runs.setdefault((row["date"], row["command"]), [])
        loads += (row.get("load_average") or [])[:1]
    for (date, command), loads in sorted(runs.items()):
        load_text = f"load {min(loads):.1f}–{max(loads):.1f}" if loads else "load unknown"
        lines.append(f"  - {date} · `{command}` · {load_text}")
    lines += [
        "",
        "Times are medians over fresh-process runs of the measured step only (setup such as reading the "
        "input is outside the timer); CPU is that step's, worker processes included (for the grid: the whole "
        "session's, Streamlit and Chromium included); peak RSS is the larger of the biggest process's and the "
        "sampled sum over the whole process tree (workers, Streamlit, Chromium, test server). **ratio** is "
        "defined per row (speed-up = baseline time ÷ ours).",
        "",
        "| group | measurement | size | ours (CPU · peak RSS) | baseline | ratio | goal | met? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        if row.get("error"):
            lines.append(
                f"| {row['group']} | {row['measurement']} | {row['size']} | error: {row['error']} "
                f"| — | — | {row['goal']} | not run |"
            )
            continue
        ours, base, unit = row["ours"], row["baseline"], row["unit"]
        ours_text = f"**{_value(row['value'], unit)}** ({_seconds(ours['cpu_s'])} · {ours['peak_rss_mb']:.0f} MB)"
        base_text = (
            "—"
            if base is None
            else (f"{_value(row['baseline_value'], unit)} ({_seconds(base['cpu_s'])} · {base['peak_rss_mb']:.0f} MB)")
        )
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}× {row['ratio_name']}"
        met = {True: "yes", False: "**NO**", None: "—"}[row["met"]]
        lines.append(
            f"| {row['group']} | {row['measurement']} | {row['size']} | {ours_text} | {base_text} | "
            f"{ratio} | {row['goal']} | {met} |"
        )
    lines += ["", "## Details", ""]
    previous = None
    for row in rows:
        if row.get("error"):
            continue
        same = row.get("task") is not None and (row.get("task"), row["date"]) == previous
        previous = (row.get("task"), row["date"])
        figures = (
            ["same runs as the row above"]
            if same
            else [f"{k}={_detail(row['ours'][k])}" for k in _DETAILS if k in row["ours"]]
        )
        text = f"- **{row['group']} · {row['measurement']} · {row['size']}** ({row['ours']['runs']} run(s)"
        text += f", {row['date']}): " + ", ".join(figures)
        if row["baseline"] is not None:
            base_figures = [f"{k}={_detail(row['baseline'][k])}" for k in _DETAILS if k in row["baseline"]]
            text += f". Baseline: {row['baseline_name']}"
            text += f" ({', '.join(base_figures)})" if base_figures else ""
        text += "." + "".join(f" {note}" for note in row.get("notes", ()))
        lines.append(text)
    return "\n".join(lines) + "\n"
