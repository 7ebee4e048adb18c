"""AppTest of the Cost page with a seeded dataset: metrics, settings handed to Train, warnings, languages."""

import re

import pytest

from studio.data.frame import build_frame
from studio.editing.session import DatasetSession
from studio.storage.workspace import Workspace
from tests.pages.apptest import open_page


def frame(n=30, broken=True):
    good = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hola, ¿qué tal?"},
            {"role": "assistant", "content": "Bien, ¿y tú?"},
        ]
    }
    examples = [good] * n + ([{"messages": [{"role": "user", "content": "you idiot"}]}] if broken else [])
    return build_frame(examples, list(range(1, len(examples) + 1)))


def page(frame=None, dataset_label="dataset", **state):
    """The Cost page with ``frame`` open on the Dataset page (as a workspace dataset named ``dataset_label``)."""
    if frame is not None:
        workspace = Workspace()
        info = workspace.import_dataset(
            frame, name=dataset_label, source_name=f"{dataset_label}.jsonl", format="jsonl/chat"
        )
        state["dataset"] = DatasetSession(workspace)
        state["dataset"].open(info.id)
    return open_page("cost", **state)


def metrics(at):
    return {m.label: m.value for m in at.metric}


def problem_table(at):
    """The Validation table: one row per check (the examples of one check are the table below it)."""
    return next(d.value for d in at.dataframe if "severity" in d.value.columns)


def test_metrics_settings_and_validation_links():
    at = page(frame=frame(), dataset_label="support")
    assert not at.exception
    assert "Dataset: **support** (31 examples)" in [m.value for m in at.markdown]
    shown = metrics(at)
    assert shown["Examples"] == "31" and shown["Epochs"] == "3" and shown["Cost"].startswith("$")
    assert at.session_state["train_settings"] == {
        "model": "gpt-4.1",
        "epochs": "auto",
        "batch_size": "auto",
        "learning_rate_multiplier": "auto",
        "seed": None,
        "suffix": "",
        "budget_usd": None,
        # the Train page's engine options, unset (the engine's defaults)
        **dict.fromkeys(("lora_rank", "lora_alpha", "lora_dropout", "max_length", "warmup_ratio")),
        "packing": False,
    }
    findings = problem_table(at)
    assert findings["severity"].iloc[0] == "error"  # errors first
    missing = findings[findings["key"] == "example_missing_assistant_message"]
    assert (missing["count"].tolist(), missing["rows"].tolist()) == ([1], ["line 31 (id 30)"])
    assert any("heuristic" in c.value for c in at.caption)


def test_manual_epochs_budget_and_suffix_are_kept_for_train():
    at = page(frame=frame(), dataset_label="support")
    at.radio(key="cost_epochs_mode").set_value("manual").run()
    at.number_input(key="cost_epochs").set_value(5).run()
    at.number_input(key="cost_budget").set_value(0.0001).run()
    at.text_input(key="cost_suffix").set_value("support-v2").run()
    assert not at.exception
    settings = at.session_state["train_settings"]
    assert (settings["epochs"], settings["budget_usd"], settings["suffix"]) == (5, 0.0001, "support-v2")
    assert metrics(at)["Epochs"] == "5"
    assert any("over your budget" in w.value for w in at.warning)


def test_a_small_job_shows_its_cost_to_the_cent_fraction():
    at = page(frame=frame(broken=False), dataset_label="support", train_settings={"model": "gpt-4o-mini"})
    assert not at.exception
    assert re.fullmatch(r"\$0\.00\d\d", metrics(at)["Cost"]), metrics(at)["Cost"]  # not "$0.01" or "$0.00"


def test_local_engine_shows_time_instead_of_dollars():
    at = page(frame=frame(broken=False), dataset_label="support")
    at.selectbox(key="cost_model").set_value("local").run()
    assert not at.exception
    assert "Training time (est.)" in metrics(at)
    from studio.core.training import DEFAULT_BASE_MODEL, models_dir

    pulled = (models_dir() / DEFAULT_BASE_MODEL / "tokenizer.json").is_file()  # `make test` pulls it first
    assert any("approximation" in w.value for w in at.warning) is not pulled
    assert at.session_state["train_settings"]["model"] == "local"


def test_moderation_without_a_key_says_it_used_the_word_list():
    at = page(frame=frame(), dataset_label="support")
    at.button(key="cost_moderate").click().run()
    assert not at.exception
    assert any("offline EN/ES word list" in i.value and "1 of 31" in i.value for i in at.info)


def test_moderation_result_stays_names_the_flagged_examples_and_opens_them():
    at = page(frame=frame(), dataset_label="support")
    at.button(key="cost_moderate").click().run()
    flagged = at.dataframe[-1].value
    assert flagged.to_dict("list") == {"id": [30], "where": ["line 31 (id 30)"], "categories": ["blocklist: idiot"]}
    at.number_input(key="cost_budget").set_value(5.0).run()  # another widget: the result is still there
    assert not at.exception
    assert at.dataframe[-1].value.to_dict("list")["id"] == [30]
    assert any("1 of 31" in i.value for i in at.info)
    at.button(key="cost_open_flagged").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Dataset"
    assert any(m.value == "**1 of 31 rows**" for m in at.markdown)
    assert at.query_params.get("id") in ("30", ["30"])


def test_moderation_says_plainly_when_nothing_is_flagged():
    at = page(frame=frame(broken=False), dataset_label="support")
    at.button(key="cost_moderate").click().run()
    assert not at.exception
    assert [s.value for s in at.success if "flagged" in s.value] == [
        "0 flagged of 30 examples: nothing for moderation to reject."
    ]


def test_findings_of_an_uploaded_file_name_the_line_and_the_example_id_as_the_cli_does(tmp_path):
    import json

    from streamlit.testing.v1 import AppTest

    from studio.cost.sources import check_source, where

    rows = [
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]})
    ] * 12
    rows[3:3] = ["", "not json"]  # a blank line and a broken one: the ids count examples, the lines count lines
    rows.append(json.dumps({"messages": [{"role": "user", "content": "you idiot"}]}))
    path = tmp_path / "upload.jsonl"
    path.write_text("\n".join(rows) + "\n")
    # The upload's way through the Cost page (AppTest cannot fill a file_uploader): its bytes, scanned and listed.
    script = f"""
from pathlib import Path
from studio.i18n import Translator
from ui.cost import problems_panel, scan_file
report = scan_file(Path({str(path)!r}).read_bytes(), ("upload.jsonl", 1), "gpt-4.1", Translator("en"))
problems_panel(report, editor=None, tr=Translator("en"))
"""
    at = AppTest.from_string(script, default_timeout=60).run()
    assert not at.exception, at.exception
    findings = problem_table(at)
    shown = dict(zip(findings["key"], findings["rows"], strict=True))
    assert shown["data_type"] == "line 5"  # not JSON: no example id
    assert shown["example_missing_assistant_message"] == "line 15 (id 12)"
    cli: dict[str, list[str]] = {}  # what `studio validate` says, per check
    for f in check_source(path).findings():
        cli.setdefault(f["key"], []).append(where(f["row"], f["id"], f["unit"]))
    for key in ("data_type", "example_missing_assistant_message", "missing_system_message"):
        assert shown[key].startswith(", ".join(cli[key][:8]))


def test_spanish():
    at = page(frame=frame(), dataset_label="support", lang="es")
    assert not at.exception
    assert at.title[0].value == "Coste" and "Ejemplos" in metrics(at)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_without_a_dataset_the_page_uses_the_sample_or_asks_for_a_file(lang):
    at = page(lang=lang)
    assert not at.exception
    sample_used = bool(at.metric)
    assert sample_used or len(at.warning) == 1


def test_widgets_start_from_the_settings_kept_for_train():
    kept = {
        "model": "gpt-4o-mini",
        "epochs": 4,
        "batch_size": 8,
        "learning_rate_multiplier": 0.5,
        "seed": 42,
        "suffix": "faq",
        "budget_usd": 20.0,
        # set on the Train page's Advanced panel: the Cost page keeps them
        "lora_rank": 8,
        "lora_alpha": None,
        "lora_dropout": 0.05,
        "max_length": None,
        "warmup_ratio": None,
        "packing": True,
    }
    at = page(frame=frame(), dataset_label="support", train_settings=dict(kept))
    assert not at.exception
    assert at.session_state["train_settings"] == kept
    assert at.selectbox(key="cost_model").value == "gpt-4o-mini" and metrics(at)["Epochs"] == "4"


def test_a_problem_group_opens_its_examples_on_the_dataset_page_of_the_same_dataset_and_version():
    at = page(frame=frame(), dataset_label="support")
    assert ":material/folder_open: support · original" in [c.value for c in at.caption]
    group = at.selectbox(key="cost_open_group")
    group.select_index(next(i for i, o in enumerate(group.options) if "example_missing_assistant_message" in o))
    at.button(key="cost_open_rows").click().run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Dataset"
    assert ":material/folder_open: support · original" in [c.value for c in at.caption]
    assert any(m.value == "**1 of 31 rows**" for m in at.markdown)
    assert at.query_params.get("id") in ("30", ["30"])
    assert {"dataset", "version"} <= set(at.query_params)  # kept: a refresh opens the same dataset and version
    assert at.button(key="clear_jump").label.startswith("× only examples 30")  # the chip that clears it


def test_the_cost_page_picks_a_workspace_dataset_when_none_is_open(tmp_path):
    workspace = Workspace()
    workspace.import_dataset(frame(n=5, broken=False), name="tiny", source_name="tiny.jsonl", format="jsonl/chat")
    at = open_page("cost")
    picker = at.selectbox(key="cost-dataset")
    picker.select_index(0).run()
    assert not at.exception
    assert "Dataset: **tiny** (5 examples)" in [m.value for m in at.markdown]
    assert ":material/folder_open: tiny · original" in [c.value for c in at.caption]


def test_the_problem_list_names_severities_and_places_in_spanish():
    at = page(frame=frame(), dataset_label="support", lang="es")
    assert not at.exception
    problems = problem_table(at)
    shown = {k: (s, r, m) for k, s, r, m in problems[["key", "severity", "rows", "message"]].itertuples(index=False)}
    assert shown["falta el mensaje del asistente"] == ("error", "línea 31 (id 30)", "no hay mensaje del asistente")
    assert shown["falta el mensaje de sistema"] == ("aviso", "línea 31 (id 30)", "no hay mensaje de sistema")
    assert shown["pocos ejemplos"] == ("consejo", "", "31 ejemplos; con 50-100 se suele entrenar mejor")
    picker = next(s for s in at.selectbox if s.key == "cost_open_group")
    assert picker.options == ["error · falta el mensaje del asistente (1)", "aviso · falta el mensaje de sistema (1)"]


def test_an_invalid_upload_is_explained_in_spanish(tmp_path):
    """Every finding of a broken file (not JSON, wrong types, tool calls, weights) in Spanish, as the Cost page
    shows an upload; the moderation result names its lines in Spanish too."""
    import json

    from streamlit.testing.v1 import AppTest

    good = {"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "Buenas"}]}
    broken = [
        {"messages": [{"role": "user", "content": None}, {"role": "assistant", "content": "Vale"}]},
        {"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "Sí", "weight": 2}]},
        {"messages": [{"role": "user", "content": "Hola"}, {"role": "bot", "content": "Sí"}], "meta": 1},
        {"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "tool_calls": "x"}]},
        {"messages": [{"role": "user", "content": "eres un idiota"}]},
    ]
    rows = [json.dumps(good)] * 3 + ["not json"] + [json.dumps(e) for e in broken]
    path = tmp_path / "subida.jsonl"
    path.write_text("\n".join(rows) + "\n")
    script = f"""
from functools import partial
from pathlib import Path
from studio.i18n import Translator
from ui.cost import file_examples, moderation_panel, problems_panel, scan_file
data = Path({str(path)!r}).read_bytes()
report = scan_file(data, ("subida.jsonl", 1), "gpt-4.1", Translator("es"))
problems_panel(report, editor=None, tr=Translator("es"))
moderation_panel(partial(file_examples, data), ("file", 1), Translator("es"))
"""
    at = AppTest.from_string(script, default_timeout=60).run()
    assert not at.exception, at.exception
    problems = problem_table(at)
    shown = dict(zip(problems["key"], problems["message"], strict=True))
    assert shown == {
        # the parser's own words (orjson's) stay as it wrote them
        "tipo de dato": "la línea 4 no es JSON válido (invalid literal, expected 'null', en la columna 1)",
        "falta el contenido": "messages[0]: el contenido es de tipo null; se espera texto o una lista de partes",
        "'weight' no válido": "messages[1]: 'weight' vale 2; se espera 0 o 1",
        "rol desconocido": "messages[1] tiene el rol 'bot'",
        "'tool_calls' no válido": "messages[1]: 'tool_calls' debe ser una lista no vacía, pero es de tipo texto",
        "falta el mensaje del asistente": "no hay mensaje del asistente",
        "muy pocos ejemplos": "9 ejemplos; OpenAI exige al menos 10",
        "falta el mensaje de sistema": "no hay mensaje de sistema",
        "clave de ejemplo desconocida": "la clave de primer nivel 'meta' no forma parte del formato de chat",
    }
    assert problems["severity"].tolist()[:2] == ["error", "error"] and "aviso" in problems["severity"].tolist()
    at.button(key="cost_moderate").click().run()
    assert not at.exception, at.exception
    assert at.dataframe[-1].value["where"].tolist() == ["línea 9 (id 7)"]
    assert [c.split(":")[0] for c in at.dataframe[-1].value["categories"]] == ["palabras vetadas"]  # the offline rule


TOOLS = [{"type": "function", "function": {"name": "get_time", "parameters": {"type": "object"}}}]


def tool_example(call_id="c1", arguments="{}", result_first=False):
    call = {"id": "c1", "type": "function", "function": {"name": "get_time", "arguments": arguments}}
    asks = {"role": "assistant", "content": None, "tool_calls": [call]}
    result = {"role": "tool", "tool_call_id": call_id, "content": "12:00"}
    turns = [result, asks] if result_first else [asks, result]
    system, user, answer = (
        {"role": r, "content": c} for r, c in (("system", "s"), ("user", "time?"), ("assistant", "It is noon."))
    )
    return {"messages": [system, user, *turns, answer], "tools": TOOLS}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_each_example_of_a_check_shows_its_own_detail_not_the_first_ones(tmp_path, lang):
    """b8's F5: four different invalid_tool_calls errors (an unanswered id, arguments not a string, arguments not
    JSON, the result before its call) gave one Detail, the first's, wrong for three of them. The group says it
    holds 4 different details; the examples of that check list each line with its own."""
    import json

    from streamlit.testing.v1 import AppTest

    from studio.cost.messages import finding_message

    broken = [
        tool_example(call_id="zzz"),
        tool_example(arguments={"tz": "UTC"}),
        tool_example(arguments="{not json"),
        tool_example(result_first=True),
    ]
    rows = [tool_example()] * 8 + broken
    path = tmp_path / "tools.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    script = f"""
from pathlib import Path
from studio.i18n import Translator
from ui.cost import problems_panel, scan_file
report = scan_file(Path({str(path)!r}).read_bytes(), ("tools.jsonl", 1), "gpt-4.1", Translator({lang!r}))
problems_panel(report, editor=None, tr=Translator({lang!r}))
"""
    at = AppTest.from_string(script, default_timeout=60).run()
    assert not at.exception, at.exception
    english = {
        "line 9 (id 8)": "messages[3]: 'tool_call_id' 'zzz' answers no tool call made earlier in the conversation",
        "line 10 (id 9)": "messages[2]: tool call 1 needs function 'name' and 'arguments' as strings "
        "(arguments is JSON text)",
        "line 11 (id 10)": "messages[2]: tool call 1 'arguments' is not valid JSON: '{not json'",
        "line 12 (id 11)": "messages[2]: 'tool_call_id' 'c1' answers no tool call made earlier in the conversation",
    }
    group = problem_table(at)
    tool_calls = group[group["count"] == 4]["message"].iloc[0]
    assert tool_calls.startswith(finding_message(english["line 9 (id 8)"], lang)) and " 4 " in tool_calls
    picker = at.selectbox(key="cost_open_group")
    picker.select_index(next(i for i, o in enumerate(picker.options) if "(4)" in o)).run()
    assert not at.exception, at.exception
    details = at.dataframe[-1].value
    line = "línea" if lang == "es" else "line"
    assert dict(zip(details["where"], details["message"], strict=True)) == {
        where.replace("line", line): finding_message(message, lang) for where, message in english.items()
    }
