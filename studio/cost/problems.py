"""The Cost page's problem list: a validation report's findings grouped by check, errors first, the examples
that moderation flagged, and the query that opens examples on the Dataset page.

Every finding says where it is as the CLI does (:func:`studio.cost.sources.where`): ``line 7 (id 6)`` is the
source's line, item or row 7 and example id 6 on the Dataset page."""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

from studio.cost.sources import where
from studio.cost.validation import ValidationReport

SEVERITY_ORDER = ("error", "warning", "advice")
GROUP_COLUMNS = ["severity", "key", "count", "rows", "message", "details", "ids"]
DETAIL_COLUMNS = ["where", "message"]
FLAGGED_COLUMNS = ["id", "where", "categories"]
# What a source row counts, by the container of a dataset's format (``jsonl/chat``): the loader's ``unit``.
_UNITS = {"jsonl": "line", "csv": "line", "json": "item", "parquet": "row", "xlsx": "row"}
MAX_LINKED_IDS = 500  # a link names at most this many examples (a URL has to stay short)


def source_unit(format: str | None) -> str:
    """What a dataset's source rows count, from its ``container/schema`` format: "line" (JSONL, CSV), "item" (a
    JSON array) or "row" (a sheet, Parquet); "line" when unknown."""
    return _UNITS.get((format or "").partition("/")[0], "line")


def problem_groups(
    report: ValidationReport, *, unit: str = "line", shown_rows: int = 8, lang: str = "en"
) -> pd.DataFrame:
    """One row per check that found something: severity, key, count, rows (where the first ``shown_rows`` are, as
    ``line 7 (id 6)`` in ``unit``, "… +N" after them), message (the first finding's), details (how many different
    messages the group holds: one check, e.g. ``invalid_tool_calls``, says different things about different
    examples, each listed by :func:`check_details`) and ids (the example ids, a tuple; empty for a finding about
    the whole file). Errors come first, then warnings, then advice; larger groups first. ``rows`` is written in
    ``lang``."""
    findings = report.findings
    if findings.empty:
        return pd.DataFrame(columns=GROUP_COLUMNS)
    groups = []
    for (severity, key), part in findings.groupby(["severity", "key"], sort=False):
        located = part[part["row"].notna()]
        places = [
            where(r, i, unit, lang)
            for r, i in zip(located["row"][:shown_rows], located["id"][:shown_rows], strict=True)
        ]
        shown = ", ".join(places) + (f" … +{len(located) - shown_rows}" if len(located) > shown_rows else "")
        groups.append(
            {
                "severity": severity,
                "key": key,
                "count": len(part),
                "rows": shown,
                "message": part["message"].iloc[0],
                "details": int(part["message"].nunique()),
                "ids": tuple(int(i) for i in part["id"].dropna()),
            }
        )
    table = pd.DataFrame(groups, columns=GROUP_COLUMNS)
    rank = table["severity"].map({s: i for i, s in enumerate(SEVERITY_ORDER)}).fillna(len(SEVERITY_ORDER))
    return table.assign(_rank=rank).sort_values(["_rank", "count"], ascending=[True, False]).drop(columns="_rank")


def check_details(
    report: ValidationReport, severity: str, key: str, *, unit: str = "line", limit: int = 500, lang: str = "en"
) -> pd.DataFrame:
    """Each finding of one check (``severity``, ``key``: a row of :func:`problem_groups`) with its own message:
    ``where`` (``line 7 (id 6)`` in ``unit`` and ``lang``; ``file`` for the whole file) and ``message`` (English,
    as the report holds it), the first ``limit`` in row order."""
    findings = report.findings
    part = findings[(findings["severity"] == severity) & (findings["key"] == key)].head(limit)
    return pd.DataFrame(
        {
            "where": [where(r, i, unit, lang) for r, i in zip(part["row"], part["id"], strict=True)],
            "message": part["message"].tolist(),
        },
        columns=DETAIL_COLUMNS,
    )


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


def flagged_examples(
    results: pd.DataFrame, ids: Sequence[int | None], *, unit: str = "line", lang: str = "en"
) -> pd.DataFrame:
    """The examples moderation flagged (:class:`studio.quality.moderation.ModerationReport` ``results``, whose
    ``row`` labels are source rows, one per example in the order of ``ids``): ``id`` (Int64, NA for a line that
    is not an example), ``where`` (``line 7 (id 6)``, in ``lang``) and ``categories``, in source order."""
    if len(ids) != len(results):
        raise ValueError(f"{len(ids)} ids for {len(results)} moderation results")
    flagged = results["flagged"].fillna(False).to_numpy(dtype=bool)
    picked = pd.array(list(ids), dtype="Int64")[flagged]
    rows = results["row"][flagged]
    return pd.DataFrame(
        {
            "id": picked,
            "where": [where(r, i, unit, lang) for r, i in zip(rows, picked, strict=True)],
            "categories": results["categories"][flagged].tolist(),
        },
        columns=FLAGGED_COLUMNS,
    )
