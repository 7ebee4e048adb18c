"""``studio`` command line: one module per area registers its sub-commands (``studio.cli.data``, ``.clean``, ...).

Registering a command imports nothing heavy: each handler imports the library it needs when it runs, so
``studio --help`` loads neither pandas nor the engine. ``--workspace PATH`` reaches the handlers as
``args.workspace`` (``None``: ``$STUDIO_WORKSPACE`` or ``./workspace/studio.db``, see
:func:`studio.storage.workspace.workspace_path`).

Errors a user can act on (:class:`studio.errors.StudioError`) exit with code 2 and a one-line message.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from studio.cli import clean, compare, cost, data, engine, split, train
from studio.errors import StudioError

# Each module defines ``register(subparsers)``; every sub-command sets ``func(args) -> int`` via set_defaults.
_COMMAND_MODULES = (data, clean, cost, engine, train, compare, split)


def build_parser() -> argparse.ArgumentParser:
    """The ``studio`` parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="studio", description="Fine-Tuning Studio")
    parser.add_argument("--workspace", help="workspace database (default $STUDIO_WORKSPACE or ./workspace/studio.db)")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in _COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``studio`` command; returns its exit code (2 for a :class:`StudioError`, 130 on Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
