"""Job runner process: ``python -m studio.engine.worker JOB_ID --home HOME [--models-dir DIR]``.

Runs one fine-tuning job and reports everything through the store: status, events, metrics, checkpoints, the
fine-tuned model and the result file. Between steps it reads the job's status, so the server pauses or cancels a
job by changing it. SIGTERM (the engine shutting down) saves a resume state and puts the job back in the queue.

Under ``accelerate launch`` / ``torchrun`` (``$STUDIO_ENGINE_LAUNCHER``, see the scheduler) every process runs
this module: the main one (``RANK`` 0) owns the job in the store; the others only train alongside it.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

from studio.core.job_events import event_message
from studio.engine.errors import TrainingDataError
from studio.engine.hyperparameters import TrainingConfig, resolve_config
from studio.engine.records import JobRecord
from studio.engine.store import EngineStore

RESULT_COLUMNS = ("step", "train_loss", "train_accuracy", "valid_loss", "valid_mean_token_accuracy")


def fine_tuned_model_name(job: JobRecord) -> str:
    """``ft:<base>:<suffix>:<job id>`` (empty suffix when none was given, as OpenAI does)."""
    return f"ft:{job.model}:{job.suffix or ''}:{job.id}"


def result_csv(rows: list[dict[str, Any]]) -> str:
    """OpenAI's per-step results file from the job's metrics, one row per step (the latest)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(RESULT_COLUMNS)
    latest = {row["step"]: row for row in rows}  # a resumed job trains the steps after its checkpoint again
    for row in (latest[step] for step in sorted(latest)):
        values = [
            row.get("step"),
            row.get("train_loss"),
            row.get("train_mean_token_accuracy"),
            row.get("valid_loss"),
            row.get("valid_mean_token_accuracy"),
        ]
        writer.writerow(["" if v is None else (f"{v:.6f}" if isinstance(v, float) else v) for v in values])
    return out.getvalue()


def is_main_process() -> bool:
    """Whether this process owns the job: the only one, or rank 0 of an ``accelerate launch``/``torchrun``."""
    return int(os.environ.get("RANK", "0")) == 0


def run_job(store: EngineStore, job_id: str, *, models_dir: Path | None = None) -> str:
    """Run (or resume) a queued job to its end; returns its final status."""
    from studio.engine import models, trainer
    from studio.engine.encoding import read_examples

    job = store.get_job(job_id)
    if not is_main_process():
        return _train_alongside(store, job, models_dir)
    if not store.update_job(
        job_id,
        expect=("queued",),
        status="running",
        worker_pid=os.getpid(),
        started_at=job.started_at or int(time.time()),
    ):
        return store.get_job(job_id).status
    stopping = {"flag": False}
    signal.signal(signal.SIGTERM, lambda *_: stopping.update(flag=True))
    ft_name = fine_tuned_model_name(job)
    job_dir = store.job_dir(job_id)

    def control() -> trainer.Control:
        status = store.get_job(job_id).status
        if status == "cancelled":
            return "cancel"
        if status == "paused":
            return "pause"
        if stopping["flag"]:
            return "suspend"
        return "continue" if status == "running" else "cancel"

    pace = {"since": time.monotonic(), "steps": 0}

    def on_metrics(metrics: dict[str, Any]) -> None:
        step, total = metrics["step"], metrics["total_steps"]
        losses = {"train_loss": f"{metrics['train_loss']:.4f}"}
        if "valid_loss" in metrics:
            losses["valid_loss"] = f"{metrics['valid_loss']:.4f}"
        message = event_message(
            "step_valid" if "valid_loss" in losses else "step", step=step, total_steps=total, **losses
        )
        store.add_event(job_id, message, type="metrics", data=metrics)
        pace["steps"] += 1
        per_step = (time.monotonic() - pace["since"]) / pace["steps"]
        remaining = metrics["total_steps"] - metrics["step"]
        store.update_job(job_id, estimated_finish=int(time.time() + per_step * remaining))

    def on_checkpoint(step: int, path: Path, metrics: dict[str, Any]) -> None:
        store.add_checkpoint(job_id, step=step, model_id=f"{ft_name}:ckpt-step-{step}", path=path, metrics=metrics)
        store.add_event(job_id, event_message("checkpoint", step=step))

    try:
        base = models.materialize(job.base_source, models_dir, log=lambda m: _event(store, job_id, m))
        train_examples = read_examples(store.file_path(job.training_file))
        valid_examples = (
            read_examples(store.file_path(job.validation_file), name="validation_file") if job.validation_file else None
        )
        config = _config(job, base, train_examples)
        resolved = {k: getattr(config, k) for k in ("n_epochs", "batch_size", "learning_rate_multiplier")}
        store.update_job(job_id, hyperparameters={**job.hyperparameters, **resolved})
        if trainer.resume_step(job_dir) is None:
            store.add_event(job_id, event_message("started"))
        result = trainer.train(
            base=base,
            train_examples=train_examples,
            valid_examples=valid_examples,
            config=config,
            job_dir=job_dir,
            callbacks=trainer.TrainingCallbacks(
                control=control,
                on_message=lambda m: _event(store, job_id, m),
                on_metrics=on_metrics,
                on_checkpoint=on_checkpoint,
            ),
        )
    except TrainingDataError as exc:
        param = exc.param if exc.param in ("training_file", "validation_file") else "training_file"
        _fail(store, job_id, f"invalid_{param}", str(exc), param)
        return "failed"
    except Exception as exc:
        traceback.print_exc()
        _fail(store, job_id, "training_error", f"{type(exc).__name__}: {exc}", None)
        return "failed"

    if result.status == "cancelled":
        store.add_event(job_id, event_message("cancelled_at", step=result.step, total_steps=result.total_steps))
        return "cancelled"
    if result.status == "paused":
        store.update_job(job_id, trained_tokens=result.trained_tokens)
        store.add_event(job_id, event_message("paused_at", step=result.step, total_steps=result.total_steps))
        return "paused"
    if result.status == "suspended":
        store.update_job(job_id, expect=("running",), status="queued")
        store.add_event(job_id, event_message("suspended", step=result.step), level="warn")
        return "queued"
    with tempfile.NamedTemporaryFile("w", delete=False, suffix=".csv", dir=store.home) as handle:
        handle.write(result_csv(store.metric_rows(job_id)))
    results = store.add_file(Path(handle.name), filename="step_metrics.csv", purpose="fine-tune-results")
    assert result.adapter_dir is not None
    store.add_model(ft_name, base=job.model, job_id=job_id, path=result.adapter_dir)
    store.update_job(
        job_id,
        expect=("running", "paused"),
        status="succeeded",
        estimated_finish=None,
        fine_tuned_model=ft_name,
        trained_tokens=result.trained_tokens,
        result_files=[results.id],
        finished_at=int(time.time()),
    )
    store.add_event(job_id, event_message("model_created", model=ft_name))
    store.add_event(job_id, event_message("succeeded"))
    return "succeeded"


def _config(job: JobRecord, base: str, train_examples: list[dict[str, Any]]) -> TrainingConfig:
    """The job's concrete config: "auto" resolved for its training file; with packing and an "auto" multiplier,
    the rate follows the examples a packed step takes (:func:`~studio.engine.hyperparameters.packed_multiplier`).
    The same on every process of a launched job."""
    from studio.engine import trainer

    config = resolve_config(job.hyperparameters, n_examples=len(train_examples), seed=job.seed)
    if not config.packing or job.hyperparameters.get("learning_rate_multiplier", "auto") != "auto":
        return config
    per_step = trainer.packed_examples_per_step(base, train_examples, config)
    return resolve_config(
        job.hyperparameters, n_examples=len(train_examples), seed=job.seed, examples_per_step=per_step
    )


def _train_alongside(store: EngineStore, job: JobRecord, models_dir: Path | None) -> str:
    """A non-main process of a launched job: the same training, nothing written to the store (the main process
    reports, saves and decides when to stop). Returns the training's status."""
    from studio.engine import models, trainer
    from studio.engine.encoding import read_examples

    base = models.materialize(job.base_source, models_dir, log=lambda m: None)
    train_examples = read_examples(store.file_path(job.training_file))
    valid_examples = (
        read_examples(store.file_path(job.validation_file), name="validation_file") if job.validation_file else None
    )
    config = _config(job, base, train_examples)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the main process saves the state and tells the others
    result = trainer.train(
        base=base,
        train_examples=train_examples,
        valid_examples=valid_examples,
        config=config,
        job_dir=store.job_dir(job.id),
    )
    return result.status


def _event(store: EngineStore, job_id: str, message: str) -> None:
    store.add_event(job_id, message)


def _fail(store: EngineStore, job_id: str, code: str, message: str, param: str | None) -> None:
    store.update_job(
        job_id,
        expect=("running", "paused", "queued", "validating_files"),
        status="failed",
        error={"code": code, "message": message, "param": param},
        finished_at=int(time.time()),
    )
    store.add_event(job_id, event_message("failed", error=message), level="error")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m studio.engine.worker")
    parser.add_argument("job_id")
    parser.add_argument("--home", required=True)
    parser.add_argument("--models-dir")
    args = parser.parse_args(argv)
    store = EngineStore(Path(args.home))
    try:
        status = run_job(store, args.job_id, models_dir=Path(args.models_dir) if args.models_dir else None)
    finally:
        if is_main_process():
            store.update_job(args.job_id, worker_pid=None)
    print(f"{args.job_id}: {status}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
