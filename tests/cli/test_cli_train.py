"""``studio train`` headless against a real local engine (tiny model)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

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


def test_engine_options_presets_and_the_preview(tmp_path, capsys):
    """--preview prints the request and sends nothing (no engine runs here); a saved preset comes back."""
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    flags = ["--lora-rank", "8", "--lora-alpha", "16", "--warmup-ratio", "0", "--packing", "--epochs", "2"]
    base = ["train", str(data), "--provider", "local", "--model", TINY, "--preview"]
    assert main([*base, *flags, "--save-preset", "tiny sets"]) == 0
    body = json.loads(capsys.readouterr().out)
    hyper = body["method"]["supervised"]["hyperparameters"]
    expected = {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    assert hyper == {**expected, "lora_rank": 8, "lora_alpha": 16.0, "warmup_ratio": 0.0, "packing": True}
    assert body["training_file"] == "<training file id>" and body["metadata"]["dataset"] == "train.jsonl"

    assert main([*base, "--preset", "tiny sets", "--batch-size", "2"]) == 0  # a flag overrides the preset
    again = json.loads(capsys.readouterr().out)["method"]["supervised"]["hyperparameters"]
    assert again == {**hyper, "batch_size": 2}

    assert main([*base, "--lora-dropout", "2"]) == 2
    assert "--lora-dropout must be >= 0 and <= 0.9, got 2.0" in capsys.readouterr().err  # the engine's check
    assert main([*base, "--preset", "nope"]) == 2
    assert "no training preset named 'nope'" in capsys.readouterr().err


def test_a_second_engine_with_a_key_is_a_compatible_provider(tiny_model_dir, tmp_path, capsys, monkeypatch):
    """Another engine (another port, its own --api-key) driven by URL and key: a packed job with engine options
    trains there, its model is exported there, and a wrong key is refused with a clear message."""
    from studio.errors import JobError
    from studio.providers.jobs import export_model
    from studio.providers.profiles import Profile, make_client
    from tests.engine_support import EngineProcess

    engine = EngineProcess(tmp_path / "second", models={TINY: tiny_model_dir}, api_key="sk-second", threads=1)
    try:
        url = f"{engine.base_url}/v1"
        monkeypatch.setenv("OPENAI_API_KEY", "sk-second")
        data = write_chat_file(tmp_path / "train.jsonl", n=10)
        args = ["train", str(data), "--provider", "compatible", "--base-url", url, "--model", TINY, "--epochs", "1"]
        code = main([*args, "--packing", "--lora-rank", "4", "--max-length", "128", "--wait", "--json"])
        summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
        assert code == 0 and summary["status"] == "succeeded", summary
        client = make_client(Profile("compatible", base_url=url), api_key="sk-second")
        job = client.fine_tuning.jobs.retrieve(summary["job_id"])
        hyper = job.method.supervised.hyperparameters
        assert hyper.model_extra == {"lora_rank": 4, "max_length": 128, "packing": True}

        exported = export_model(client, summary["fine_tuned_model"], "adapter")
        assert exported["path"].startswith(str(tmp_path / "second" / "exports"))
        assert json.loads((Path(exported["path"]) / "adapter_config.json").read_text())["r"] == 4

        monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
        assert main([*args, "--json"]) == 2
        assert "401" in capsys.readouterr().err
        wrong = make_client(Profile("compatible", base_url=url), api_key="sk-wrong")
        with pytest.raises(JobError, match="401"):
            export_model(wrong, summary["fine_tuned_model"], "hf")
    finally:
        engine.stop()


def test_the_preview_checks_the_validation_file_as_the_training_file(tmp_path, capsys):
    """--preview sent nothing but did not read --validation either: a missing or broken file previewed as fine."""
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    base = ["train", str(data), "--provider", "local", "--model", TINY, "--preview"]
    assert main([*base, "--validation", str(tmp_path / "missing.jsonl")]) == 2
    assert "missing.jsonl" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"messages": [{"role": "user", "content": "only a question"}]}) + "\n")
    assert main([*base, "--validation", str(bad)]) == 2
    assert "bad.jsonl is not valid validation data" in capsys.readouterr().err
    good = write_chat_file(tmp_path / "valid.jsonl", n=10)
    assert main([*base, "--validation", str(good)]) == 0
    assert json.loads(capsys.readouterr().out)["validation_file"] == "<validation file id>"


def test_engine_options_for_openai_are_named_as_not_sent(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    args = ["train", str(data), "--provider", "openai", "--model", "gpt-4o-mini-2024-07-18", "--preview"]
    assert main([*args, "--packing", "--lora-rank", "8"]) == 0
    captured = capsys.readouterr()
    assert "not sent to openai (options of the studio engine only): lora_rank, packing" in captured.err
    hyper = json.loads(captured.out)["method"]["supervised"]["hyperparameters"]
    assert "packing" not in hyper and "lora_rank" not in hyper
    assert main(args) == 0
    assert "not sent" not in capsys.readouterr().err


@pytest.mark.parametrize("provider", ["local", "openai"])
@pytest.mark.parametrize(
    "flags,message",
    [
        (["--learning-rate-multiplier", "nan"], "--learning-rate-multiplier must be > 0 and <= 10, got nan"),
        (["--learning-rate-multiplier", "-1"], "--learning-rate-multiplier must be > 0 and <= 10, got -1"),
        (["--learning-rate-multiplier", "x"], "--learning-rate-multiplier must be a number or auto, got 'x'"),
        (["--epochs", "0"], "--epochs must be >= 1 and <= 50, got 0"),
        (["--epochs", "-1"], "--epochs must be >= 1 and <= 50, got -1"),
        (["--epochs", "1.5"], '--epochs must be an integer or "auto", got 1.5'),
        (["--batch-size", "0"], "--batch-size must be >= 1 and <= 256, got 0"),
        (["--lora-dropout", "nan"], "--lora-dropout must be >= 0 and <= 0.9, got nan"),
    ],
)
def test_every_hyperparameter_is_checked_before_anything_is_uploaded_or_recorded(
    tmp_path, capsys, monkeypatch, provider, flags, message
):
    """NaN crashed with a traceback after the upload and left a record "uploading"; 0 or 1.5 epochs were refused
    by the engine only after the upload. Now: one line naming the flag, exit 2, nothing sent, nothing recorded."""
    from studio.providers.jobs import list_jobs
    from studio.storage.workspace import Workspace

    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-used-here")
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    model = TINY if provider == "local" else "gpt-4o-mini-2024-07-18"
    args = ["train", str(data), "--provider", provider, "--model", model, *flags]
    for preview in ([], ["--preview"]):  # --preview printed "learning_rate_multiplier": NaN, not JSON
        assert main([*args, *preview]) == 2
        captured = capsys.readouterr()
        assert captured.err == f"error: {message}\n" and captured.out == ""
    assert list_jobs(Workspace()) == []


def test_too_few_examples_is_said_in_words(tmp_path, capsys):
    data = write_chat_file(tmp_path / "train8.jsonl", n=8)
    assert main(["train", str(data), "--provider", "local", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "error: train8.jsonl is not valid training data: 8 examples; OpenAI requires at least 10"
        " (too_few_examples)\n"
    )


def test_saving_a_preset_says_so_and_what_it_replaced(tmp_path, capsys):
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    base = ["train", str(data), "--provider", "local", "--model", TINY, "--preview", "--save-preset", "tiny"]
    assert main([*base, "--epochs", "2", "--packing"]) == 0
    assert capsys.readouterr().err == "saved preset 'tiny'; --preview sent no job\n"
    assert main([*base, "--epochs", "3"]) == 0
    assert capsys.readouterr().err == "replaced preset 'tiny' (it was: epochs=2, packing=True); --preview sent no job\n"


def test_no_packing_overrides_a_presets_packing(tmp_path, capsys):
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    base = ["train", str(data), "--provider", "local", "--model", TINY, "--preview"]
    assert main([*base, "--packing", "--save-preset", "packed"]) == 0
    capsys.readouterr()

    def hyper(*flags):
        assert main([*base, "--preset", "packed", *flags]) == 0
        return json.loads(capsys.readouterr().out)["method"]["supervised"]["hyperparameters"]

    assert hyper()["packing"] is True  # the preset's
    assert "packing" not in hyper("--no-packing")  # the flag given wins: the engine's default, off
    assert hyper("--packing")["packing"] is True


@pytest.mark.parametrize(
    "key,expected",
    [
        (None, "No API key was sent, and the server requires one (401). Set OPENAI_API_KEY to the server's key."),
        ("sk-wrong", "The API key was rejected (401). Check the key."),
    ],
)
def test_a_missing_key_is_not_called_rejected(tmp_path, capsys, monkeypatch, key, expected):
    """Both cases said "The API key was rejected (401). Check the key, or use the Local engine profile.";
    the failed launch is recorded as not started, never left "uploading"."""
    from studio.providers.jobs import list_jobs
    from studio.storage.workspace import Workspace
    from studio.testing.server import Behaviour, TestServer

    if key:
        monkeypatch.setenv("OPENAI_API_KEY", key)
    data = write_chat_file(tmp_path / "train.jsonl", n=10)
    with TestServer(Behaviour(api_key="sk-server")) as server:
        args = ["train", str(data), "--provider", "compatible", "--base-url", server.url, "--model", TINY]
        assert main(args) == 2
    assert capsys.readouterr().err == f"error: {expected}\n"
    [record] = list_jobs(Workspace())
    assert record.status == "not_started"
