"""``python -m bench [--only GROUP,...] [--skip-slow] [--repeat N] [--size 1k] [--out DIR]``.

Measures every case of :mod:`bench.cases` and writes RESULTS.md + results.json (default: bench/). Benchmarks
report; they never assert. Each measurement runs in fresh processes (median of ``--repeat`` runs; peak RSS is
the max over runs). Where a baseline exists it runs in the same invocation, so ratios compare like with like.
A partial run (``--only``) keeps the other rows of an earlier results.json.

``--size`` runs the data cases on that many examples and the others on their quick variant: a smoke test of
the machinery, written under bench/.cache/quick/ unless ``--out`` says where.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from bench.cases import CASES, GROUPS, Case
from bench.data import SIZES, chat_jsonl, multi_turn_jsonl
from bench.harness import Measured, measure
from bench.report import load_average, write

HERE = Path(__file__).resolve().parent


def _evaluate(expression: str | None, names: dict[str, Any]) -> Any:
    if expression is None:
        return None
    try:
        return eval(expression, {"__builtins__": {}}, names)  # expressions come from bench/cases.py only
    except (KeyError, TypeError, ZeroDivisionError):
        return None


def _row(case: Case, ours: Measured, base: Measured | None, loads: list[float]) -> dict[str, Any]:
    w = ours.figure(case.metric)
    bw = base.figure(case.baseline_metric or case.metric) if base else None
    names = {
        "w": w,
        "c": ours.cpu_s,
        "m": ours.peak_rss_mb,
        "x": ours.extra,
        "bw": bw,
        "bc": base.cpu_s if base else None,
        "bm": base.peak_rss_mb if base else None,
        "bx": base.extra if base else None,
    }
    ratio = _evaluate(case.ratio, names) if base else None
    met = _evaluate(case.check, {**names, "r": ratio})
    return {
        "group": case.group,
        "measurement": case.name,
        "size": case.size,
        "metric": case.metric,
        "unit": case.unit,
        "value": w,
        "baseline_value": bw,
        "ours": ours.as_dict(),
        "baseline": base.as_dict() if base else None,
        "baseline_name": case.baseline_name,
        "ratio": ratio,
        "ratio_name": case.ratio_name if case.ratio else None,
        "goal": case.goal,
        "check": case.check,
        "met": None if met is None and case.check is None else bool(met),
        "notes": list(case.notes),
        "load_average": loads,
        "task": " ".join((case.ours, *case.ours_args())),
    }


def run(cases: list[Case], repeat: int) -> list[dict[str, Any]]:
    """Measure ``cases``; cases that share a task and arguments share its runs (e.g. the grid's session)."""
    done: dict[tuple, Measured | Exception] = {}

    def once(target: str, args: tuple[str, ...], runs: int) -> Measured:
        key = (target, args, runs)
        if key not in done:
            print(f"[bench]   {target} {' '.join(args)} × {runs}", flush=True)
            try:
                done[key] = measure(target, *args, repeat=runs)
            except RuntimeError as exc:
                done[key] = exc
        result = done[key]
        if isinstance(result, Exception):
            raise result
        return result

    rows = []
    for case in cases:
        print(f"[bench] {case.group}: {case.name} ({case.size})", flush=True)
        loads = load_average()
        runs = case.runs or repeat
        if case.sized_by_data:  # build the dataset once, outside every measured process
            if case.data == "chat":
                chat_jsonl(case.size)
            else:
                multi_turn_jsonl(case.size, near_copies=case.data == "nearcopy")
        try:
            ours = once(case.ours, case.ours_args(), runs)
            base = once(case.baseline, case.base_args(), runs) if case.baseline else None
        except RuntimeError as exc:
            rows.append(
                {
                    "group": case.group,
                    "measurement": case.name,
                    "size": case.size,
                    "goal": case.goal,
                    "error": str(exc),
                    "met": None,
                    "load_average": loads,
                }
            )
            continue
        rows.append(_row(case, ours, base, loads))
    return rows


def _wanted(only: str | None) -> list[tuple[str, str | None]] | None:
    """``--only tokens,rules:1M`` → [("tokens", None), ("rules", "1M")]."""
    if not only:
        return None
    wanted = []
    for item in filter(None, (part.strip() for part in only.split(","))):
        group, _, size = item.partition(":")
        if group not in GROUPS:
            raise SystemExit(f"unknown group {group!r} in --only; groups are {', '.join(GROUPS)}")
        wanted.append((group, size or None))
    return wanted


def select(only: str | None, skip_slow: bool, size: str | None) -> list[Case]:
    wanted = _wanted(only)

    def chosen(case: Case) -> bool:
        return wanted is None or any(g == case.group and s in (None, case.size) for g, s in wanted)

    cases = [c for c in CASES if chosen(c) and not (skip_slow and c.slow)]
    if size is None:
        return cases
    resized, seen = [], set()
    for case in cases:
        small = case.resized(size)
        if small.key not in seen:  # 1M and 100k variants of a case become one
            seen.add(small.key)
            resized.append(small)
    return resized


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--only", help="comma-separated groups, optionally GROUP:SIZE (e.g. tokens:1M); groups: " + ", ".join(GROUPS)
    )
    parser.add_argument("--skip-slow", action="store_true", help="leave out the 1M and engine cases")
    parser.add_argument("--repeat", type=int, default=3, help="fresh-process runs per measurement (median)")
    parser.add_argument("--size", choices=list(SIZES), help="smoke run: data cases at this size, the others quick")
    parser.add_argument("--out", type=Path, help="folder for RESULTS.md and results.json (default: bench/)")
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error(f"--repeat must be at least 1, got {args.repeat}")
    out = args.out or (HERE / ".cache" / "quick" if args.size else HERE)
    cases = select(args.only, args.skip_slow, args.size)
    rows = run(cases, args.repeat)
    command = "python -m bench" + "".join(f" {shlex.quote(a)}" for a in argv)
    document = write(rows, out, command)
    failed = [r for r in rows if r.get("error")]
    print(
        f"[bench] wrote {out / 'RESULTS.md'} and results.json ({len(rows)} measured, {len(failed)} not "
        f"run; {len(document['results'])} rows in all)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
