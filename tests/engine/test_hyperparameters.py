"""The engine's "auto" hyperparameters: the calibrated learning rate, and explicit values kept as given."""

from __future__ import annotations

import pytest

from studio.core.training import auto_epochs
from studio.engine.hyperparameters import AUTO_LEARNING_RATE_MULTIPLIER, BASE_LEARNING_RATE, resolve_config

pytest_plugins = ("tests.engine_fixtures",)


@pytest.mark.parametrize("n_examples", [10, 16, 60, 500])
def test_auto_learning_rate_is_the_calibrated_2e_4_for_every_size_of_the_table(n_examples):
    # bench/calibration.py, README "Calibrating the auto settings": 2e-4 keeps ppl ≤ 1.5× base and teaches the style
    config = resolve_config({"learning_rate_multiplier": "auto"}, n_examples=n_examples, seed=0)
    assert AUTO_LEARNING_RATE_MULTIPLIER == 0.2
    assert config.learning_rate_multiplier == 0.2
    assert config.learning_rate == pytest.approx(2e-4)
    assert resolve_config({}, n_examples=n_examples, seed=0) == config  # missing means auto


def test_auto_for_sixteen_examples_is_the_tables_row():
    config = resolve_config({}, n_examples=16, seed=0)
    assert (config.n_epochs, config.batch_size, config.learning_rate) == (6, 4, pytest.approx(2e-4))
    assert config.n_epochs == auto_epochs(16)  # the Cost page's figure


@pytest.mark.parametrize("multiplier", [0.02, 0.2, 1.0, 2.0])
def test_an_explicit_multiplier_is_respected(multiplier):
    config = resolve_config({"learning_rate_multiplier": multiplier}, n_examples=16, seed=0)
    assert config.learning_rate_multiplier == multiplier
    assert config.learning_rate == pytest.approx(multiplier * BASE_LEARNING_RATE)


def test_explicit_epochs_and_batch_size_are_respected():
    config = resolve_config({"n_epochs": 2, "batch_size": 8, "learning_rate_multiplier": "auto"}, n_examples=16, seed=0)
    assert (config.n_epochs, config.batch_size) == (2, 8)
    assert config.learning_rate == pytest.approx(2e-4)


def test_auto_batch_size_when_packing_is_one_row_and_an_explicit_one_is_kept():
    assert resolve_config({"packing": True}, n_examples=60, seed=0).batch_size == 1
    assert resolve_config({"packing": True, "batch_size": "auto"}, n_examples=2, seed=0).batch_size == 1
    assert resolve_config({"packing": True, "batch_size": 3}, n_examples=60, seed=0).batch_size == 3
    assert resolve_config({"packing": False}, n_examples=60, seed=0).batch_size == 4


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sixteen_style_chats_at_auto_settings_learn_the_style_and_keep_the_base_fluency(smollm2_dir, tmp_path):
    """The issue's case: 16 short pirate chats, everything "auto", must teach the style (≥ 5 of the 12 unseen
    prompts answered with pirate words; the calibration measured 9) without wrecking plain English (held-out
    perplexity ≤ 1.5× base; measured 0.96×)."""
    pytest.importorskip("peft")
    from bench.calibration import STYLE_LEARNED_AT, score
    from studio.engine.encoding import read_examples
    from studio.engine.trainer import train
    from tests.engine_support import ROOT

    examples = read_examples(ROOT / "sample_data" / "style_demo.jsonl")[:16]
    config = resolve_config(
        {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}, n_examples=16, seed=42
    )
    result = train(base=str(smollm2_dir), train_examples=examples, valid_examples=None, config=config, job_dir=tmp_path)
    assert result.status == "succeeded" and result.step == 24  # 6 epochs × 4 steps
    base = score(str(smollm2_dir), None, style=True)
    tuned = score(str(smollm2_dir), result.adapter_dir, style=True)
    assert base["styled"] == 0, base["answers"]
    assert tuned["styled"] >= STYLE_LEARNED_AT, tuned["answers"]
    assert tuned["ppl"] <= 1.5 * base["ppl"], (tuned["ppl"], base["ppl"])
