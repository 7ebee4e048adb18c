"""``studio versions list|export`` (the named versions of the workspace's datasets) and ``studio votes`` (the
Playground's blind A/B votes: win rate per pair with its 95 % Wilson interval)."""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from typing import Any

from studio.cli.common import count, say, warn_unwritten

# A literal copy of studio.data.writers.EXPORT_FORMATS (studio.cli.data keeps one too; a test keeps them equal).
EXPORT_FORMATS = ("openai-chat", "prompt-completion", "alpaca", "sharegpt", "csv", "parquet")


def register(subparsers: argparse._SubParsersAction) -> None:
    versions = subparsers.add_parser("versions", help="list or export the saved versions of the workspace's datasets")
    commands = versions.add_subparsers(dest="versions_command", required=True)
    listing = commands.add_parser("list", help="every dataset's versions (the head is marked *)")
    listing.add_argument("--dataset", type=int, help="only this dataset id")
    listing.add_argument("--json", action="store_true", help="print one JSON object")
    listing.set_defaults(func=_list_versions)
    export = commands.add_parser("export", help="write one version to a file")
    export.add_argument("version", type=int, help="version id (`studio versions list`)")
    export.add_argument("-o", "--output", required=True, help="output file; format from --to or its extension")
    export.add_argument("--to", choices=EXPORT_FORMATS, help="default: from the extension (.jsonl: OpenAI chat)")
    export.add_argument("--json", action="store_true", help="print one JSON object")
    export.set_defaults(func=_export_version)

    votes = subparsers.add_parser("votes", help="blind A/B votes of a comparison run: win rate per pair")
    votes.add_argument("--run", type=int, help="comparison run id (default: the newest)")
    votes.add_argument("--json", action="store_true", help="print one JSON object")
    votes.set_defaults(func=_votes)


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _list_versions(args: argparse.Namespace) -> int:
    from studio.storage.workspace import Workspace

    workspace = Workspace(args.workspace)
    datasets = [workspace.dataset(args.dataset)] if args.dataset is not None else workspace.datasets()
    out: list[dict[str, Any]] = [
        {
            "dataset": d.id,
            "name": d.name,
            "head": d.head_version_id,
            "versions": [
                {"id": v.id, "name": v.name, "parent": v.parent_id, "rows": v.rows, "created_at": v.created_at}
                for v in workspace.versions(d.id)
            ],
        }
        for d in datasets
    ]
    if args.json:
        print(json.dumps({"datasets": out}, ensure_ascii=False))
        return 0
    if not any(d["versions"] for d in out):
        print(say("no_versions"))
    for dataset in out:
        print(f"{dataset['dataset']}  {dataset['name']}: {count('versions', len(dataset['versions']))}")
        for v in dataset["versions"]:
            head = "*" if v["id"] == dataset["head"] else " "
            print(f"  {head}{v['id']:>4}  {v['name']:<24} {count('rows', v['rows']):>12}  {_when(v['created_at'])}")
    return 0


def _export_version(args: argparse.Namespace) -> int:
    from studio.data.writers import export_dataset
    from studio.storage.workspace import Workspace

    workspace = Workspace(args.workspace)
    version = workspace.version(args.version)
    frame = workspace.load_version(version.id)
    written = export_dataset(frame, args.output, to=args.to)
    warn_unwritten(frame, written, args.to)
    if args.json:
        print(json.dumps({"version": version.id, "rows": len(frame), "path": str(written)}, ensure_ascii=False))
    else:
        print(f"wrote {count('examples', len(frame))} of version {version.id} ({version.name}) to {written}")
    return 0


def _votes(args: argparse.Namespace) -> int:
    from studio.errors import CompareError
    from studio.playground.metrics import win_rate
    from studio.playground.runs import get_run, list_runs
    from studio.playground.votes import load_votes
    from studio.storage.workspace import Workspace

    workspace = Workspace(args.workspace)
    if args.run is None:
        runs = list_runs(workspace)
        if not runs:
            raise CompareError(f"no comparison runs in {workspace.path}; `studio compare` makes one")
        run = runs[0]
    else:
        run = get_run(workspace, args.run)
    votes = load_votes(workspace, run.id)
    pairs: dict[tuple[str, str], list[str]] = {}
    for left, right, winner in zip(votes["left"], votes["right"], votes["winner"], strict=True):
        first, second = sorted((left, right))
        pairs.setdefault((first, second), []).append(winner)
    rates = []
    for (first, second), winners in sorted(pairs.items()):
        rate = win_rate(winners, second, first)
        rates.append(
            {
                "target": rate.target,
                "other": rate.other,
                "votes": rate.votes,
                "wins": rate.wins,
                "losses": rate.losses,
                "ties": rate.ties,
                "both_bad": rate.both_bad,
                "win_rate": rate.rate,
                "low": round(rate.low, 4),
                "high": round(rate.high, 4),
            }
        )
    if args.json:
        print(json.dumps({"run": run.id, "name": run.name, "pairs": rates}, ensure_ascii=False))
        return 0
    print(f"run {run.id} ({run.name}): {count('votes', len(votes))}")
    if not rates:
        print(f"  {say('no_votes')}")
    for r in rates:
        share = "-" if r["win_rate"] is None else f"{r['win_rate']:.0%}"
        print(
            f"  {r['target']} vs {r['other']}: {share} wins (95% interval {r['low']:.0%}–{r['high']:.0%}), "
            f"{r['wins']}/{r['losses']}/{r['ties']} win/loss/tie, {r['both_bad']} both bad"
        )
    return 0
