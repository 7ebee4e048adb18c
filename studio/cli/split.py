"""``studio split`` (leakage-proof train/validation/test files) and ``studio leakage`` (check splits made anywhere)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.cli.common import add_load_args, count, load, warn_unwritten
from studio.errors import StudioError

if TYPE_CHECKING:
    import pandas as pd


def register(subparsers: argparse._SubParsersAction) -> None:
    split = subparsers.add_parser(
        "split", help="write train/validation/test files that share no example, prompt or near-copy"
    )
    split.add_argument("path", help="dataset file (any format `studio inspect` reads)")
    split.add_argument("--ratios", default="0.8,0.1,0.1", help="train,validation,test shares (default 0.8,0.1,0.1)")
    split.add_argument("--seed", type=int, default=42)
    split.add_argument(
        "--near-threshold",
        type=float,
        default=0.8,
        help="near-duplicate similarity in (0, 1] kept together (default 0.8)",
    )
    split.add_argument("-o", "--output", required=True, help="folder for train.jsonl, validation.jsonl, test.jsonl")
    add_load_args(split)
    split.add_argument("--json", action="store_true", help="print one JSON object")
    split.set_defaults(func=_split)

    leakage = subparsers.add_parser(
        "leakage",
        help="what appears in two splits: exact and normalized copies, "
        "repeated prompts, near-duplicates (exit 1 when any)",
    )
    leakage.add_argument(
        "paths", nargs="+", metavar="SPLIT", help="two or more split files, e.g. train.jsonl test.jsonl"
    )
    leakage.add_argument("--near-threshold", type=float, default=0.8, help="near-duplicate similarity (default 0.8)")
    add_load_args(leakage)
    leakage.add_argument("--json", action="store_true", help="print one JSON object")
    leakage.set_defaults(func=_leakage)


def _ratios(text: str) -> dict[str, float]:
    from studio.quality.splits import SPLITS

    try:
        values = [float(v) for v in text.split(",")]
    except ValueError:
        raise StudioError(f"--ratios takes numbers like 0.8,0.1,0.1, got {text!r}") from None
    if not 1 <= len(values) <= len(SPLITS):
        raise StudioError(f"--ratios takes one to three numbers (train,validation,test), got {text!r}")
    # One to three ratios: the splits left out get none (strict=False on purpose).
    return dict(zip(SPLITS, values, strict=False))


def _report_rows(report: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {
            **row,
            "examples": [list(p) for p in row["examples"]],
            "similarity": None if row["similarity"] != row["similarity"] else row["similarity"],
        }
        for row in report.to_dict("records")
    ]


def _print_report(report: pd.DataFrame, *, clean_line: str) -> None:
    if report.empty:
        print(clean_line)
        return
    for row in report.itertuples():
        pairs = ", ".join(f"{a}~{b}" for a, b in row.examples)
        similarity = f" (similarity ≥ {row.similarity:g})" if row.kind == "near_duplicate" else ""
        print(f"  {row.kind}{similarity}, {row.splits}: {count('rows', row.rows)}; e.g. {pairs}")


def _split(args: argparse.Namespace) -> int:
    from studio.core.files import atomic_write
    from studio.data.writers import export_bytes
    from studio.quality.splits import leakage_report, split_frame

    ratios = _ratios(args.ratios)
    try:
        frame = load(args, args.path).frame
        parts = split_frame(frame, ratios=ratios, seed=args.seed, near_threshold=args.near_threshold)
        report = leakage_report(parts, near_threshold=args.near_threshold)
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    folder = Path(args.output)
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, dict[str, Any]] = {}
    for name, part in parts.items():
        target = folder / f"{name}.jsonl"
        atomic_write(target, export_bytes(part, to="openai-chat"))
        warn_unwritten(part, target, "openai-chat")
        written[name] = {"path": str(target), "rows": len(part)}
    if args.json:
        print(json.dumps({"splits": written, "leaks": _report_rows(report)}, ensure_ascii=False))
        return 0
    for info in written.values():
        print(f"{info['path']}: {count('examples', info['rows'])}")
    _print_report(report, clean_line="nothing leaks across the splits")
    return 0


def _leakage(args: argparse.Namespace) -> int:
    from studio.quality.splits import leakage_report

    if len(args.paths) < 2:
        raise StudioError("give at least two split files, e.g. train.jsonl test.jsonl")
    splits = {}
    for path in args.paths:
        name = Path(path).stem
        while name in splits:
            name += "'"
        splits[name] = load(args, path).frame
    try:
        report = leakage_report(splits, near_threshold=args.near_threshold)
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    if args.json:
        print(
            json.dumps(
                {
                    "clean": bool(report.empty),
                    "splits": {k: len(v) for k, v in splits.items()},
                    "leaks": _report_rows(report),
                },
                ensure_ascii=False,
            )
        )
    else:
        _print_report(
            report,
            clean_line="nothing leaks: no exact or normalized copies, repeated prompts or "
            "near-duplicates across the splits",
        )
    return 0 if report.empty else 1
