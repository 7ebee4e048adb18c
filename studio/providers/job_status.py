"""What the Train page shows about jobs: status badges, the jobs table, the loss/accuracy chart's data, events,
checkpoints, and the Playground targets that compare checkpoints.

Plain pandas frames and dicts; the page draws them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from studio.i18n import translator
from studio.providers.job_events import event_level, event_text
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


def status_label(status: str, lang: str = "en") -> str:
    """``"🟢 succeeded"``: the status with its badge (⚪ for a status without one), in ``lang`` (``"🟢 completado"``;
    a status no locale names is shown as it is)."""
    return f"{BADGES.get(status, '⚪')} {translator(lang).label('status', status)}"


def jobs_table(records: Sequence[JobRecord], *, lang: str = "en") -> pd.DataFrame:
    """One row per job: status (with badge), provider job id ("—" before it has one), provider, model (the
    fine-tuned one once known)."""
    return pd.DataFrame(
        {
            "status": [status_label(r.status, lang) for r in records],
            "job": [r.job_id or "—" for r in records],
            "provider": [r.provider for r in records],
            "model": [r.fine_tuned_model or r.model for r in records],
        }
    )


def job_choice(record: JobRecord, lang: str = "en") -> str:
    """How a job reads in the job picker: ``ftjob-… · model · status`` (the status in ``lang``)."""
    return f"{record.job_id or '—'} · {record.model} · {translator(lang).label('status', record.status)}"


def metrics_long(metrics: pd.DataFrame) -> pd.DataFrame:
    """:func:`~studio.providers.jobs.metrics_frame` in long form for a faceted chart: step, metric, value and
    kind (``"accuracy"`` or ``"loss"``); steps without a value are dropped."""
    long = metrics.melt("step", var_name="metric", value_name="value").dropna()
    return long.assign(kind=long["metric"].str.contains("accuracy").map({True: "accuracy", False: "loss"}))


def events_table(job_events: Sequence[Any], lang: str = "en") -> pd.DataFrame:
    """time (a UTC timestamp; the events' ``created_at`` is Unix seconds), level, message of each event, newest
    first (what a user watching a job reads first); level and message in ``lang``
    (:mod:`studio.providers.job_events`)."""
    frame = pd.DataFrame(
        [
            {"time": e.created_at, "level": event_level(e.level, lang), "message": event_text(e.message, lang)}
            for e in job_events
        ],
        columns=["time", "level", "message"],
    )
    frame["time"] = pd.to_datetime(frame["time"].astype("float64"), unit="s", utc=True).dt.floor("s")
    return frame.iloc[::-1].reset_index(drop=True)


@dataclass(frozen=True)
class Progress:
    """How far a running job is: ``step`` of ``total_steps`` and the seconds left (None until two steps were
    timed), from the job's ``metrics`` events (OpenAI's and the local engine's carry ``step``/``total_steps``)."""

    step: int
    total_steps: int
    eta_seconds: float | None

    @property
    def share(self) -> float:
        """The finished share, 0..1, for a progress bar."""
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0


def job_progress(job_events: Sequence[Any]) -> Progress | None:
    """The newest step and total from ``metrics`` events, with an ETA from the time per step between the first
    and the newest of them; None when no event carries ``total_steps``."""
    timed = [
        (e.created_at, int(e.data["step"]), int(e.data["total_steps"]))
        for e in job_events
        if getattr(e, "type", None) == "metrics"
        and isinstance(getattr(e, "data", None), dict)
        and e.data.get("step") is not None
        and e.data.get("total_steps")
    ]
    if not timed:
        return None
    timed.sort()
    (first_at, first_step, _), (last_at, step, total) = timed[0], timed[-1]
    eta = None
    if step > first_step and last_at > first_at:
        eta = max(0.0, (last_at - first_at) / (step - first_step) * (total - step))
    return Progress(step=step, total_steps=total, eta_seconds=eta)


def checkpoints_table(found: Sequence[Any]) -> pd.DataFrame:
    """step, checkpoint model name and the checkpoint's metrics, one row per checkpoint. A metric no checkpoint
    has (the validation metrics of a job trained without validation data) is left out, never shown as "None"."""
    table = pd.DataFrame(
        [
            {
                "step": c.step_number,
                "model": c.fine_tuned_model_checkpoint,
                **(c.metrics.model_dump() if c.metrics else {}),
            }
            for c in found
        ]
    )
    return table.dropna(axis="columns", how="all")


def compare_targets(
    record: JobRecord, kind: str, found: Sequence[Any], *, last: int = 3, lang: str = "en"
) -> list[dict[str, str]]:
    """Playground targets for the base model and the ``last`` checkpoints (``{"name", "kind", "model"}``), named
    in ``lang`` ("base", "step 12"; "base", "paso 12")."""
    tr = translator(lang)
    return [
        {"name": tr("playground.name_base"), "kind": kind, "model": record.model},
        *(
            {
                "name": tr("playground.name_step", step=c.step_number),
                "kind": kind,
                "model": c.fine_tuned_model_checkpoint,
            }
            for c in found[-last:]
        ),
    ]
