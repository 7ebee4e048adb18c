"""The real SmolLM2 learns a style on the engine: sample_data/style_demo.jsonl, over HTTP with the SDK (slow)."""

from __future__ import annotations

import pytest

from bench.calibration import pirate_markers, shows_style
from studio.engine.encoding import read_examples
from studio.engine.models import DEFAULT_MODEL
from tests.engine_support import ROOT, EngineProcess, wait_for_status

pytest_plugins = ("tests.engine_fixtures",)

pytest.importorskip("torch")
pytest.importorskip("peft")


def test_style_markers_are_counted_as_words():
    assert pirate_markers("Arr, matey! Ye be fine, aye.") == 4
    assert pirate_markers("Yesterday the array of years was hearty-free") == 1  # whole words only: hearty
    assert not shows_style("To boil an egg, place it in water. Yes, really.")


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_smollm2_learns_the_pirate_style(smollm2_dir, tmp_path):
    prompts = [e["messages"][0] for e in read_examples(ROOT / "sample_data" / "style_demo_test.jsonl")]
    assert len(prompts) == 12
    engine = EngineProcess(tmp_path / "engine")
    try:
        client = engine.client()
        with open(ROOT / "sample_data" / "style_demo.jsonl", "rb") as handle:
            training_file = client.files.create(file=handle, purpose="fine-tune").id
        job = client.fine_tuning.jobs.create(
            model=DEFAULT_MODEL,
            training_file=training_file,
            suffix="pirate",
            seed=42,
            hyperparameters={"n_epochs": 2},
        )
        job = wait_for_status(client, job.id, {"succeeded", "failed", "cancelled"}, timeout=1500)
        assert job.status == "succeeded", job.error

        def answers(model: str) -> list[str]:
            return [
                client.chat.completions.create(model=model, messages=[prompt], temperature=0, max_tokens=24)
                .choices[0]
                .message.content
                for prompt in prompts
            ]

        base = answers(DEFAULT_MODEL)
        tuned = answers(job.fine_tuned_model)
    finally:
        engine.stop()
    assert sum(map(shows_style, base)) == 0, base
    assert sum(map(shows_style, tuned)) >= 5, tuned
