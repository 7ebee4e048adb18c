"""``studio`` command line: one module per area registers its sub-commands (``studio.cli.data``, ``.clean``, ...).

Registering a command imports nothing heavy: each handler imports the library it needs when it runs, so
``studio --help`` loads neither pandas nor the engine. ``--workspace PATH`` (before or after the sub-command)
reaches the handlers as ``args.workspace`` (``None``: ``$STUDIO_WORKSPACE`` or ``./workspace/studio.db``, see
:func:`studio.storage.workspace.workspace_path`).

Errors a user can act on (:class:`studio.errors.StudioError`) exit with code 2 and a one-line message. Output
piped into a reader that stops early (``studio validate F --details | head``) ends quietly, here and only here.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from studio.cli import clean, compare, cost, data, engine, jobs, moderate, split, train, workspace
from studio.errors import StudioError

# Each module defines ``register(subparsers)``; every sub-command sets ``func(args) -> int`` via set_defaults.
_COMMAND_MODULES = (data, clean, cost, engine, train, compare, split, moderate, jobs, workspace)


def build_parser() -> argparse.ArgumentParser:
    """The ``studio`` parser with every sub-command registered."""
    parser = argparse.ArgumentParser(prog="studio", description="Fine-Tuning Studio")
    parser.add_argument("--workspace", help=_WORKSPACE_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module in _COMMAND_MODULES:
        module.register(subparsers)
    _add_workspace(parser)
    return parser


_WORKSPACE_HELP = "workspace database (default $STUDIO_WORKSPACE or ./workspace/studio.db)"


def _add_workspace(parser: argparse.ArgumentParser) -> None:
    """``--workspace`` on every sub-command too (``studio seed --workspace X`` as ``studio --workspace X seed``).
    Its default there is SUPPRESS, so a sub-command without the flag keeps the value given before it."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                sub.add_argument("--workspace", default=argparse.SUPPRESS, help=_WORKSPACE_HELP)
                _add_workspace(sub)


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``studio`` command; returns its exit code (2 for a :class:`StudioError`, 130 on Ctrl-C)."""
    args = build_parser().parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows up here rather than at interpreter exit
        return code
    except BrokenPipeError:
        _silence_stdout()
        return 141  # 128 + SIGPIPE, as a shell reports a command cut off by `head`
    except StudioError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
