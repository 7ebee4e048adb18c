"""``studio compare``: run 2-4 models over a test set, save every answer, print per-target aggregates."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from studio.cli.common import add_load_args, load

if TYPE_CHECKING:
    from studio.playground.runs import Progress

TARGET_HELP = """\
NAME=PROVIDER:MODEL[@URL], 2 to 4 times. PROVIDER is local, openai, azure or compatible; MODEL may contain
colons (ft:gpt-4o-mini-2024-07-18:org:suffix:id); @URL (http:// or https://) sets that target's endpoint,
else --base-url. Examples: base=openai:gpt-4o-mini  ft=openai:ft:gpt-4o-mini-2024-07-18:acme::abc123
local=local:HuggingFaceTB/SmolLM2-135M  llama=compatible:llama3@http://127.0.0.1:11434/v1
(azure: MODEL is the deployment name, URL the resource endpoint)."""

EPILOG = """\
Each input row's reference is its last assistant turn; the prompt is the conversation before it.
Writes one row per input row and target (in input order, then target order) to -o (.jsonl, or .csv), and a
summary per target: rows, errors, exact match, contains, regex, similarity, length, tokens, p50/p95 latency, cost.
Answers are saved in the workspace as they arrive: run the same command again after an interruption and only the
missing rows are requested (nothing is paid twice). Keys come from OPENAI_API_KEY / AZURE_OPENAI_API_KEY /
STUDIO_ENGINE_KEY and are never written anywhere. Exit status: 0 when every row has an answer, 1 when some
requests failed after all retries (their errors are in the output), 2 on bad arguments or input."""


def register(subparsers: argparse._SubParsersAction) -> None:
    compare = subparsers.add_parser(
        "compare",
        help="run base and fine-tuned models side by side over a test set",
        description="Run 2 to 4 models over a test set side by side.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    compare.add_argument(
        "--target", action="append", required=True, metavar="NAME=PROVIDER:MODEL[@URL]", help=TARGET_HELP
    )
    compare.add_argument("--data", required=True, help="test set (JSONL, JSON, CSV, Parquet, Excel) with references")
    compare.add_argument("-o", "--output", required=True, help="results file: .jsonl (default) or .csv")
    compare.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    compare.add_argument("--json", action="store_true", help="print the summary as one JSON object")
    compare.add_argument("--base-url", help="endpoint for compatible/azure targets without @URL")
    compare.add_argument("--api-version", help="Azure OpenAI api-version (default 2024-10-21)")
    compare.add_argument("--system-prompt", default="", help="replaces each row's system prompt")
    compare.add_argument("--temperature", type=float, default=0.0)
    compare.add_argument("--top-p", type=float, default=1.0)
    compare.add_argument("--max-tokens", type=int, default=512)
    compare.add_argument("--seed", type=int, help="sampling seed sent to the models")
    compare.add_argument("--max-attempts", type=int, default=5, help="attempts per request (default 5)")
    compare.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    compare.add_argument("--contains", help="check that answers contain this text (default: the reference)")
    compare.add_argument("--regex", help="check that answers match this RE2 pattern")
    add_load_args(compare, what="--data")
    compare.set_defaults(func=_compare)


def _compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from studio.errors import CompareError
    from studio.playground.compare import (
        Params,
        RetryPolicy,
        export_results,
        open_run,
        parse_target,
        run_compare,
    )
    from studio.playground.metrics import aggregate, score_rows
    from studio.quality.patterns import compile_pattern
    from studio.storage.workspace import Workspace

    pattern = compile_pattern(args.regex) if args.regex else None  # bad patterns fail before any request
    targets = [parse_target(spec, base_url=args.base_url, api_version=args.api_version) for spec in args.target]
    params = Params(
        system_prompt=args.system_prompt,
        temperature=args.temperature,
        top_p=args.top_p,
        max_tokens=args.max_tokens,
        seed=args.seed,
    )
    if args.max_attempts < 1:
        raise CompareError(f"--max-attempts must be at least 1, got {args.max_attempts}")
    output = Path(args.output)
    from studio.playground.cases import cases_from_frame

    cases = cases_from_frame(load(args, args.data, quiet=args.json).frame)
    workspace = Workspace(args.workspace)
    run = open_run(workspace, targets, params, cases, source=Path(args.data).name)
    show = sys.stderr.isatty() and not args.json

    def progress(p: Progress) -> None:
        if show:
            print(
                f"\r{p.done}/{p.total} answers ({p.errors} failed, {p.skipped} already saved)",
                end="",
                file=sys.stderr,
                flush=True,
            )

    results = run_compare(
        workspace,
        run,
        targets,
        cases,
        params,
        concurrency=args.concurrency,
        retry=RetryPolicy(max_attempts=args.max_attempts, timeout=args.timeout),
        on_progress=progress,
    )
    if show:
        print(file=sys.stderr)
    scored = score_rows(results, pattern=pattern, substring=args.contains)
    from studio.core.files import atomic_write

    atomic_write(output, export_results(scored, "csv" if output.suffix.lower() == ".csv" else "jsonl"))
    summary = aggregate(scored, [t.name for t in targets])
    errors = int(summary["errors"].sum())
    _say_errors(scored, summary)
    if args.json:
        print(
            json.dumps(
                {
                    "run_id": run.id,
                    "data": args.data,
                    "output": str(output),
                    "rows": len(cases),
                    "results": len(scored),
                    "errors": errors,
                    "targets": [t.public() for t in targets],
                    "aggregates": summary.astype(object).where(summary.notna(), None).to_dict("records"),
                },
                ensure_ascii=False,
            )
        )
    else:
        print(f"{len(cases)} rows × {len(targets)} targets → {output} (run {run.id}, {errors} failed)")
        print(summary.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return 1 if errors else 0


def _say_errors(scored: Any, summary: Any) -> None:
    """On stderr, one line per target whose answers failed: how many, and the first one's reason (a wrong or
    missing key fails every answer the same way, and the table alone does not say why)."""
    if "error" not in scored.columns:
        return
    for row in summary.itertuples(index=False):
        if not row.errors:
            continue
        failed = scored[(scored["target"] == row.target) & scored["error"].notna()]
        first = failed["error"].iloc[0]
        print(f"error: {row.target}: {row.errors} of {row.rows} answers failed; the first: {first}", file=sys.stderr)
