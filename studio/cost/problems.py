"""The Cost page's problem list: a validation report's findings grouped by check, errors first, and the query
that opens a group's examples on the Dataset page."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from studio.cost.validation import ValidationReport

SEVERITY_ORDER = ("error", "warning", "advice")
GROUP_COLUMNS = ["severity", "key", "count", "rows", "message", "ids"]
MAX_LINKED_IDS = 500  # a link names at most this many examples (a URL has to stay short)


def problem_groups(report: ValidationReport, *, shown_rows: int = 8) -> pd.DataFrame:
    """One row per check that found something: severity, key, count, rows (the first ``shown_rows`` row numbers
    as text, "… +N more" after them), message (the first finding's) and ids (the example ids, a tuple; empty for
    a finding about the whole file). Errors come first, then warnings, then advice; larger groups first."""
    findings = report.findings
    if findings.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    groups = []
    for (severity, key), part in findings.groupby(["severity", "key"], sort=False):
        rows = [int(r) for r in part["row"].dropna()]
        shown = ", ".join(map(str, rows[:shown_rows])) + (
            f" … +{len(rows) - shown_rows}" if len(rows) > shown_rows else ""
        )
        groups.append(
            {
                "severity": severity,
                "key": key,
                "count": len(part),
                "rows": shown,
                "message": part["message"].iloc[0],
                "ids": tuple(int(i) for i in part["id"].dropna()),
            }
        )
    table = pd.DataFrame(groups, columns=GROUP_COLUMNS)
    rank = table["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).fillna(len(SEVERITY_ORDER))
    return table.assign(_rank=rank).sort_values(["_rank", "count"], ascending=[True, False]).drop(columns="_rank")


def dataset_link(ids: Sequence[int], *, dataset_id: int, version_id: int) -> dict[str, str | list[str]]:
    """The Dataset page's query parameters that open ``ids`` of that dataset version (the first
    :data:`MAX_LINKED_IDS`): ``{"dataset": "3", "version": "7", "id": ["12", "40"]}``."""
    return {
        "dataset": str(dataset_id),
        "version": str(version_id),
        "id": [str(i) for i in list(ids)[:MAX_LINKED_IDS]],
    }


def problem_counts(report: ValidationReport) -> dict[str, int]:
    """How many findings are errors, warnings and advice."""
    return {
        "errors": sum(report.errors.values()),
        "warnings": sum(report.warnings.values()),
        "advice": sum(report.advice.values()),
    }
