"""``studio moderate``: which examples OpenAI's moderation would flag, before a whole training file is rejected."""

from __future__ import annotations

import argparse
import json
import os
import sys

from studio.cli.common import add_load_args, count, load


def register(subparsers: argparse._SubParsersAction) -> None:
    moderate = subparsers.add_parser(
        "moderate",
        help="flag the examples OpenAI's moderation endpoint would reject (offline: the EN/ES blocklist)",
        description="Send every example's text to the moderation endpoint (OPENAI_API_KEY, or --base-url for a "
        "compatible server) and list the flagged ones; without a key, or with --offline, the much weaker "
        "offline blocklist is used and the output says so. Exit 1 when any example is flagged.",
    )
    moderate.add_argument("path", help="dataset file (any format `studio inspect` reads)")
    moderate.add_argument("--base-url", help="an OpenAI-compatible endpoint instead of api.openai.com")
    moderate.add_argument("--offline", action="store_true", help="use the offline blocklist, send nothing")
    moderate.add_argument("--batch-size", type=int, default=32, help="texts per request (default 32)")
    add_load_args(moderate)
    moderate.add_argument("--json", action="store_true", help="print one JSON object")
    moderate.set_defaults(func=_moderate)


def _moderate(args: argparse.Namespace) -> int:
    from studio.cost.sources import where
    from studio.data.frame import iter_examples
    from studio.providers.profiles import Profile, make_client
    from studio.quality.moderation import example_texts, moderate

    result = load(args, args.path, quiet=args.json)
    frame = result.frame
    key = os.environ.get("OPENAI_API_KEY")
    client = None
    if not args.offline and (key or args.base_url):
        profile = Profile(kind="compatible" if args.base_url else "openai", base_url=args.base_url)
        client = make_client(profile, api_key=key)
    elif not args.offline and not args.json:
        print("note: no OPENAI_API_KEY: using the offline blocklist, a much weaker check", file=sys.stderr)
    rows = frame["source_row"].tolist()
    report = moderate(example_texts(iter_examples(frame)), rows=rows, client=client, batch_size=args.batch_size)
    ids = dict(zip(rows, frame["id"].tolist(), strict=True))
    flagged = [
        {"row": int(r.row), "unit": result.unit, "id": int(ids[r.row]), "categories": r.categories}
        for r in report.results.itertuples(index=False)
        if r.flagged
    ]
    if args.json:
        out = {"source": report.source, "rows": report.rows, "flagged": report.flagged, "examples": flagged}
        print(json.dumps(out, ensure_ascii=False))
    else:
        print(f"{args.path}: {count('flagged', report.flagged)} of {report.rows} ({report.source})")
        for item in flagged:
            print(f"  {where(item['row'], item['id'], item['unit'])}: {item['categories']}")
    return 1 if report.flagged else 0
