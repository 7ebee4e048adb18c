"""Helpers of the engine tests: real engine servers and SDK polling.

Servers are real: ``studio engine`` in a subprocess, or ``create_app`` under uvicorn in a thread, on a free
loopback port. The fixtures live in :mod:`tests.engine_fixtures` (``pytest_plugins = ("tests.engine_fixtures",)``).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import httpx

from studio.testing.local import free_port
from tests.waiting import wait_until

ROOT = Path(__file__).resolve().parents[1]
TINY = "tiny-llama"


def wait_healthy(base_url: str, *, timeout: float = 60.0, proc: subprocess.Popen | None = None) -> None:
    def healthy() -> bool:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"engine exited with {proc.returncode}")
        return httpx.get(f"{base_url}/health", timeout=1).status_code == 200

    wait_until(
        healthy,
        timeout=timeout,
        interval=0.1,
        ignoring=(httpx.TransportError,),
        message=f"the engine at {base_url} to answer /health",
    )


class EngineProcess:
    """``python -m studio.cli engine`` in a subprocess; its output goes to ``<home>/server.log``."""

    def __init__(
        self,
        home: Path,
        *,
        models: Mapping[str, Path] | None = None,
        api_key: str | None = None,
        extra_args: list[str] | None = None,
        threads: int | None = None,
    ) -> None:
        self.home = home
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        command = [
            sys.executable,
            "-m",
            "studio.cli",
            "engine",
            "--home",
            str(home),
            "--port",
            str(self.port),
        ]
        for name, path in (models or {}).items():
            command += ["--model", f"{name}={path}"]
        if api_key:
            command += ["--api-key", api_key]
        command += extra_args or []
        home.mkdir(parents=True, exist_ok=True)
        self._log = open(home / "server.log", "ab")  # noqa: SIM115 - open for the process's lifetime
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        if threads:  # the tiny model's steps are faster on one thread, above all on a busy machine
            env["STUDIO_ENGINE_THREADS"] = str(threads)
        self.proc = subprocess.Popen(command, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        try:
            wait_healthy(self.base_url, proc=self.proc)
        except Exception:
            self.kill()
            raise

    def client(self, api_key: str = "sk-local", **kwargs: Any):
        import openai

        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=api_key, max_retries=0, **kwargs)

    def stop(self, timeout: float = 60.0) -> int:
        """Ctrl+C: uvicorn shuts down, the engine suspends a running worker."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._log.close()

    def log(self) -> str:
        return (self.home / "server.log").read_text(errors="replace")


class ThreadServer:
    """An app (``create_app(...)``) under uvicorn in a thread of the test process."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> Self:
        self.thread.start()
        wait_healthy(self.base_url, timeout=30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=60)

    def client(self, api_key: str = "sk-local", **kwargs: Any):
        import openai

        return openai.OpenAI(base_url=f"{self.base_url}/v1", api_key=api_key, max_retries=0, **kwargs)


def cli_app(home: Path, **kwargs: Any) -> Any:
    """``create_app(home, **kwargs)`` as ``studio engine`` builds it: uploads checked by the Cost page's validation
    (``studio.cli.engine.validate_upload``), which the engine cannot import itself."""
    from studio.cli.engine import validate_upload
    from studio.engine.app import create_app

    return create_app(home, validate_upload=validate_upload, **kwargs)


def tiny_llama(vocab: int | Any, *, seed: int = 0, **config: Any) -> Any:
    """A randomly initialised 2-layer Llama (hidden 64, 4 heads, 2 key/value heads, tied embeddings) seeded with
    ``seed``, for ``vocab`` tokens or a tokenizer's (then with its bos/eos/pad ids); ``config`` adds to or
    overrides the ``LlamaConfig`` (RoPE, head size...)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    if not isinstance(vocab, int):
        config = {f"{name}_token_id": getattr(vocab, f"{name}_token_id") for name in ("bos", "eos", "pad")} | config
        vocab = len(vocab)
    settings: dict[str, Any] = {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "tie_word_embeddings": True,
    }
    torch.manual_seed(seed)
    return LlamaForCausalLM(LlamaConfig(vocab_size=vocab, **(settings | config)))


def write_chat_file(path: Path, n: int = 12, *, style: str = "Arr matey") -> Path:
    """``n`` short chat examples (OpenAI's JSONL) in ``path``."""
    topics = [
        "tea",
        "rain",
        "bread",
        "sleep",
        "cats",
        "maps",
        "ships",
        "salt",
        "wind",
        "rope",
        "gold",
        "fish",
    ]
    with open(path, "w") as handle:
        for i in range(n):
            topic = topics[i % len(topics)]
            example = {
                "messages": [
                    {"role": "system", "content": "You are terse."},
                    {"role": "user", "content": f"Tell me about {topic} number {i}."},
                    {"role": "assistant", "content": f"{style}, {topic} be grand, number {i}."},
                ]
            }
            handle.write(json.dumps(example) + "\n")
    return path


def wait_for_status(client: Any, job_id: str, statuses: set[str], *, timeout: float = 180.0) -> Any:
    """Poll a job through the SDK until its status is in ``statuses``; returns the job."""
    return wait_until(
        lambda: (job := client.fine_tuning.jobs.retrieve(job_id)).status in statuses and job,
        timeout=timeout,
        message=f"job {job_id} to reach {sorted(statuses)}",
    )


def wait_for_metrics(client: Any, job_id: str, *, min_step: int = 1, timeout: float = 180.0) -> int:
    """Poll a job's events until a metrics event at ``min_step`` or later; returns that step."""
    event = wait_for_event(
        client, job_id, lambda e: e.type == "metrics" and e.data["step"] >= min_step, timeout=timeout, limit=5
    )
    return int(event.data["step"])


def wait_for_event(client: Any, job_id: str, predicate: Any, *, timeout: float = 180.0, limit: int = 1000) -> Any:
    """Poll a job's events until one satisfies ``predicate``; returns it."""
    return wait_until(
        lambda: next((e for e in client.fine_tuning.jobs.list_events(job_id, limit=limit).data if predicate(e)), None),
        timeout=timeout,
        message=f"an event of job {job_id} that matches",
    )
