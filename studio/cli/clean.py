"""``studio analyze`` (run the quality rules) and ``studio clean`` (apply a saved recipe headless)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli.common import add_load_args, count, load, load_options, warn, warn_unwritten
from studio.errors import StudioError

if TYPE_CHECKING:
    from studio.quality.streamed import FileAnalysis

EXAMPLE_IDS = 10  # ids listed per rule in `analyze --json`


def register(subparsers: argparse._SubParsersAction) -> None:
    analyze = subparsers.add_parser("analyze", help="count the rows each quality rule flags")
    analyze.add_argument("path", help="dataset file (any format `studio inspect` reads)")
    analyze.add_argument("--rules", help="comma-separated rule keys (default: all)")
    analyze.add_argument("--min-chars", type=int, help="too_short: minimum answer length (default 50)")
    analyze.add_argument("--near-threshold", type=float, help="near_duplicate: similarity in (0, 1] (default 0.8)")
    analyze.add_argument("--pattern", help="regex rule: an RE2 pattern to look for")
    add_load_args(analyze)
    analyze.add_argument("--json", action="store_true", help="print one JSON object")
    analyze.set_defaults(func=_analyze)

    clean = subparsers.add_parser("clean", help="apply a cleaning recipe and write the result")
    clean.add_argument("path", help="dataset file")
    clean.add_argument("--recipe", required=True, help="recipe JSON saved from the Clean page")
    clean.add_argument(
        "-o", "--output", required=True, help="output file; format from its extension (.jsonl: OpenAI chat)"
    )
    add_load_args(clean)
    clean.add_argument("--json", action="store_true", help="print one JSON object")
    clean.set_defaults(func=_clean)


def _analyze(args: argparse.Namespace) -> int:
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
    try:
        found = _streamed(args, keys, params)
        if found is not None:
            warn(found.warnings)
            analysis, total, rows, unit = found.analysis, found.rows, found.source_rows, found.unit
        else:
            result = load(args, args.path)
            analysis = analyze(result.frame, rules=keys, params=params)
            total, rows, unit = len(result.frame), result.frame["source_row"].to_numpy(), result.unit
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    if args.json:
        import numpy as np
        import pandas as pd

        ids = np.arange(total)  # every loader numbers examples 0, 1, 2… in file order
        listed = {key: ids[analysis.flags[key].to_numpy()][:EXAMPLE_IDS] for key in analysis.rules}
        issues = analysis.issues
        issues = issues[issues["id"].isin(np.concatenate([*listed.values(), ids[:0]]))]  # only the listed ones
        finding = {  # (rule, id) → the turn it is in (None: the whole example), that turn's role, the message
            (rule, int(i)): (None if pd.isna(turn) else int(turn), None if pd.isna(role) else role, message)
            for rule, i, turn, role, message in zip(
                issues["rule"], issues["id"], issues["turn"], issues["role"], issues["message"], strict=True
            )
        }
        examples, where = {}, {}
        for key in analysis.rules:
            examples[key] = [int(i) for i in listed[key]]
            where[key] = [  # the one scheme of every command: source line/row and example id, then the finding
                {"row": int(r), "unit": unit, "id": int(i)}
                | dict(zip(("turn", "role", "message"), finding.get((key, int(i)), (None, None, None)), strict=True))
                for r, i in zip(rows[analysis.flags[key].to_numpy()][:EXAMPLE_IDS], listed[key], strict=True)
            ]
        out = {
            "rows": total,
            "counts": analysis.counts,
            "examples": examples,
            "where": where,
            "notes": dict(analysis.notes),
        }
        print(json.dumps(out, ensure_ascii=False))
        return 0
    print(f"{Path(args.path).name}: {count('rows', total)}")
    width = max(len(k) for k in analysis.rules) if analysis.rules else 0
    for key in analysis.rules:
        print(f"  {key:<{width}}  {analysis.counts[key]:>7}  {RULES[key].description_en}")
    for key, note in analysis.notes.items():
        print(f"note: {key}: {note}")
    return 0


def _streamed(args: argparse.Namespace, keys: list[str] | None, params: dict) -> FileAnalysis | None:
    """The rules over the file read in parts on every core (:mod:`studio.quality.streamed`: the same findings in
    bounded memory), or None where it must be loaded whole (near-duplicates, a forced encoding, a file the parts
    would read differently)."""
    from studio.data.parts import NotStreamable
    from studio.quality.streamed import analyze_file

    options = load_options(args)
    if options["encoding"] is not None:
        return None
    try:
        return analyze_file(args.path, rules=keys, params=params, schema=options["schema"], mapping=options["mapping"])
    except NotStreamable:
        return None


def _clean(args: argparse.Namespace) -> int:
    from studio.data.writers import export_dataset
    from studio.editing.recipes import Recipe, StepReport, apply_recipe

    recipe_path = Path(args.recipe)
    try:
        text = recipe_path.read_text(encoding="utf-8")
    except OSError as exc:
        raise StudioError(f"{recipe_path}: cannot read the recipe ({exc.strerror})") from None
    recipe = Recipe.from_json(text)
    frame = load(args, args.path).frame
    steps: list[str] = []
    if not args.json:
        print(f"{Path(args.path).name}: {count('rows', len(frame))}, {count('steps', len(recipe.ops))}")

    def heard(step: StepReport) -> None:
        steps.append(step.message)
        if not args.json:
            print(step.message)

    cleaned = apply_recipe(frame, recipe, on_step=heard)
    written = export_dataset(cleaned, args.output)
    warn_unwritten(cleaned, written)
    if args.json:
        out = {"rows_in": len(frame), "rows_out": len(cleaned), "steps": steps, "path": str(written)}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"wrote {count('rows', len(cleaned))} to {written}")
    return 0
