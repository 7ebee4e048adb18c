"""``studio train`` headless against a real local engine (tiny model)."""

from __future__ import annotations

import json

from studio.cli import main
from tests.engine_support import TINY, write_chat_file

pytest_plugins = ("tests.engine_fixtures",)


def test_train_waits_for_success(app_engine, tmp_path, capsys):
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    code = main(
        [
            "train",
            str(data),
            "--provider",
            "local",
            "--model",
            TINY,
            "--epochs",
            "1",
            "--suffix",
            "cli",
            "--wait",
            "--json",
        ]
    )
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert code == 0, summary
    assert summary["status"] == "succeeded"
    assert summary["fine_tuned_model"].startswith(f"ft:{TINY}:cli:")
    answer = app_engine.client().chat.completions.create(
        model=summary["fine_tuned_model"], max_tokens=5, messages=[{"role": "user", "content": "Ahoy?"}]
    )
    assert answer.usage.completion_tokens > 0


def test_invalid_training_data_exit_2(app_engine, tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}) + "\n")
    assert main(["train", str(bad), "--provider", "local", "--model", TINY]) == 2
    assert "is not valid training data" in capsys.readouterr().err
