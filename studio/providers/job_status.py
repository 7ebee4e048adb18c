"""What the Train page shows about jobs: status badges, the jobs table, the loss/accuracy chart's data, events,
checkpoints, and the Playground targets that compare checkpoints.

Plain pandas frames and dicts; the page draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from studio.providers.jobs import JobRecord

BADGES = {
    "succeeded": "🟢",
    "failed": "🔴",
    "cancelled": "⚫",
    "running": "🔵",
    "paused": "🟡",
    "not_started": "🔴",
    "uploading": "⚪",
    "validating_files": "⚪",
    "queued": "⚪",
}


def status_label(status: str) -> str:
    """``"🟢 succeeded"``: the status with its badge (⚪ for a status without one)."""
    return f"{BADGES.get(status, '⚪')} {status}"


def jobs_table(records: Sequence[JobRecord], *, status_header: str = "status") -> pd.DataFrame:
    """One row per job: status (with badge), provider job id ("—" before it has one), provider, model (the
    fine-tuned one once known)."""
    return pd.DataFrame(
        {
            status_header: [status_label(r.status) for r in records],
            "job": [r.job_id or "—" for r in records],
            "provider": [r.provider for r in records],
            "model": [r.fine_tuned_model or r.model for r in records],
        }
    )


def job_choice(record: JobRecord) -> str:
    """How a job reads in the job picker: ``ftjob-… · model · status``."""
    return f"{record.job_id or '—'} · {record.model} · {record.status}"


def metrics_long(metrics: pd.DataFrame) -> pd.DataFrame:
    """:func:`~studio.providers.jobs.metrics_frame` in long form for a faceted chart: step, metric, value and
    kind (``"accuracy"`` or ``"loss"``); steps without a value are dropped."""
    long = metrics.melt("step", var_name="metric", value_name="value").dropna()
    return long.assign(kind=long["metric"].str.contains("accuracy").map({True: "accuracy", False: "loss"}))


def events_table(job_events: Sequence[Any]) -> pd.DataFrame:
    """created_at (Unix seconds), level, message of each event."""
    return pd.DataFrame(
        [{"created_at": e.created_at, "level": e.level, "message": e.message} for e in job_events],
        columns=["created_at", "level", "message"],
    )


def checkpoints_table(found: Sequence[Any]) -> pd.DataFrame:
    """step, checkpoint model name and the checkpoint's metrics, one row per checkpoint."""
    return pd.DataFrame(
        [
            {
                "step": c.step_number,
                "model": c.fine_tuned_model_checkpoint,
                **(c.metrics.model_dump() if c.metrics else {}),
            }
            for c in found
        ]
    )


def compare_targets(record: JobRecord, kind: str, found: Sequence[Any], *, last: int = 3) -> list[dict[str, str]]:
    """Playground targets for the base model and the ``last`` checkpoints (``{"name", "kind", "model"}``)."""
    return [
        {"name": "base", "kind": kind, "model": record.model},
        *(
            {"name": f"step {c.step_number}", "kind": kind, "model": c.fine_tuned_model_checkpoint}
            for c in found[-last:]
        ),
    ]
