"""``studio analyze`` (run the quality rules) and ``studio clean`` (apply a saved recipe headless)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from studio.errors import StudioError

EXAMPLE_IDS = 10  # ids listed per rule in `analyze --json`


def register(subparsers: argparse._SubParsersAction) -> None:
    analyze = subparsers.add_parser("analyze", help="count the rows each quality rule flags")
    analyze.add_argument("path", help="dataset file (any format `studio inspect` reads)")
    analyze.add_argument("--rules", help="comma-separated rule keys (default: all)")
    analyze.add_argument("--min-chars", type=int, help="too_short: minimum answer length (default 50)")
    analyze.add_argument("--near-threshold", type=float, help="near_duplicate: similarity in (0, 1] (default 0.8)")
    analyze.add_argument("--pattern", help="regex rule: an RE2 pattern to look for")
    analyze.add_argument("--json", action="store_true", help="print one JSON object")
    analyze.set_defaults(func=_analyze)

    clean = subparsers.add_parser("clean", help="apply a cleaning recipe and write the result")
    clean.add_argument("path", help="dataset file")
    clean.add_argument("--recipe", required=True, help="recipe JSON saved from the Clean page")
    clean.add_argument(
        "-o", "--output", required=True, help="output file; format from its extension (.jsonl: OpenAI chat)"
    )
    clean.set_defaults(func=_clean)


def _analyze(args: argparse.Namespace) -> int:
    from studio.data.loader import load_dataset
    from studio.quality.rules import RULES, analyze

    keys = [k.strip() for k in args.rules.split(",") if k.strip()] if args.rules else None
    for key in keys or ():
        if key not in RULES:
            raise StudioError(f"--rules: unknown rule {key!r}; rules are {', '.join(RULES.keys())}")
    params: dict[str, dict] = {}
    if args.min_chars is not None:
        params["too_short"] = {"min_chars": args.min_chars}
    if args.near_threshold is not None:
        params["near_duplicate"] = {"threshold": args.near_threshold}
    if args.pattern is not None:
        params["regex"] = {"pattern": args.pattern}
    result = load_dataset(args.path)
    frame = result.frame
    try:
        analysis = analyze(frame, rules=keys, params=params)
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    if args.json:
        ids = frame["id"].to_numpy()
        examples = {key: [int(i) for i in ids[analysis.flags[key].to_numpy()][:EXAMPLE_IDS]] for key in analysis.rules}
        out = {"rows": len(frame), "counts": analysis.counts, "examples": examples, "notes": dict(analysis.notes)}
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"{Path(args.path).name}: {len(frame)} rows")
    width = max(len(k) for k in analysis.rules) if analysis.rules else 0
    for key in analysis.rules:
        print(f"  {key:<{width}}  {analysis.counts[key]:>7}  {RULES[key].description_en}")
    for key, note in analysis.notes.items():
        print(f"note: {key}: {note}")
    return 0


def _clean(args: argparse.Namespace) -> int:
    from studio.data.loader import load_dataset
    from studio.data.writers import export_dataset
    from studio.editing.recipes import Recipe, apply_recipe

    recipe_path = Path(args.recipe)
    try:
        text = recipe_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudioError(f"{recipe_path}: cannot read the recipe ({exc.strerror})") from None
    recipe = Recipe.from_json(text)
    frame = load_dataset(args.path).frame
    print(f"{Path(args.path).name}: {len(frame)} rows, {len(recipe.ops)} steps")
    cleaned = apply_recipe(frame, recipe, on_step=lambda step: print(step.message))
    written = export_dataset(cleaned, args.output)
    print(f"wrote {len(cleaned)} rows to {written}")
    return 0
