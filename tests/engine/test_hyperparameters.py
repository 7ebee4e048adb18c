"""The engine's "auto" hyperparameters: the calibrated learning rate, and explicit values kept as given."""

from __future__ import annotations

import pytest

from studio.core.training import auto_epochs
from studio.engine.hyperparameters import AUTO_LEARNING_RATE_MULTIPLIER, BASE_LEARNING_RATE, resolve_config

pytest_plugins = ("tests.engine_fixtures",)


@pytest.mark.parametrize("n_examples", [10, 16, 60])
def test_auto_learning_rate_is_the_calibrated_2e_4_for_the_small_sets_of_the_table(n_examples):
    # bench/calibration.py, README "Calibrating the auto settings": 2e-4 keeps ppl ≤ 1.5× base and teaches the style
    config = resolve_config({"learning_rate_multiplier": "auto"}, n_examples=n_examples, seed=0)
    assert AUTO_LEARNING_RATE_MULTIPLIER == 0.2
    assert config.learning_rate_multiplier == 0.2
    assert config.learning_rate == pytest.approx(2e-4)
    assert resolve_config({}, n_examples=n_examples, seed=0) == config  # missing means auto


def test_a_long_auto_run_gets_a_lower_rate_and_an_explicit_one_is_kept():
    """500 chats × 3 epochs at 2e-4 ended at 1.57× the base's held-out perplexity (README table): "auto" now
    scales the rate by the square root of 400 example passes over the run's, never below a quarter."""
    from studio.engine.hyperparameters import long_run_factor

    assert long_run_factor(96) == long_run_factor(400) == 1.0
    assert long_run_factor(1600) == pytest.approx(0.5)
    assert long_run_factor(10**7) == 0.25
    config = resolve_config({}, n_examples=500, seed=0)
    assert config.n_epochs == 3
    assert config.learning_rate == pytest.approx(2e-4 * (400 / 1500) ** 0.5)  # 1.03e-4, the measured row
    assert resolve_config({"n_epochs": 1}, n_examples=400, seed=0).learning_rate == pytest.approx(2e-4)
    assert resolve_config({}, n_examples=10**6, seed=0).learning_rate == pytest.approx(5e-5)
    kept = resolve_config({"learning_rate_multiplier": 0.2}, n_examples=500, seed=0)
    assert kept.learning_rate == pytest.approx(2e-4)  # explicit: used as given
    packed = resolve_config({"packing": True}, n_examples=500, seed=0, examples_per_step=16)
    assert packed.learning_rate_multiplier == pytest.approx(0.8 * (400 / 1500) ** 0.5)  # packed alike


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


def test_a_packed_auto_rate_grows_with_the_examples_a_step_takes():
    from studio.engine.hyperparameters import PACKED_MULTIPLIER_MAX, packed_multiplier

    assert packed_multiplier(16) == pytest.approx(0.8)  # 16 chats a row: 4 padded steps' worth
    assert packed_multiplier(10) == pytest.approx(0.5)
    assert packed_multiplier(2) == AUTO_LEARNING_RATE_MULTIPLIER  # never below the padded rate
    assert packed_multiplier(500) == pytest.approx(AUTO_LEARNING_RATE_MULTIPLIER * PACKED_MULTIPLIER_MAX)
    packed = {"packing": True}
    assert resolve_config(packed, n_examples=60, seed=0, examples_per_step=15).learning_rate_multiplier == 0.75
    explicit = {"packing": True, "learning_rate_multiplier": 0.1}
    assert resolve_config(explicit, n_examples=60, seed=0, examples_per_step=15).learning_rate_multiplier == 0.1
    padded = resolve_config({}, n_examples=60, seed=0, examples_per_step=15)
    assert padded.learning_rate_multiplier == AUTO_LEARNING_RATE_MULTIPLIER  # no packing: the calibrated rate


def test_a_packed_job_with_an_auto_rate_gets_the_rate_of_its_rows(tiny_model_dir, tmp_path):
    """The engine's worker packs the job's file as the trainer will, and the "auto" rate follows: 12 short chats
    in one row are 3 padded steps' worth of examples a step, so 3 × 0.2."""
    from studio.engine.encoding import read_examples
    from studio.engine.store import EngineStore
    from studio.engine.worker import _config
    from tests.engine_support import TINY, write_chat_file

    examples = read_examples(write_chat_file(tmp_path / "t.jsonl", n=12))
    store = EngineStore(tmp_path / "engine")

    def config(hyperparameters):
        job = store.create_job(
            model=TINY,
            base_source={"kind": "path", "path": str(tiny_model_dir)},
            training_file="file-x",
            validation_file=None,
            suffix=None,
            seed=1,
            hyperparameters=hyperparameters,
        )
        return _config(job, str(tiny_model_dir), examples)

    assert config({"packing": True}).learning_rate_multiplier == pytest.approx(0.6)
    assert (
        config({"packing": True, "batch_size": 1, "max_length": 128}).learning_rate_multiplier == 0.2
    )  # 4 a row: a padded step
    assert config({"packing": True, "learning_rate_multiplier": 1.5}).learning_rate_multiplier == 1.5
    assert config({}).learning_rate_multiplier == AUTO_LEARNING_RATE_MULTIPLIER


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_sixteen_style_chats_at_auto_settings_learn_the_style_and_keep_the_base_fluency(smollm2_dir, tmp_path):
    """The issue's case: 16 short pirate chats, everything "auto", must teach the style (≥ 5 of the 12 unseen
    prompts answered with pirate words; the calibration measured 9) without wrecking plain English (held-out
    perplexity ≤ 1.5× base; measured 0.96×). Packed too: the 16 chats in one row, 6 steps instead of 24, at the
    rate the engine's worker gives a packed "auto" job (0 of 12 styled at the padded rate; measured 12 of 12)."""
    pytest.importorskip("peft")
    from bench.calibration import STYLE_LEARNED_AT, score
    from studio.engine.encoding import read_examples
    from studio.engine.trainer import packed_examples_per_step, train
    from tests.engine_support import ROOT

    examples = read_examples(ROOT / "sample_data" / "style_demo.jsonl")[:16]
    auto = {"n_epochs": "auto", "batch_size": "auto", "learning_rate_multiplier": "auto"}
    config = resolve_config(auto, n_examples=16, seed=42)
    result = train(
        base=str(smollm2_dir), train_examples=examples, valid_examples=None, config=config, job_dir=tmp_path / "a"
    )
    assert result.status == "succeeded" and result.step == 24  # 6 epochs × 4 steps
    packed = resolve_config({**auto, "packing": True}, n_examples=16, seed=42)
    per_step = packed_examples_per_step(str(smollm2_dir), examples, packed)
    packed = resolve_config({**auto, "packing": True}, n_examples=16, seed=42, examples_per_step=per_step)
    assert per_step == 16 and packed.learning_rate_multiplier == pytest.approx(0.8)
    packed_result = train(
        base=str(smollm2_dir), train_examples=examples, valid_examples=None, config=packed, job_dir=tmp_path / "p"
    )
    assert packed_result.status == "succeeded" and packed_result.step == 6  # 6 epochs × 1 row
    base = score(str(smollm2_dir), None, style=True)
    assert base["styled"] == 0, base["answers"]
    for adapter in (result.adapter_dir, packed_result.adapter_dir):
        tuned = score(str(smollm2_dir), adapter, style=True)
        assert tuned["styled"] >= STYLE_LEARNED_AT, (adapter, tuned["answers"])
        assert tuned["ppl"] <= 1.5 * base["ppl"], (adapter, tuned["ppl"], base["ppl"])
