"""``studio app``, ``studio inspect`` and ``studio convert``."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

from studio.cli.common import add_load_args, count, load_options, warn_unwritten

# A literal copy of studio.data.writers.EXPORT_FORMATS (a test keeps them equal), so registering these commands
# imports no pandas.
EXPORT_FORMATS = ("openai-chat", "prompt-completion", "alpaca", "sharegpt", "csv", "parquet")

ROOT = Path(__file__).resolve().parents[2]


def register(subparsers: argparse._SubParsersAction) -> None:
    app = subparsers.add_parser("app", help="open the studio in the browser (Streamlit)")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--host", help="address to serve on (default 127.0.0.1 from .streamlit/config.toml)")
    app.add_argument("--headless", action="store_true", help="do not open a browser window")
    app.add_argument("--no-engine", action="store_true", help="do not start the local engine in the background")
    app.set_defaults(func=_app)

    inspect = subparsers.add_parser("inspect", help="detected format, encoding, rows, columns and samples")
    inspect.add_argument("path")
    add_load_args(inspect)
    inspect.add_argument("--json", action="store_true", help="print one JSON object")
    inspect.add_argument("--lenient", action="store_true", help="list malformed rows instead of stopping at the first")
    inspect.set_defaults(func=_inspect)

    convert = subparsers.add_parser("convert", help="convert a dataset to another format")
    convert.add_argument("path")
    convert.add_argument("--to", required=True, choices=EXPORT_FORMATS)
    convert.add_argument("-o", "--output", required=True)
    add_load_args(convert)
    convert.add_argument("--system-prompt", help="add this system prompt to examples that have none")
    convert.add_argument(
        "--strip-legacy", action="store_true", help="strip the old ' ->' prompt separator and ' END' completion stop"
    )
    convert.add_argument(
        "--skip-unrepresentable",
        action="store_true",
        help="leave out conversations the target format cannot hold (several rounds or tool calls in "
        "prompt-completion) instead of stopping; the count is printed",
    )
    convert.add_argument("--json", action="store_true", help="print one JSON object")
    convert.set_defaults(func=_convert)

    seed = subparsers.add_parser("seed", help="import the bundled sample datasets into the workspace")
    seed.set_defaults(func=_seed)


def _app(args: argparse.Namespace) -> int:
    import signal

    # SIGTERM (or the end of `make run`) must run the exit handlers that stop the engine this command starts.
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return _serve_app(args)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _serve_app(args: argparse.Namespace) -> int:
    if not args.no_engine:
        from studio.errors import ProviderError
        from studio.providers.profiles import ensure_engine

        try:
            log_dir = str(Path(args.workspace).parent) if args.workspace else None  # engine.log beside it
            status, started = ensure_engine(wait_s=60, log_dir=log_dir)
            print(f"local engine {'started' if started else 'already running'}: {status.detail}")
        except ProviderError as exc:
            print(f"warning: {exc}", file=sys.stderr)
    # The app runs in its own process: --workspace reaches it through that process's environment only.
    env = {**os.environ, "STUDIO_WORKSPACE": args.workspace} if args.workspace else None
    app = subprocess.Popen(app_command(args.port, host=args.host, headless=args.headless), cwd=ROOT, env=env)
    try:
        return app.wait()
    finally:  # stopped by a signal: let Streamlit close its sessions; the engine stops at exit (ensure_engine)
        if app.poll() is None:
            app.terminate()
            try:
                app.wait(timeout=15)
            except subprocess.TimeoutExpired:
                app.kill()


def app_command(port: int, *, host: str | None = None, headless: bool = False) -> list[str]:
    """The ``streamlit run app.py`` command line that ``studio app``, the browser tests and the bench all use.

    Run it with ``cwd=ROOT``: Streamlit reads ``.streamlit/config.toml`` from the working folder, and that file
    turns the file watcher off (an open tab made it burn a core), binds 127.0.0.1 and hides the Deploy button.
    Only what the caller asks for is passed as flags, so the config file is what every run tests.
    """
    command = [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.port", str(port)]
    if host:
        command += ["--server.address", host]
    if headless:
        command += ["--server.headless", "true"]
    return command


def _inspect(args: argparse.Namespace) -> int:
    from studio.data.loader import inspect_dataset

    options = load_options(args)
    report = inspect_dataset(args.path, schema=options["schema"], lenient=args.lenient, **_rest(options))
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    encoding = report["encoding"] or "binary"
    if report["encoding_confidence"] is not None and not encoding.startswith("utf"):
        encoding += f" (confidence {report['encoding_confidence']:.0%})"
    print(f"{report['path']}: {report['format']}, encoding {encoding}, {count('rows', report['rows'])}")
    if report["rejected"]:
        print(f"  {count('rows', report['rejected'])} could not be read")
    print(f"  columns: {', '.join(report['columns'])}")
    if report["mapping"]:
        mapping = report["mapping"]
        print(
            "  mapping: "
            + ", ".join(f"{role}={mapping[role]}" for role in ("user", "assistant", "system") if mapping[role])
        )
    for sample in report["samples"]:
        print(f"  - user: {_short(sample['user'])} | assistant: {_short(sample['assistant'])}")
    for warning in report["warnings"]:
        print(f"  warning: {warning}")
    return 0


def _rest(options: dict) -> dict:
    return {"mapping": options["mapping"], "encoding": options["encoding"]}


def _short(text: str | None, width: int = 60) -> str:
    text = (text or "").replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _convert(args: argparse.Namespace) -> int:
    from studio.data.loader import load_dataset
    from studio.data.writers import (
        export_dataset,
        keep_them,
        unrepresentable_message,
        unrepresentable_reasons,
        unrepresentable_rows,
    )

    result = load_dataset(args.path, strip_legacy=args.strip_legacy, **load_options(args))
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    skipped = unrepresentable_rows(result.frame, to=args.to)
    if skipped and len(skipped) == len(result.frame):  # skipping them all would write an empty file
        print(
            f"error: no row can be written as {args.to} ({unrepresentable_reasons(skipped)}); "
            f"{keep_them(skipped, args.to)}; nothing written",
            file=sys.stderr,
        )
        return 2
    if skipped and not args.skip_unrepresentable:
        print(
            f"error: {unrepresentable_message(skipped, args.to)}; {keep_them(skipped, args.to)}, "
            "or pass --skip-unrepresentable to leave them out",
            file=sys.stderr,
        )
        return 2
    out = export_dataset(
        result.frame, args.output, to=args.to, system_prompt=args.system_prompt, skip_unrepresentable=True
    )
    if skipped:
        print(f"warning: left out {unrepresentable_message(skipped, args.to)}", file=sys.stderr)
    warn_unwritten(result.frame, out, args.to)
    written = len(result.frame) - len(skipped)
    if args.json:
        print(json.dumps({"rows": written, "skipped": len(skipped), "path": str(out), "to": args.to}))
    else:
        print(f"wrote {count('examples', written)} to {out} ({args.to})")
    return 0


def _seed(args: argparse.Namespace) -> int:
    from studio.storage.workspace import Workspace, seed_samples

    workspace = Workspace(args.workspace)
    added = seed_samples(workspace)
    print(f"{workspace.path}: {len(added)} sample datasets added, {len(workspace.datasets())} in all")
    return 0
