"""The settings the Cost page keeps for Train, and what the Train page shows about jobs."""

from types import SimpleNamespace

import pandas as pd
import pytest

from studio.errors import StudioError
from studio.i18n import translator
from studio.providers.job_status import (
    checkpoints_table,
    compare_targets,
    events_table,
    job_progress,
    jobs_table,
    metrics_long,
    status_label,
)
from studio.providers.jobs import JobRecord
from studio.providers.train_settings import (
    LOCAL_BASE,
    TrainSettings,
    apply_preset,
    base_model,
    delete_preset,
    preset_names,
    save_preset,
)
from studio.storage.workspace import Workspace

DEFAULTS = {
    "model": None,
    "epochs": "auto",
    "batch_size": "auto",
    "learning_rate_multiplier": "auto",
    "seed": None,
    "suffix": "",
    "budget_usd": None,
    "lora_rank": None,
    "lora_alpha": None,
    "lora_dropout": None,
    "max_length": None,
    "warmup_ratio": None,
    "packing": False,
}


@pytest.mark.parametrize(
    "saved, expected",
    [
        (None, {}),
        ({}, {}),
        (
            {
                "model": "gpt-4o-mini",
                "epochs": 4,
                "batch_size": 8,
                "learning_rate_multiplier": 0.5,
                "seed": 42,
                "suffix": "faq",
                "budget_usd": 20.0,
            },
            {
                "model": "gpt-4o-mini",
                "epochs": 4,
                "batch_size": 8,
                "learning_rate_multiplier": 0.5,
                "seed": 42,
                "suffix": "faq",
                "budget_usd": 20.0,
            },
        ),
        ({"epochs": 0, "batch_size": 300, "learning_rate_multiplier": 30}, {}),  # out of the job's range: defaults
        ({"epochs": "7", "seed": "1", "suffix": None, "budget_usd": 0}, {}),
        (
            {"lora_rank": 8, "lora_alpha": 16, "lora_dropout": 0.05, "max_length": 512, "warmup_ratio": 0.0},
            {"lora_rank": 8, "lora_alpha": 16.0, "lora_dropout": 0.05, "max_length": 512, "warmup_ratio": 0.0},
        ),
        ({"packing": True}, {"packing": True}),
        # out of the engine's ranges, or of the wrong type: the engine's default
        ({"lora_rank": 0, "lora_alpha": "32", "lora_dropout": 0.95, "max_length": 8.5, "packing": "yes"}, {}),
    ],
)
def test_settings_from_a_kept_dict(saved, expected):
    assert TrainSettings.from_dict(saved).to_dict() == {**DEFAULTS, **expected}


@pytest.mark.parametrize(
    "budget, usd, over", [(None, 5.0, False), (10.0, 5.0, False), (10.0, 10.01, True), (10.0, None, False)]
)
def test_over_budget(budget, usd, over):
    assert TrainSettings(budget_usd=budget).over_budget(usd) is over


@pytest.mark.parametrize(
    "kind, chosen, expected",
    [
        ("local", "gpt-4.1", LOCAL_BASE),
        ("openai", None, LOCAL_BASE),
        ("openai", "local", LOCAL_BASE),
        ("openai", "gpt-4.1", "gpt-4.1"),
    ],
)
def test_base_model(kind, chosen, expected):
    assert base_model(kind, chosen, local_model="local") == expected


def record(**fields):
    base = {
        "id": 1,
        "provider": "local",
        "profile": {"kind": "local"},
        "job_id": None,
        "model": "tiny",
        "suffix": None,
        "status": "queued",
        "fine_tuned_model": None,
        "training_file": None,
        "validation_file": None,
        "dataset_version_id": None,
        "settings": {},
        "estimate_usd": None,
        "trained_tokens": None,
        "error": None,
        "created_at": 0.0,
        "updated_at": 0.0,
    }
    return JobRecord(**{**base, **fields})


def test_jobs_table_and_badges():
    table = jobs_table(
        [
            record(),
            record(id=2, job_id="ftjob-1", status="succeeded", fine_tuned_model="ft:tiny:x"),
            record(id=3, status="odd"),
        ],
    )
    assert table.to_dict("list") == {
        "status": ["⚪ queued", "🟢 succeeded", "⚪ odd"],
        "job": ["—", "ftjob-1", "—"],
        "provider": ["local"] * 3,
        "model": ["tiny", "ft:tiny:x", "tiny"],
    }
    assert status_label("failed") == "🔴 failed"
    headers = translator("es").columns(jobs_table([record()], lang="es")).columns.tolist()
    assert headers == ["estado", "trabajo", "proveedor", "modelo"]  # one style: lower case, like every table


def test_metrics_long_labels_loss_and_accuracy_and_drops_gaps():
    metrics = pd.DataFrame(
        {"step": [1, 2], "train_loss": [2.0, 1.5], "valid_loss": [None, 1.7], "train_mean_token_accuracy": [0.5, 0.6]}
    )
    long = metrics_long(metrics)
    assert len(long) == 5
    assert sorted(set(zip(long["metric"], long["kind"], strict=True))) == [
        ("train_loss", "loss"),
        ("train_mean_token_accuracy", "accuracy"),
        ("valid_loss", "loss"),
    ]


def test_events_checkpoints_and_compare_targets():
    assert list(events_table([]).columns) == ["time", "level", "message"]
    found = [
        SimpleNamespace(
            step_number=s,
            fine_tuned_model_checkpoint=f"ft:tiny:ckpt-{s}",
            metrics=SimpleNamespace(model_dump=lambda s=s: {"train_loss": 1.0 / s}),
        )
        for s in (4, 8, 12, 16)
    ]
    assert checkpoints_table(found)["model"].tolist() == [f"ft:tiny:ckpt-{s}" for s in (4, 8, 12, 16)]
    assert compare_targets(record(), "local", found) == [
        {"name": "base", "kind": "local", "model": "tiny"},
        *({"name": f"step {s}", "kind": "local", "model": f"ft:tiny:ckpt-{s}"} for s in (8, 12, 16)),
    ]


def event(at, message, step=None, total=None):
    data = {"step": step, "total_steps": total} if step is not None else None
    return SimpleNamespace(
        created_at=at, level="info", message=message, type="metrics" if data else "message", data=data
    )


def test_events_read_newest_first_with_readable_times():
    table = events_table([event(1_764_500_000, "Fine-tuning job started"), event(1_764_500_042, "Step 1/10", 1, 10)])
    assert table["message"].tolist() == ["Step 1/10", "Fine-tuning job started"]
    assert str(table["time"][0]) == "2025-11-30 10:54:02+00:00"


def test_job_progress_gives_step_total_and_eta_from_the_time_per_step():
    found = job_progress([event(100, "started"), event(110, "s", 2, 20), event(130, "s", 6, 20)])
    assert (found.step, found.total_steps, found.eta_seconds) == (6, 20, 70.0)
    assert found.share == 0.3
    assert job_progress([event(100, "s", 1, 20)]).eta_seconds is None  # one timed step: no rate yet
    assert job_progress([event(100, "started")]) is None


def test_engine_options_are_only_the_ones_set():
    assert TrainSettings().engine_options() == {}
    settings = TrainSettings(lora_rank=8, warmup_ratio=0.0, packing=True)
    assert settings.engine_options() == {"lora_rank": 8, "warmup_ratio": 0.0, "packing": True}


def test_presets_are_saved_applied_and_kept_in_the_workspace(tmp_path):
    workspace = Workspace(tmp_path / "w.db")
    tuned = TrainSettings(model="gpt-4o-mini", epochs=2, learning_rate_multiplier=0.5, lora_rank=8, packing=True)
    save_preset(workspace, "small sets", tuned)
    save_preset(workspace, "Big", TrainSettings(epochs=1))
    assert preset_names(Workspace(tmp_path / "w.db")) == ["Big", "small sets"]  # survives reopening

    mine = TrainSettings(model="my-model", suffix="faq", budget_usd=5.0, epochs=9, lora_alpha=64.0)
    applied = apply_preset(workspace, "small sets", mine)
    # the preset's hyperparameters, all of them (lora_alpha back to the default); the launch's own fields kept
    assert applied == TrainSettings(
        model="my-model",
        suffix="faq",
        budget_usd=5.0,
        epochs=2,
        learning_rate_multiplier=0.5,
        lora_rank=8,
        packing=True,
    )
    replaced = save_preset(workspace, "small sets", TrainSettings(epochs=3))  # same name: replaced
    assert apply_preset(workspace, "small sets", TrainSettings()).epochs == 3
    assert replaced is not None and replaced["epochs"] == 2 and replaced["packing"] is True  # what it was
    assert save_preset(workspace, "new one", TrainSettings()) is None
    delete_preset(workspace, "new one")
    assert delete_preset(workspace, "Big") and not delete_preset(workspace, "Big")
    assert preset_names(workspace) == ["small sets"]
    with pytest.raises(StudioError, match="no training preset named 'Big'"):
        apply_preset(workspace, "Big", TrainSettings())
    with pytest.raises(StudioError, match="1 to 64 characters"):
        save_preset(workspace, "  ", TrainSettings())


def test_a_checkpoint_table_leaves_out_the_validation_metrics_of_a_job_without_validation_data():
    # What the engine's checkpoints list returns for such a job: every metric named, the validation ones None.
    metrics = {"step": 3.0, "train_loss": 10.4, "valid_loss": None, "full_valid_loss": None}
    found = [SimpleNamespace(step_number=3, fine_tuned_model_checkpoint="ft:tiny:ckpt-3", metrics=None)]
    found[0].metrics = SimpleNamespace(model_dump=lambda: metrics)
    table = checkpoints_table(found)
    assert list(table.columns) == ["step", "model", "train_loss"]
    assert table.to_dict("records") == [{"step": 3, "model": "ft:tiny:ckpt-3", "train_loss": 10.4}]


def test_a_value_no_menu_offers_is_kept_through_a_preset_and_shown_in_the_menu(tmp_path):
    """`studio train --batch-size 3 --learning-rate-multiplier 0.3 --save-preset x` saved "auto" for both (the
    menus offer neither); a value in the job's range is now kept, and the page's menu gains it."""
    from studio.providers.train_settings import BATCH_SIZES, LR_MULTIPLIERS, menu

    workspace = Workspace(tmp_path / "w.db")
    settings = TrainSettings.from_dict({"batch_size": 3, "learning_rate_multiplier": 0.3})
    assert (settings.batch_size, settings.learning_rate_multiplier) == (3, 0.3)
    save_preset(workspace, "x", settings)
    applied = apply_preset(workspace, "x", TrainSettings())
    assert (applied.batch_size, applied.learning_rate_multiplier) == (3, 0.3)
    assert menu(BATCH_SIZES, 3) == ("auto", 1, 2, 3, 4, 8, 16, 32, 64, 128, 256)
    assert menu(LR_MULTIPLIERS, 0.5) is LR_MULTIPLIERS
    for bad in (0, 257, 2.5, "3", True, None):  # out of range or of the wrong type: the default
        assert TrainSettings.from_dict({"batch_size": bad}).batch_size == "auto"
    for bad in (0, -1, 11, float("nan")):
        assert TrainSettings.from_dict({"learning_rate_multiplier": bad}).learning_rate_multiplier == "auto"
