"""``studio validate``, ``studio estimate`` and ``studio breakeven``: format checks, exact token counts, training
cost, and when fine-tuning pays for itself.

``validate`` and ``estimate`` read any file through the one loader (:func:`studio.cost.sources.check_source`): an
OpenAI chat JSONL file the fast way, anything else converted to OpenAI chat first, with the same counts either way.
Findings name the source line/row and the example id: ``line 7 (id 6)``.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from studio.cli.common import add_load_args, count, finding_lines, load_options, say, warn

# Literal copies of studio.cost.bpe.ENCODINGS / studio.cost.tokens.COUNTING_MODES, so `studio --help` needs no
# numpy or tiktoken.
ENCODINGS = ("o200k_base", "cl100k_base")
COUNTING_MODES = ("exact", "cookbook")


def register(subparsers: argparse._SubParsersAction) -> None:
    validate = subparsers.add_parser("validate", help="check a training file against OpenAI's chat format")
    validate.add_argument("path", help="dataset file (any format `studio inspect` reads)")
    validate.add_argument("--model", help="also flag examples over this model's per-example token limit")
    add_load_args(validate)
    validate.add_argument("--json", action="store_true", help="print one JSON object")
    validate.add_argument("--details", action="store_true", help="list every finding (in --json: a findings list)")
    validate.set_defaults(func=_validate)

    estimate = subparsers.add_parser("estimate", help="billed training tokens and dollars for a training file")
    estimate.add_argument("path", help="dataset file (any format `studio inspect` reads)")
    estimate.add_argument("--model", required=True, help="e.g. gpt-4o-mini, gpt-4.1, or 'local' for the engine")
    estimate.add_argument("--epochs", default="auto", type=_epochs, help="a whole number, or 'auto' (default)")
    estimate.add_argument("--tokenizer", choices=ENCODINGS, help="tiktoken encoding (default: the model's own)")
    estimate.add_argument(
        "--counting",
        choices=COUNTING_MODES,
        default="exact",
        help="exact (OpenAI's chat overheads) or cookbook (the fine-tuning data-prep notebook)",
    )
    estimate.add_argument("--prices", help="TOML price table overriding the bundled one (default $STUDIO_PRICES)")
    add_load_args(estimate)
    estimate.add_argument("--json", action="store_true", help="print one JSON object")
    estimate.set_defaults(func=_estimate)

    breakeven = subparsers.add_parser(
        "breakeven", help="when a fine-tune costs less than sending a long prompt with every request"
    )
    breakeven.add_argument("--model", required=True, help="the model to fine-tune, e.g. gpt-4o-mini")
    cost_from = breakeven.add_mutually_exclusive_group(required=True)
    cost_from.add_argument("--training-usd", type=float, help="what the fine-tune costs, in dollars")
    cost_from.add_argument("--data", help="training file: its cost is estimated as `studio estimate` does")
    breakeven.add_argument("--epochs", default="auto", type=_epochs, help="with --data: a whole number, or 'auto'")
    breakeven.add_argument("--prompt-tokens", type=int, required=True, help="the base model's long prompt, per request")
    breakeven.add_argument("--tuned-prompt-tokens", type=int, default=0, help="the fine-tuned model's prompt")
    breakeven.add_argument("--answer-tokens", type=int, default=0, help="answer tokens per request")
    breakeven.add_argument("--requests-per-month", type=int, required=True)
    breakeven.add_argument("--cached-fraction", type=float, default=0.0, help="share of prompts billed as cached")
    breakeven.add_argument("--months", type=int, default=24, help="months to compare (default 24)")
    breakeven.add_argument("--prices", help="TOML price table overriding the bundled one (default $STUDIO_PRICES)")
    add_load_args(breakeven)
    breakeven.add_argument("--json", action="store_true", help="print one JSON object")
    breakeven.set_defaults(func=_breakeven)


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


def _tokenizer(args: argparse.Namespace) -> str | None:
    """``--tokenizer``; ``--encoding o200k_base`` (its old name) still works, with a note."""
    if args.text_encoding in ENCODINGS:
        print(f"note: --encoding {args.text_encoding} is now --tokenizer {args.text_encoding}", file=sys.stderr)
        tokenizer, args.text_encoding = args.text_encoding, None
        return tokenizer
    return getattr(args, "tokenizer", None)


def _check(args: argparse.Namespace, **options: Any) -> Any:
    from studio.cost.sources import check_source

    loading = load_options(args)
    source = check_source(
        args.path, schema=loading["schema"], mapping=loading["mapping"], text_encoding=loading["encoding"], **options
    )
    if not args.json:
        warn(source.warnings)
    return source


def _validate(args: argparse.Namespace) -> int:
    from studio.cost.sources import where

    source = _check(args, model=args.model)
    report = source.report
    if args.json:
        out = source.summary()
        if args.details:
            out["findings"] = source.findings()
        print(json.dumps(out, ensure_ascii=False))
        return 0 if report.ok else 1
    verdict = say("valid") if report.ok else say("invalid")
    print(f"{args.path}: {count('examples', report.rows)}, {source.format}, {verdict}")
    for label, text in finding_lines(report, source.unit):
        print(f"  {label}: {text}")
    if args.details:
        for finding in source.findings():
            print(f"  {where(finding['row'], finding['id'], finding['unit'])}: [{finding['key']}] {finding['message']}")
    return 0 if report.ok else 1


def _estimate(args: argparse.Namespace) -> int:
    from studio.cost.estimate import estimate_cost, format_duration
    from studio.cost.prices import load_prices

    tokenizer = _tokenizer(args)
    prices = load_prices(args.prices)
    prices.prices_for(args.model)  # an unknown model fails before the file is read
    source = _check(args, model=args.model, encoding=tokenizer, mode=args.counting, prices=prices)
    report = source.report
    estimate = estimate_cost(report.tokens, model=args.model, epochs=args.epochs, prices=prices)
    if args.json:
        out: dict[str, Any] = {
            "rows": estimate.rows,
            "billed_tokens": estimate.billed_tokens,
            "epochs": estimate.epochs,
            "usd": round(estimate.usd, 4),
            "over_limit": estimate.over_limit,
        }
        if estimate.training_seconds is not None:
            out["training_seconds"] = round(estimate.training_seconds, 1)
        out.update(format=source.format, encoding=source.encoding, load_warnings=list(source.warnings))
        print(json.dumps(out, ensure_ascii=False))
        return 0
    how = "auto, a heuristic" if estimate.epochs_auto else "set"
    print(
        f"{args.path}: {count('examples', estimate.rows)}, {source.format}, {report.encoding} ({report.mode} counting)"
    )
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
        print(f"  {count('over_limit', estimate.over_limit, limit=f'{estimate.limit:,}')}")
    if not report.ok:
        print(f"  warning: the file has format errors ({', '.join(report.errors)}); run `studio validate`")
    return 0


def _breakeven(args: argparse.Namespace) -> int:
    from studio.cost.estimate import break_even, estimate_cost
    from studio.cost.prices import load_prices
    from studio.errors import StudioError

    prices = load_prices(args.prices)
    prices.prices_for(args.model)
    training_usd = args.training_usd
    if args.data is not None:
        args.path = args.data
        source = _check(args, model=args.model, prices=prices)
        training_usd = estimate_cost(source.report.tokens, model=args.model, epochs=args.epochs, prices=prices).usd
    try:
        result = break_even(
            model=args.model,
            base_prompt_tokens=args.prompt_tokens,
            tuned_prompt_tokens=args.tuned_prompt_tokens,
            answer_tokens=args.answer_tokens,
            requests_per_month=args.requests_per_month,
            training_usd=training_usd,
            cached_fraction=args.cached_fraction,
            months=args.months,
            prices=prices,
        )
    except ValueError as exc:
        raise StudioError(str(exc)) from None
    out = {
        "model": result.model,
        "training_usd": round(result.training_usd, 4),
        "base_monthly_usd": round(result.base_monthly_usd, 4),
        "tuned_monthly_usd": round(result.tuned_monthly_usd, 4),
        "monthly_saving_usd": round(result.monthly_saving_usd, 4),
        "payback_month": result.payback_month,
    }
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{args.model}: fine-tuning costs ${result.training_usd:,.2f} once")
    print(f"  long prompt on the base model: ${result.base_monthly_usd:,.2f} a month")
    print(f"  short prompt on the fine-tune: ${result.tuned_monthly_usd:,.2f} a month")
    if result.payback_month is None:
        print("  the fine-tune never pays back: it costs more per request")
    else:
        print(f"  pays back in month {result.payback_month} (saves ${result.monthly_saving_usd:,.2f} a month)")
    return 0
