"""The Train page against a real local engine (tiny model): launch, poll to success, charts, restart survival."""

from __future__ import annotations

import json
import re

from studio.providers.jobs import list_jobs
from studio.storage.workspace import Workspace, import_file
from tests.engine_support import TINY, write_chat_file
from tests.pages.apptest import open_page
from tests.waiting import wait_until

pytest_plugins = ("tests.engine_fixtures",)


def test_launch_and_watch_a_local_job(app_engine, tmp_path):
    import_file(Workspace(), write_chat_file(tmp_path / "pirate.jsonl", n=12))
    at = open_page(
        "train",
        timeout=120,
        train_settings={
            "model": TINY,
            "epochs": 1,
            "batch_size": 4,
            "learning_rate_multiplier": "auto",
            "seed": 7,
            "suffix": "demo",
        },
    )
    assert not at.exception
    assert any("Local engine running" in c.value for c in at.caption)
    assert any("Valid training data: 12 examples" in s.value for s in at.success)
    at.text_input(key="train_model_local").set_value(TINY)
    at.button(key="train_launch").click().run()
    assert not at.exception, at.exception
    assert any(s.value.startswith("Job ftjob-") for s in at.success)
    [record] = list_jobs(Workspace())
    assert record.provider == "local" and record.suffix == "demo"

    wait_until(
        lambda: any("succeeded" in m.value for m in at.run().markdown),
        timeout=240,
        interval=2,
        message="the Train page to show the job succeeded",
    )
    chart = at.get("arrow_vega_lite_chart") or at.get("vega_lite_chart")
    assert chart, "the loss chart is missing"
    assert any(f"ft:{TINY}:demo:" in c.value for c in at.code)
    trained = [c.value for c in at.caption if c.value.startswith("Trained tokens: ")]
    assert len(trained) == 1 and "estimate" not in trained[0], trained  # the local engine is free: no "estimate —"
    at.button(key="compare_checkpoints").click().run()  # base + last checkpoints, preset on the Playground
    assert not at.exception, at.exception
    assert at.title[0].value == "Playground: base vs fine-tuned"
    assert at.sidebar.text_input(key="pg_name_0").value == "base"
    assert at.sidebar.text_input(key="pg_name_1").value.startswith("step ")

    again = open_page("train", timeout=120)  # a restarted app lists the same job
    assert not again.exception
    assert record.job_id in " ".join(str(d.value) for d in again.dataframe)

    spanish = open_page("train", timeout=120, lang="es")  # the job's events as the engine wrote them, in Spanish
    assert not spanish.exception
    [events] = [d.value for d in spanish.dataframe if "mensaje" in d.value.columns]
    said = events["mensaje"].tolist()  # (events of one second may come in any order)
    assert {
        "El trabajo terminó correctamente",
        f"Trabajo de ajuste fino creado: {record.job_id}",
        "Archivos validados; el trabajo pasa a la cola",
        "Empezó el trabajo de ajuste fino",
    } <= set(said)
    assert any(m.startswith(f"Nuevo modelo ajustado creado: ft:{TINY}:demo:") for m in said)
    assert any(m.startswith("Punto de control creado en el paso ") for m in said)
    assert any(m.startswith("Paso 1/") and "pérdida de entrenamiento=" in m for m in said)
    assert not [m for m in said if re.search(r"\b(Step|Job|job|loss|created|Checkpoint|completed)\b", m)]
    assert set(events["nivel"]) == {"información"}


def test_azure_profile_asks_for_endpoint_version_deployment_and_key(tmp_path):
    at = open_page("train")
    at.sidebar.radio(key="train_provider").set_value("azure").run()
    assert not at.exception
    assert {w.key for w in at.sidebar.text_input} >= {
        "train_base_url",
        "train_api_version",
        "train_deployment",
        "train_api_key",
    }
    assert any("No API key for Azure OpenAI" in w.value for w in at.warning)


def test_a_rerun_does_not_export_and_validate_the_chosen_version_again(tmp_path, monkeypatch):
    # 100k rows took 7.5 s to export and validate, and every widget on the page reruns it.
    import studio.providers.training_data as training_data

    import_file(Workspace(), write_chat_file(tmp_path / "pirate.jsonl", n=12))
    validated = []
    real = training_data.validate_bytes
    monkeypatch.setattr(
        training_data,
        "validate_bytes",
        lambda data, **options: validated.append(options["model"]) or real(data, **options),
    )
    at = open_page("train", train_provider="openai")
    assert not at.exception
    assert any("Valid training data: 12 examples" in s.value for s in at.success)
    at.text_input(key="train_suffix").set_value("v2").run()
    at.run()
    assert not at.exception
    assert validated == ["smollm2-135m-instruct"]
    at.text_input(key="train_model_openai").set_value("gpt-4.1-mini").run()  # another model: another token limit
    assert validated == ["smollm2-135m-instruct", "gpt-4.1-mini"]


def test_saved_splits_preselect_train_and_validation_never_test(tmp_path):
    from tests.pages.apptest import facts_with_splits

    workspace, session, info = facts_with_splits(tmp_path, 120, {"train": 0.8, "validation": 0.1, "test": 0.1})

    at = open_page("train", train_provider="openai", dataset=session)
    assert not at.exception
    training = next(s for s in at.selectbox if s.key.startswith("train_version-"))
    validation = next(s for s in at.selectbox if s.key.startswith("valid_version-"))
    assert training.options[training.index].startswith("train (seed 42)")
    assert validation.options[validation.index].startswith("validation (seed 42)")
    assert not any("test split" in w.value for w in at.warning)

    test_split = next(v for v in workspace.versions(info.id) if v.name == "test (seed 42)")
    training.select_index(training.options.index(f"{test_split.name} ({test_split.rows})")).run()
    assert any("saved test split" in w.value for w in at.warning)


def test_a_validation_split_the_engine_would_refuse_is_not_preselected_and_blocks_the_launch(tmp_path):
    # Measured: style_demo (60 rows) split 0.8/0.1/0.1 preselected its 6-example validation split, and the engine
    # refuses an upload with fewer than 10 examples ("6 examples; OpenAI requires at least 10").
    from tests.pages.apptest import facts_with_splits

    workspace, session, info = facts_with_splits(tmp_path, 60, {"train": 0.8, "validation": 0.1, "test": 0.1})
    small = next(v for v in workspace.versions(info.id) if v.name == "validation (seed 42)")
    assert small.rows < 10

    at = open_page("train", train_provider="local", dataset=session)
    assert not at.exception
    validation = next(s for s in at.selectbox if s.key.startswith("valid_version-"))
    assert validation.value is None  # "none"
    assert any(f"has {small.rows} examples" in c.value and "fewer than 10" in c.value for c in at.caption)
    assert not at.button(key="train_launch").disabled

    # Chosen by hand: it is checked like the training file, the error is shown, and the launch is disabled.
    validation.select_index(validation.options.index(f"{small.name} ({small.rows})")).run()
    assert any("validation data “validation (seed 42)” has errors" in e.value for e in at.error)
    assert at.button(key="train_launch").disabled


def test_epochs_batch_and_learning_rate_on_the_train_page_are_the_settings_kept_for_cost(tmp_path):
    import_file(Workspace(), write_chat_file(tmp_path / "pirate.jsonl", n=12))
    at = open_page("train", train_provider="openai", train_settings={"model": "gpt-4.1-mini", "epochs": 4})
    assert at.number_input(key="train_epochs").value == 4
    at.selectbox(key="train_batch").set_value(8).run()
    at.selectbox(key="train_lr").set_value(0.5).run()
    kept = at.session_state["train_settings"]
    assert (kept["epochs"], kept["batch_size"], kept["learning_rate_multiplier"]) == (4, 8, 0.5)
    at.switch_page("app_pages/cost.py").run()
    assert at.selectbox(key="cost_batch").value == 8 and at.number_input(key="cost_epochs").value == 4


def test_advanced_options_presets_and_the_preview_request(tmp_path):

    from studio.providers.train_settings import preset_names

    import_file(Workspace(), write_chat_file(tmp_path / "pirate.jsonl", n=12))
    at = open_page(
        "train",
        train_provider="compatible",
        train_base_url="http://127.0.0.1:9/v1",
        train_settings={"epochs": 2, "suffix": "demo"},
    )
    assert not at.exception

    def sent() -> dict:
        return json.loads(at.json[0].value)["method"]["supervised"]["hyperparameters"]

    assert sent() == {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"}
    at.number_input(key="train_lora_rank").set_value(8)
    at.checkbox(key="train_packing").check().run()
    assert not at.exception, at.exception
    assert sent() == {
        "n_epochs": 2,
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "lora_rank": 8,
        "packing": True,
    }
    assert json.loads(at.json[0].value)["suffix"] == "demo"
    assert at.session_state["train_settings"]["lora_rank"] == 8  # kept (written once) for the next visit and Cost

    at.text_input(key="train_preset_name").set_value("rank 8 packed").run()
    at.button(key="train_save_preset").click().run()
    assert preset_names(Workspace()) == ["rank 8 packed"]
    assert at.selectbox(key="train_preset").value == "rank 8 packed"  # the box shows the preset just saved
    assert not at.exception, at.exception
    at.number_input(key="train_lora_rank").set_value(None)
    at.checkbox(key="train_packing").uncheck().run()
    assert "lora_rank" not in sent()
    at.selectbox(key="train_preset").set_value("rank 8 packed").run()
    at.button(key="train_apply_preset").click().run()
    assert not at.exception, at.exception
    assert sent()["lora_rank"] == 8 and sent()["packing"] is True

    at.sidebar.radio(key="train_provider").set_value("openai").run()  # OpenAI refuses the engine's options
    assert sent() == {"n_epochs": 2, "batch_size": "auto", "learning_rate_multiplier": "auto"}


def test_training_data_errors_are_listed_in_the_pages_language(tmp_path):
    from studio.data.frame import build_frame

    chat = [{"role": "user", "content": "¿Qué hora es?"}, {"role": "assistant", "content": "Las tres."}]
    examples = [{"messages": chat}] * 12 + [{"messages": chat[:1]}]  # the last one has no answer to learn
    frame = build_frame(examples, list(range(1, len(examples) + 1)))
    Workspace().import_dataset(frame, name="horas", source_name="horas.jsonl", format="jsonl/chat")
    at = open_page("train", train_provider="openai", lang="es")
    assert not at.exception, at.exception
    findings = at.dataframe[0].value
    shown = set(zip(findings.iloc[:, 2], findings.iloc[:, 3], findings.iloc[:, 4], strict=True))
    assert ("error", "falta el mensaje del asistente", "no hay mensaje del asistente") in shown
    assert findings.iloc[:, 0].tolist()[-1] == "13"  # the example's row, and no "None" for the file's findings
    assert "—" in findings.iloc[:, 1].tolist() and not findings.iloc[:, :2].isna().any().any()
