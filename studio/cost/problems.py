"""The Cost page's problem table: a validation report's findings, each row linked to the Dataset page."""

from __future__ import annotations

import pandas as pd

from studio.cost.validation import ValidationReport


def problem_table(report: ValidationReport, *, link_to: str | None = None) -> pd.DataFrame:
    """The findings (row, id, severity, key, message), plus an ``open`` column of links
    ``{link_to}?row=<row>&id=<id>`` when ``link_to`` (a page URL path such as ``"Dataset"``) is given; the Dataset
    page shows just the example of ``id`` when it opens such a link."""
    findings = report.findings
    if link_to is None:
        return findings
    return findings.assign(
        open=f"{link_to}?row=" + findings["row"].astype("string") + "&id=" + findings["id"].astype("string")
    )


def problem_counts(report: ValidationReport) -> dict[str, int]:
    """How many findings are errors, warnings and advice."""
    return {
        "errors": sum(report.errors.values()),
        "warnings": sum(report.warnings.values()),
        "advice": sum(report.advice.values()),
    }
