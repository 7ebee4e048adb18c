"""``studio train`` headless against a real local engine (tiny model)."""

from __future__ import annotations

import json

import pytest

from studio.cli import main
from tests.engine_support import TINY, EngineProcess, write_chat_file

pytest_plugins = ("tests.engine_fixtures",)


@pytest.fixture
def engine(tmp_path, tiny_model_dir, monkeypatch):
    process = EngineProcess(tmp_path / "engine", models={TINY: tiny_model_dir}, threads=1)
    monkeypatch.setenv("STUDIO_ENGINE_URL", f"{process.base_url}/v1")
    yield process
    process.stop()


def test_train_waits_for_success(engine, tmp_path, capsys):
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    code = main(["train", str(data), "--provider", "local", "--model", TINY, "--epochs", "1", "--suffix", "cli",
                 "--wait", "--json"])
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, summary
    assert summary["status"] == "succeeded"
    assert summary["fine_tuned_model"].startswith(f"ft:{TINY}:cli:")
    answer = engine.client().chat.completions.create(model=summary["fine_tuned_model"], max_tokens=5,
                                                     messages=[{"role": "user", "content": "Ahoy?"}])
    assert answer.usage.completion_tokens > 0


def test_invalid_training_data_exit_2(engine, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}) + "\n")
    assert main(["train", str(bad), "--provider", "local", "--model", TINY]) == 2
    assert "is not valid training data" in capsys.readouterr().err
