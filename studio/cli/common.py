"""What every ``studio`` command shares: the loading flags, the one loader call, counts in the user's language.

Loading flags (on every command that reads a dataset): ``--format`` (the record format), ``--columns
user=COL,assistant=COL[,system=COL]`` (a Q&A table's columns) and ``--encoding`` (force the text encoding, e.g.
cp1251). The loader's warnings go to stderr; an uncertain encoding guess is printed in capitals.

The language of counts and messages is ``$STUDIO_LANG`` (``en``, the default, or ``es``).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.cost.validation import ValidationReport
    from studio.data.formats import ColumnMapping
    from studio.data.loader import LoadResult

# A literal copy of studio.data.formats.SCHEMAS (a test keeps them equal), so registering imports no pandas.
SCHEMAS = ("chat", "prompt_completion", "alpaca", "sharegpt", "qa")


def add_load_args(parser: argparse.ArgumentParser, *, what: str = "input") -> None:
    """``--format``, ``--columns`` and ``--encoding`` for a command that loads a dataset."""
    parser.add_argument("--format", choices=SCHEMAS, help=f"{what} record format, when detection guesses wrong")
    parser.add_argument(
        "--columns",
        metavar="user=COL,assistant=COL[,system=COL]",
        help="which columns of a table hold the user turn, the answer and (optionally) the system prompt",
    )
    parser.add_argument(
        "--encoding", dest="text_encoding", metavar="CODEC", help="text encoding, e.g. cp1251 (default: detected)"
    )


def load_options(args: argparse.Namespace) -> dict[str, Any]:
    """``schema``, ``mapping`` and ``encoding`` for :func:`studio.data.loader.load_dataset` from the flags."""
    return {
        "schema": getattr(args, "format", None),
        "mapping": parse_mapping(getattr(args, "columns", None)),
        "encoding": getattr(args, "text_encoding", None),
    }


def parse_mapping(spec: str | None) -> ColumnMapping | None:
    """``--columns`` as a :class:`~studio.data.formats.ColumnMapping`; a bad spec is a one-line StudioError."""
    if not spec:
        return None
    from studio.data.formats import parse_columns
    from studio.errors import StudioError

    try:
        return parse_columns(spec)
    except ValueError as exc:
        raise StudioError(f"--columns: {exc}") from None


def load(args: argparse.Namespace, path: str, *, quiet: bool = False) -> LoadResult:
    """``path`` through the one loader with the command's flags; warnings to stderr unless ``quiet``."""
    from studio.data.loader import load_dataset

    result = load_dataset(path, **load_options(args))
    if not quiet:
        warn(result.warnings)
    return result


def warn(warnings: Any) -> None:
    """Each loader warning on stderr, one line each."""
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)


def warn_unwritten(frame: Any, path: Any, to: Any = None) -> None:
    """On stderr, the kept keys (metadata columns) that the export of ``frame`` to ``path`` (as ``to``, else by
    suffix) does not write, with their row counts: nothing is left out without a word."""
    from studio.data.writers import export_format, unwritten_keys, unwritten_message

    chosen = export_format(path, to)
    if unwritten := unwritten_keys(frame, to=chosen):
        print(f"warning: {unwritten_message(unwritten, chosen)}", file=sys.stderr)


def lang() -> str:
    """The CLI's language: ``$STUDIO_LANG`` when it is ``en`` or ``es``, else English."""
    value = os.environ.get("STUDIO_LANG", "en")[:2].lower()
    return value if value in ("en", "es") else "en"


def count(key: str, n: int, **values: Any) -> str:
    """``"1 example"`` / ``"2 examples"`` (``cli.{key}`` in :mod:`studio.i18n`, pluralised)."""
    from studio.i18n import plural

    return plural(f"cli.{key}", n, lang(), **values)


def say(key: str, **values: Any) -> str:
    """``cli.{key}`` in the CLI's language."""
    from studio.i18n import text

    return text(f"cli.{key}", lang(), **values)


def finding_lines(report: ValidationReport, unit: str | None = None) -> list[tuple[str, str]]:
    """``(severity, text)`` for each error, warning and advice key of ``report``: its first finding's readable
    message (in the CLI's language), where it is when ``unit`` names the rows, how many more, and the key:
    ``8 examples; OpenAI requires at least 10 (too_few_examples)``, ``line 4: messages[1] has no 'content', and
    2 more (message_missing_key × 3)``. Counts alone (``too_few_examples × 1``) say nothing a user can act on."""
    import pandas as pd

    from studio.cost.messages import finding_message
    from studio.cost.sources import where

    findings = report.findings
    first: dict[str, Any] = {}
    for row in findings.itertuples(index=False):
        first.setdefault(row.key, row)
    lines = []
    for severity, counts in (("error", report.errors), ("warning", report.warnings), ("advice", report.advice)):
        for key, n in counts.items():
            finding = first.get(key)
            if finding is None:
                lines.append((severity, f"{key} × {n}"))
                continue
            text = finding_message(str(finding.message), lang())
            if unit is not None and not pd.isna(finding.row):
                text = f"{where(finding.row, finding.id, unit, lang())}: {text}"
            more = f", {count('and_more', n - 1)}" if n > 1 else ""
            lines.append((severity, f"{text}{more} ({key}{f' × {n}' if n > 1 else ''})"))
    return lines
