"""``studio`` command line. Each area registers its sub-commands from its own ``cli_*`` module.

Errors a user can act on (:class:`studio.errors.StudioError`) exit with code 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from studio.errors import StudioError

# Modules that define ``register(subparsers)``; each sub-command sets ``func(args) -> int`` via set_defaults.
# Heavy imports stay inside the handlers so ``studio --help`` is instant.
_COMMAND_MODULES = (
    "studio.cli.data",
    "studio.cli.clean",
    "studio.cli.cost",
    "studio.cli.engine",
    "studio.cli.train",
    "studio.cli.compare",
    "studio.cli.split",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="studio", description="Fine-Tuning Studio")
    parser.add_argument("--workspace", help="workspace database (default $STUDIO_WORKSPACE or ./workspace/studio.db)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in _COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workspace:
        import os

        os.environ["STUDIO_WORKSPACE"] = args.workspace
    try:
        return int(args.func(args) or 0)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


