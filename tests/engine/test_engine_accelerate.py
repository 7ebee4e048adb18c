"""The engine's job worker under a distributed launcher (``$STUDIO_ENGINE_LAUNCHER``): two CPU processes (gloo)
train one job together and give the one-process run's losses and adapter."""

from __future__ import annotations

import sys

import pytest

from studio.engine.encoding import read_examples
from studio.engine.hyperparameters import resolve_config
from studio.engine.trainer import TrainingCallbacks, train
from tests.engine_support import TINY, EngineProcess, wait_for_status, write_chat_file

pytest_plugins = ("tests.engine_fixtures",)


@pytest.mark.slow  # two training processes on a 2-core machine: about a minute
def test_a_job_trained_by_two_processes_matches_the_one_process_run(tiny_model_dir, tmp_path, monkeypatch):
    from safetensors.torch import load_file

    chat_file = write_chat_file(tmp_path / "train.jsonl", n=10)
    # torchrun is what `accelerate launch --multi_gpu` runs; on CPU accelerate needs ACCELERATE_USE_CPU to use gloo.
    monkeypatch.setenv("STUDIO_ENGINE_LAUNCHER", f"{sys.executable} -m torch.distributed.run --nproc_per_node 2")
    monkeypatch.setenv("ACCELERATE_USE_CPU", "true")
    engine = EngineProcess(tmp_path / "engine", models={TINY: tiny_model_dir}, threads=1)
    try:
        client = engine.client()
        with open(chat_file, "rb") as handle:
            uploaded = client.files.create(file=handle, purpose="fine-tune")
        hyperparameters = {"n_epochs": 2, "batch_size": 4, "learning_rate_multiplier": 10}
        job = client.fine_tuning.jobs.create(
            model=TINY,
            training_file=uploaded.id,
            seed=7,
            method={"type": "supervised", "supervised": {"hyperparameters": hyperparameters}},
        )
        job = wait_for_status(client, job.id, {"succeeded", "failed", "cancelled"}, timeout=600)
        assert job.status == "succeeded", [p.read_text()[-3000:] for p in (engine.home / "jobs").glob("*/worker.log")]
        events = client.fine_tuning.jobs.list_events(job.id, limit=100).data
        distributed = sorted((e.data for e in events if e.type == "metrics"), key=lambda d: d["step"])
        checkpoints = client.fine_tuning.jobs.checkpoints.list(job.id).data
        job_dir = engine.home / "jobs" / job.id
    finally:
        engine.stop()
    assert [m["step"] for m in distributed] == [1, 2, 3, 4, 5, 6]  # one metrics event per step: the main process
    assert sorted(c.step_number for c in checkpoints) == [3, 6]

    monkeypatch.delenv("ACCELERATE_USE_CPU")
    examples = read_examples(chat_file)
    alone: list[dict] = []
    result = train(
        base=str(tiny_model_dir),
        train_examples=examples,
        valid_examples=None,
        config=resolve_config(hyperparameters, n_examples=len(examples), seed=7),
        job_dir=tmp_path / "alone",
        callbacks=TrainingCallbacks(on_metrics=alone.append),
    )
    assert [m["train_loss"] for m in distributed] == pytest.approx([m["train_loss"] for m in alone], abs=1e-4)
    assert alone[-1]["train_loss"] < alone[0]["train_loss"]
    ours = load_file(result.adapter_dir / "adapter_model.safetensors")
    theirs = load_file(next(job_dir.glob("final*/adapter_model.safetensors")))
    # Adam divides by tiny second moments, which magnifies the last bits that gloo's sum order changes.
    worst = max(float((theirs[name] - tensor).abs().max()) for name, tensor in ours.items())
    scale = max(float(tensor.abs().max()) for tensor in ours.values())
    assert worst <= 1e-3 * scale, (worst, scale)
