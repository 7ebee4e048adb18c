"""``python -m bench [--only GROUP,...] [--skip-slow] [--repeat N]``: measure and write bench/RESULTS.md + results.json.

Benchmarks report; they never assert. Each measurement runs in a fresh process (median of ``--repeat`` runs;
peak RSS is the max over runs). Where a baseline exists it runs in the same invocation, so ratios compare like
with like on the same machine.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import sys
from dataclasses import dataclass
from pathlib import Path

from bench.harness import Sample, measure

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    group: str
    name: str
    size: str
    ours: str
    baseline: str | None
    goal: str
    check: str  # Python expression over w (ours wall s), m (ours peak MB), r (baseline/ours speed-up)
    slow: bool = False


CASES = [
    Case("load", "load + canonicalise chat JSONL", "1M", "bench.tasks:load_ours", "bench.tasks:load_baseline",
         "report", "True", slow=True),
    Case("load", "load + canonicalise chat JSONL", "100k", "bench.tasks:load_ours", "bench.tasks:load_baseline",
         "report", "True"),
    Case("rules", "all rules except near_duplicate", "1M", "bench.tasks:rules_ours", None, "≤ 60 s, ≤ 3 GB",
         "w <= 60 and m <= 3072", slow=True),
    Case("rules", "all rules except near_duplicate", "100k", "bench.tasks:rules_ours", None, "report", "True"),
    Case("rules", "near_duplicate clusters", "100k", "bench.tasks:near_ours", None, "≤ 30 s", "w <= 30"),
    Case("regex", "regex filter over the text fields", "100k", "bench.tasks:regex_ours",
         "bench.tasks:regex_baseline", "≤ 100 ms", "w <= 0.1"),
]


def machine() -> dict:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        mem_kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines()
                          if l.startswith("MemTotal")).split()[1])
    except (OSError, StopIteration, ValueError):
        mem_kb = 0
    return {"cores": os.cpu_count(), "ram_gb": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "python": platform.python_version(), "platform": platform.platform()}


def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for name in ("pandas", "pyarrow", "tiktoken", "orjson", "google-re2", "datasketch", "rapidfuzz", "torch",
                 "transformers", "peft", "streamlit", "streamlit-aggrid"):
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            pass
    return out


def run(cases: list[Case], repeat: int) -> list[dict]:
    rows = []
    for case in cases:
        print(f"[bench] {case.group}: {case.name} ({case.size})", flush=True)
        ours = measure(case.ours, case.size, repeat=repeat)
        base: Sample | None = measure(case.baseline, case.size, repeat=repeat) if case.baseline else None
        ratio = (base.wall_s / ours.wall_s) if base and ours.wall_s > 0 else None
        met = bool(eval(case.check, {}, {"w": ours.wall_s, "m": ours.peak_rss_mb, "r": ratio or 0}))
        rows.append({"group": case.group, "measurement": case.name, "size": case.size,
                     "ours": {"wall_s": ours.wall_s, "cpu_s": ours.cpu_s, "peak_rss_mb": ours.peak_rss_mb,
                              **ours.extra},
                     "baseline": None if base is None else {"wall_s": base.wall_s, "cpu_s": base.cpu_s,
                                                            "peak_rss_mb": base.peak_rss_mb, **base.extra},
                     "speedup_vs_baseline": ratio, "goal": case.goal, "met": met})
    return rows


def write(rows: list[dict], command: str) -> None:
    """Merge ``rows`` into results.json (a partial run keeps the other groups' figures) and redraw RESULTS.md."""
    info = {"date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "command": command,
            "machine": machine(), "versions": versions()}
    for row in rows:
        row["date"], row["command"] = info["date"], command
    path = HERE / "results.json"
    previous = json.loads(path.read_text())["results"] if path.exists() else []
    key = lambda r: (r["group"], r["measurement"], r["size"])  # noqa: E731
    fresh = {key(r) for r in rows}
    order = [key(c.__dict__ | {"measurement": c.name}) for c in CASES]
    rows = sorted([r for r in previous if key(r) not in fresh] + rows,
                  key=lambda r: order.index(key(r)) if key(r) in order else len(order))
    path.write_text(json.dumps({**info, "results": rows}, indent=2) + "\n")
    lines = ["# Benchmark results", "",
             f"- Date: {info['date']}", f"- Command: `{command}`",
             f"- Machine: {info['machine']['cores']} cores, {info['machine']['ram_gb']} GB RAM, "
             f"{info['machine']['cpu']}; Python {info['machine']['python']}",
             "- Versions: " + ", ".join(f"{k} {v}" for k, v in info["versions"].items()), "",
             "Wall time is the median of fresh-process runs of the measured step; peak RSS is the whole process's.",
             "Each row was measured by the command and on the date in results.json (latest run shown above).",
             "", "| group | measurement | size | ours (wall / CPU / peak RSS) | baseline | speed-up | goal | met? |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        ours, base = row["ours"], row["baseline"]
        base_text = "—" if base is None else f"{base['wall_s']:.3f} s / {base['peak_rss_mb']:.0f} MB"
        ratio = "—" if row["speedup_vs_baseline"] is None else f"{row['speedup_vs_baseline']:.1f}×"
        lines.append(f"| {row['group']} | {row['measurement']} | {row['size']} | {ours['wall_s']:.3f} s / "
                     f"{ours['cpu_s']:.1f} s / {ours['peak_rss_mb']:.0f} MB | {base_text} | {ratio} | {row['goal']} | "
                     f"{'yes' if row['met'] else 'NO'} |")
    (HERE / "RESULTS.md").write_text("\n".join(lines) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", help="comma-separated groups: " + ", ".join(sorted({c.group for c in CASES})))
    parser.add_argument("--skip-slow", action="store_true", help="skip the 1M and engine measurements")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    groups = set(args.only.split(",")) if args.only else None
    cases = [c for c in CASES if (groups is None or c.group in groups) and not (args.skip_slow and c.slow)]
    rows = run(cases, args.repeat)
    write(rows, "python -m bench " + " ".join(argv if argv is not None else sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
