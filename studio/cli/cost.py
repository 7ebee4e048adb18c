"""``studio validate`` and ``studio estimate``: format checks, exact token counts and training cost."""

from __future__ import annotations

import argparse
import json

# Literal copies of studio.cost.bpe.ENCODINGS / studio.cost.tokens.COUNTING_MODES, so `studio --help` needs no
# numpy or tiktoken.
ENCODINGS = ("o200k_base", "cl100k_base")
COUNTING_MODES = ("exact", "cookbook")


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser("validate", help="check a JSONL training file against OpenAI's chat format")
    validate.add_argument("path")
    validate.add_argument("--model", help="also flag examples over this model's per-example token limit")
    validate.add_argument("--json", action="store_true", help="print one JSON object")
    validate.add_argument("--details", action="store_true", help="list every finding (text output)")
    validate.set_defaults(func=_validate)

    estimate = subparsers.add_parser("estimate", help="billed training tokens and dollars for a JSONL file")
    estimate.add_argument("path")
    estimate.add_argument("--model", required=True, help="e.g. gpt-4o-mini, gpt-4.1, or 'local' for the engine")
    estimate.add_argument("--epochs", default="auto", type=_epochs, help="a whole number, or 'auto' (default)")
    estimate.add_argument("--encoding", choices=ENCODINGS, help="default: the model's own")
    estimate.add_argument(
        "--counting",
        choices=COUNTING_MODES,
        default="exact",
        help="exact (OpenAI's chat overheads) or cookbook (the fine-tuning data-prep notebook)",
    )
    estimate.add_argument("--prices", help="TOML price table overriding the bundled one (default $STUDIO_PRICES)")
    estimate.add_argument("--json", action="store_true", help="print one JSON object")
    estimate.set_defaults(func=_estimate)


def _epochs(value: str) -> int | str:
    if value == "auto":
        return value
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number or 'auto', got {value!r}") from None
    if not 1 <= number <= 50:
        raise argparse.ArgumentTypeError(f"epochs must be between 1 and 50, got {number}")
    return number


def _validate(args: argparse.Namespace) -> int:
    from studio.cost.validation import validate_file

    report = validate_file(args.path, model=args.model)
    if args.json:
        print(json.dumps(report.summary(), ensure_ascii=False))
        return 0 if report.ok else 1
    verdict = "ok" if report.ok else "has errors"
    print(f"{args.path}: {report.rows} examples, {verdict}")
    for label, counts in (("error", report.errors), ("warning", report.warnings), ("advice", report.advice)):
        for key, count in counts.items():
            print(f"  {label}: {key} × {count}")
    if args.details:
        import pandas as pd

        for row in report.findings.itertuples(index=False):
            where = "file" if pd.isna(row.row) else f"line {row.row}"
            print(f"  {where}: [{row.key}] {row.message}")
    return 0 if report.ok else 1


def _estimate(args: argparse.Namespace) -> int:
    from studio.cost.estimate import estimate_cost, format_duration
    from studio.cost.prices import load_prices
    from studio.cost.validation import validate_file

    prices = load_prices(args.prices)
    prices.prices_for(args.model)  # an unknown model fails before the file is read
    report = validate_file(args.path, model=args.model, encoding=args.encoding, mode=args.counting, prices=prices)
    estimate = estimate_cost(report.tokens, model=args.model, epochs=args.epochs, prices=prices)
    if args.json:
        out = {
            "rows": estimate.rows,
            "billed_tokens": estimate.billed_tokens,
            "epochs": estimate.epochs,
            "usd": round(estimate.usd, 4),
            "over_limit": estimate.over_limit,
        }
        if estimate.training_seconds is not None:
            out["training_seconds"] = round(estimate.training_seconds, 1)
        print(json.dumps(out))
        return 0
    how = "auto, a heuristic" if estimate.epochs_auto else "set"
    print(f"{args.path}: {estimate.rows} examples, {report.encoding} ({report.mode} counting)")
    print(f"  epochs: {estimate.epochs} ({how})")
    print(f"  billed training tokens: {estimate.billed_tokens:,}")
    if estimate.training_seconds is not None:  # set for the local engine only
        print(f"  cost: $0 on the local engine, about {format_duration(estimate.training_seconds)} of training")
    else:
        print(
            f"  cost: ${estimate.usd:,.2f} at ${estimate.price_per_million:g} per 1M tokens "
            f"(prices as of {prices.as_of}, {prices.source})"
        )
    if estimate.limit is None and not estimate.local:
        print(f"  per-example limit for {args.model}: not published")
    elif estimate.over_limit:
        print(f"  {estimate.over_limit} examples exceed {estimate.limit:,} tokens and are truncated")
    if not report.ok:
        print(f"  warning: the file has format errors ({', '.join(report.errors)}); run `studio validate`")
    return 0
