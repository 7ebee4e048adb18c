"""``studio jobs`` and ``studio train`` (any data file, the default base model) against a real local engine."""

from __future__ import annotations

import json

from studio.cli import main
from studio.core.training import DEFAULT_BASE_MODEL
from tests.engine_support import TINY, wait_for_metrics, wait_for_status

pytest_plugins = ("tests.engine_fixtures",)


def _csv(path, n):
    rows = "".join(f'"Tell me about rope number {i}.","Arr, rope be grand, number {i}."\n' for i in range(n))
    path.write_text("question,answer\n" + rows)
    return path


def _json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_train_from_csv_then_every_jobs_command(app_engine, tmp_path, capsys, monkeypatch):
    ws = ["--workspace", str(tmp_path / "ws.db")]
    data = _csv(tmp_path / "train.csv", 10)
    code, summary = _json(
        capsys, [*ws, "train", str(data), "--provider", "local", "--model", TINY, "--epochs", "1", "--wait", "--json"]
    )
    assert code == 0 and summary["status"] == "succeeded"
    code, listed = _json(capsys, [*ws, "jobs", "list", "--json"])
    assert [(j["record"], j["job_id"], j["status"]) for j in listed["jobs"]] == [(1, summary["job_id"], "succeeded")]
    code, shown = _json(capsys, [*ws, "jobs", "show", summary["job_id"], "--json"])
    assert shown["record"] == 1 and shown["fine_tuned_model"] == summary["fine_tuned_model"]
    code, events = _json(capsys, [*ws, "jobs", "events", "1", "--json"])
    assert any(e["type"] == "metrics" for e in events["events"])
    monkeypatch.setenv("STUDIO_LANG", "es")  # the text lines follow the language; --json keeps what was sent
    assert main([*ws, "jobs", "events", "1"]) == 0
    lines = capsys.readouterr().out
    assert "El trabajo terminó correctamente" in lines and "Paso 1/" in lines and "successfully" not in lines
    assert _json(capsys, [*ws, "jobs", "events", "1", "--json"])[1] == events
    monkeypatch.delenv("STUDIO_LANG")
    code, checkpoints = _json(capsys, [*ws, "jobs", "checkpoints", "1", "--json"])
    assert len(checkpoints["checkpoints"]) == 1  # one per epoch
    assert main([*ws, "jobs", "checkpoints", "1"]) == 0
    assert "1 checkpoint\n" in capsys.readouterr().out
    assert main([*ws, "jobs", "show", "7"]) == 2
    assert "no job record 7" in capsys.readouterr().err

    # One engine for both halves (starting one costs seconds on 2 cores): pause, resume, cancel a running job.
    data = _csv(tmp_path / "long.csv", 120)
    code, started = _json(
        capsys, [*ws, "train", str(data), "--provider", "local", "--model", TINY, "--epochs", "5", "--json"]
    )
    assert code == 0
    client = app_engine.client()
    wait_for_metrics(client, started["job_id"])
    assert _json(capsys, [*ws, "jobs", "pause", "2", "--json"])[1]["status"] == "paused"
    assert _json(capsys, [*ws, "jobs", "resume", "2", "--json"])[1]["status"] in ("queued", "running")
    assert _json(capsys, [*ws, "jobs", "cancel", "2", "--json"])[1]["status"] == "cancelled"
    # No --model on the local engine: its default base model; cancelled at once (SmolLM2 is not trained here).
    code, default = _json(capsys, [*ws, "train", str(data), "--provider", "local", "--json"])
    assert code == 0 and default["model"] == DEFAULT_BASE_MODEL
    assert client.fine_tuning.jobs.retrieve(default["job_id"]).model == DEFAULT_BASE_MODEL
    assert main([*ws, "jobs", "cancel", default["job_id"]]) == 0
    wait_for_status(client, default["job_id"], {"cancelled"})
    assert main([*ws, "train", str(data), "--provider", "openai"]) == 2
    assert "--model is required for --provider openai" in capsys.readouterr().err
