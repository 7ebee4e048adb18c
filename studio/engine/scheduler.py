"""The job scheduler of the engine: validating_files → queued → one worker process at a time.

It runs as a thread of the server. On each tick it validates new jobs' files, reaps the worker, recovers jobs that a
dead worker left "running" (resumed from their last resume state, or failed with ``engine_restarted``) and starts
the oldest queued job in ``python -m studio.engine.worker``.
"""

from __future__ import annotations

import logging
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from studio.core.job_events import event_message
from studio.engine.errors import NotFoundError, TrainingDataError
from studio.engine.records import ACTIVE_STATUSES, JobRecord
from studio.engine.store import EngineStore

MAX_WORKER_ATTEMPTS = 3
_log = logging.getLogger("studio.engine")


def worker_launcher() -> list[str]:
    """What starts a job's worker module: ``$STUDIO_ENGINE_LAUNCHER`` split like a shell would (for instance
    ``accelerate launch --num_processes 8`` on a GPU box: the training then runs in every process), else this
    Python. The scheduler appends ``-m studio.engine.worker JOB_ID --home HOME``."""
    launcher = os.environ.get("STUDIO_ENGINE_LAUNCHER", "").strip()
    return shlex.split(launcher) if launcher else [sys.executable]


def _worker_alive(pid: int | None, job_id: str) -> bool:
    """Whether ``pid`` is a live worker of ``job_id`` (not a reused pid, not a zombie)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists():
        try:
            return job_id.encode() in cmdline.read_bytes()
        except OSError:
            return False
    return True


IDLE_WAIT = 60.0  # seconds between looks at the store when no job is in flight (requests wake it at once)


class JobScheduler:
    """Moves jobs through validating_files → queued → a worker process, one job at a time."""

    def __init__(self, store: EngineStore, *, models_dir: Path | None, poll_interval: float = 0.5) -> None:
        self.store = store
        self.models_dir = models_dir
        self.poll_interval = poll_interval
        self._proc: subprocess.Popen | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="studio-engine-scheduler", daemon=True)
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, *, grace: float = 20.0) -> None:
        """Stop scheduling; a running worker saves its state (SIGTERM) and is killed after ``grace`` seconds."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def _run(self) -> None:
        while not self._stop.is_set():
            busy = True
            try:
                busy = self.tick()
            except Exception:
                _log.exception("engine scheduler tick failed")
            # Idle, nothing can change unless a request wakes us (a job created, cancelled, paused, resumed):
            # an idle engine then costs no CPU. IDLE_WAIT is only a safety net.
            self._wake.wait(self.poll_interval if busy else IDLE_WAIT)
            self._wake.clear()

    def tick(self) -> bool:
        """One round: validate new jobs' files, notice a finished worker, recover or start the next job.
        Returns whether something is in flight (a worker, or jobs waiting), i.e. whether to look again soon."""
        for job in self.store.jobs_with_status("validating_files"):
            self._validate(job)
        if self._proc is not None:
            if self._proc.poll() is None:
                return True
            self._proc = None
        for job in self.store.jobs_with_status("running"):
            if _worker_alive(job.worker_pid, job.id):
                return True  # a worker started by an earlier engine run is still at it
            self._recover(job)
        queued = self.store.jobs_with_status("queued")
        if queued and not self._stop.is_set():
            self._spawn(queued[0])
        return self._proc is not None or bool(self.store.jobs_with_status("validating_files", "queued", "running"))

    def _validate(self, job: JobRecord) -> None:
        from studio.engine.encoding import read_examples

        for param, file_id in (
            ("training_file", job.training_file),
            ("validation_file", job.validation_file),
        ):
            if file_id is None:
                continue
            try:
                read_examples(self.store.file_path(file_id), name=param)
            except (TrainingDataError, NotFoundError) as exc:
                self._fail(job, f"invalid_{param}", f"{param} {file_id}: {exc}", param)
                return
        self.store.add_event(job.id, event_message("validated"))
        self.store.update_job(job.id, expect=("validating_files",), status="queued")

    def _recover(self, job: JobRecord) -> None:
        from studio.engine.trainer import resume_step

        step = resume_step(self.store.job_dir(job.id))
        if step is not None:
            self.store.update_job(job.id, expect=("running",), status="queued", worker_pid=None)
            self.store.add_event(job.id, event_message("recovered", step=step), level="warn")
        else:
            self._fail(
                job,
                "engine_restarted",
                event_message("lost"),
                None,
            )

    def _fail(self, job: JobRecord, code: str, message: str, param: str | None) -> None:
        self.store.update_job(
            job.id,
            expect=ACTIVE_STATUSES,
            status="failed",
            error={"code": code, "message": message, "param": param},
            finished_at=int(time.time()),
            worker_pid=None,
        )
        self.store.add_event(job.id, event_message("failed", error=message), level="error")

    def _spawn(self, job: JobRecord) -> None:
        job_dir = self.store.job_dir(job.id)
        log_path = job_dir / "worker.log"
        if job.attempts >= MAX_WORKER_ATTEMPTS:
            self._fail(job, "worker_crashed", event_message("crashed", attempts=job.attempts, log=log_path), None)
            return
        job_dir.mkdir(parents=True, exist_ok=True)
        self.store.update_job(job.id, attempts=job.attempts + 1)
        command = [*worker_launcher(), "-m", "studio.engine.worker", job.id, "--home", str(self.store.home)]
        if self.models_dir is not None:
            command += ["--models-dir", str(self.models_dir)]
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        with open(log_path, "ab") as log:
            self._proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
            )
