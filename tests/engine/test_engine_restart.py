"""The engine survives restarts: files, jobs, events and checkpoints persist; running jobs resume or fail clearly."""

from __future__ import annotations

import os
import signal

import pytest

from studio.engine.store import EngineStore
from studio.engine.trainer import resume_step
from tests.engine_support import TINY, EngineProcess, wait_for_event, wait_for_metrics, wait_for_status
from tests.waiting import wait_until

pytest_plugins = ("tests.engine_fixtures",)

pytest.importorskip("torch")
pytest.importorskip("peft")


def _messages(client, job_id: str) -> list[str]:
    return [e.message for e in client.fine_tuning.jobs.list_events(job_id, limit=1000).data]


def test_graceful_stop_suspends_the_running_job_and_the_next_start_resumes_it(tiny_model_dir, chat_file, tmp_path):
    home = tmp_path / "engine"
    first = EngineProcess(home, models={TINY: tiny_model_dir}, threads=1)
    try:
        client = first.client()
        file_id = client.files.create(file=chat_file.open("rb"), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(
            model=TINY, training_file=file_id, hyperparameters={"n_epochs": 40, "batch_size": 1}
        )
        wait_for_metrics(client, job.id, min_step=2)
    finally:
        first.stop()

    store = EngineStore(home)
    assert store.get_job(job.id).status == "queued"  # suspended, not left "running"
    saved = resume_step(store.job_dir(job.id))
    assert saved is not None and saved >= 2

    second = EngineProcess(home, models={TINY: tiny_model_dir}, threads=1)
    try:
        client = second.client()
        assert file_id in {f.id for f in client.files.list()}
        resumed = wait_for_event(client, job.id, lambda e: e.message.startswith("Resumed from step"))
        assert resumed.message == f"Resumed from step {saved}/480"
        assert any(m.startswith("Engine stopping: job will resume from step") for m in _messages(client, job.id))
        client.fine_tuning.jobs.cancel(job.id)
        wait_for_status(client, job.id, {"cancelled"})
    finally:
        second.stop()


def test_after_a_crash_jobs_resume_from_their_checkpoint_or_fail_clearly(tiny_model_dir, chat_file, tmp_path):
    home = tmp_path / "engine"
    first = EngineProcess(home, models={TINY: tiny_model_dir}, threads=1)
    store = EngineStore(home)
    try:
        client = first.client()
        file_id = client.files.create(file=chat_file.open("rb"), purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(
            model=TINY, training_file=file_id, hyperparameters={"n_epochs": 40, "batch_size": 1}
        )
        doomed = client.fine_tuning.jobs.create(model=TINY, training_file=file_id)
        wait_for_metrics(client, job.id, min_step=14)  # past the first epoch's checkpoint (step 12)
        worker_pid = store.get_job(job.id).worker_pid
        assert worker_pid
    finally:
        first.kill()
    os.kill(worker_pid, signal.SIGKILL)  # the machine went down: server and worker die at once
    wait_until(lambda: _dead(worker_pid), timeout=30, interval=0.05, message=f"the killed worker {worker_pid} to die")
    assert store.get_job(job.id).status == "running"
    # A job that was running when the engine died, before it wrote any checkpoint:
    store.update_job(doomed.id, status="running", worker_pid=None)

    second = EngineProcess(home, models={TINY: tiny_model_dir}, threads=1)
    try:
        client = second.client()
        failed = wait_for_status(client, doomed.id, {"failed"}, timeout=30)
        assert failed.error.code == "engine_restarted" and "create the job again" in failed.error.message
        saved = resume_step(store.job_dir(job.id))
        assert saved is not None and saved >= 12
        resumed = wait_for_event(client, job.id, lambda e: e.message.startswith("Resumed from step"))
        assert resumed.message == f"Resumed from step {saved}/480"
        assert any(m.endswith(f"resuming from step {saved}") for m in _messages(client, job.id))
        assert [c.step_number for c in client.fine_tuning.jobs.checkpoints.list(job.id).data][-1] == 12
        client.fine_tuning.jobs.cancel(job.id)
        wait_for_status(client, job.id, {"cancelled"})
    finally:
        second.stop()


def _dead(pid: int) -> bool:
    """Gone, or a zombie nobody reaps yet (an orphan under a container's PID 1)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True
