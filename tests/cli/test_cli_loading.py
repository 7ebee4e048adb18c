"""One loader for every command: each loading command, on every container and record format, counts the same
examples, tokens and dollars as converting the file to OpenAI chat first (``studio convert --to openai-chat``)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from studio.cli import main
from studio.data.loader import load_dataset
from studio.data.writers import export_dataset
from tests.conftest import ROOT

SAMPLES = ROOT / "sample_data"
MODEL = "gpt-4o-mini"


def _qa_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "question": ["What is a spoke?", "¿Qué es un radio?", "How do I fix a flat?", "Is it safe?"],
            "answer": ["A rod joining hub and rim.", "Una varilla entre buje y llanta.", "Patch the tube.", "Yes."],
            "topic": ["parts", "parts", "repair", "safety"],
        }
    )


def _containers(folder: Path) -> list[Path]:
    """The sample files plus every container and record format made from them (each written by our writers or
    by pandas, as a user's tool would)."""
    files = [SAMPLES / "medical_faq_dirty.csv", SAMPLES / "support_chats.jsonl", SAMPLES / "style_demo.jsonl"]
    chats = load_dataset(SAMPLES / "style_demo.jsonl").frame
    for name, to in (
        ("style.csv", "csv"),
        ("style.parquet", "parquet"),
        ("style_sharegpt.json", "sharegpt"),
        ("style_alpaca.json", "alpaca"),
        ("style_pc.jsonl", "prompt-completion"),
    ):
        files.append(export_dataset(chats, folder / name, to=to, skip_unrepresentable=True))
    qa = _qa_frame()
    qa.to_excel(folder / "qa.xlsx", index=False)
    qa.to_csv(folder / "qa.tsv", sep="\t", index=False)
    (folder / "qa_array.json").write_text(json.dumps(qa.to_dict("records"), indent=2), encoding="utf-8")
    pretty = [{"messages": m} for m in chats["messages"].head(12)]
    (folder / "chat_array.json").write_text(json.dumps(pretty, indent=2), encoding="utf-8")
    files += [folder / "qa.xlsx", folder / "qa.tsv", folder / "qa_array.json", folder / "chat_array.json"]
    return files


def _json(capsys, argv: list[str]) -> dict:
    main(argv)
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> list[Path]:
    return _containers(tmp_path_factory.mktemp("containers"))


def test_every_container_counts_what_its_conversion_counts(files, tmp_path, capsys):
    assert len(files) == 12
    for path in files:
        converted = tmp_path / f"{path.name}.converted.jsonl"
        assert main(["convert", str(path), "--to", "openai-chat", "-o", str(converted)]) == 0
        capsys.readouterr()
        for command in (
            ["estimate", "--model", MODEL, "--epochs", "2", "--json"],
            ["estimate", "--model", MODEL, "--counting", "cookbook", "--json"],
            ["validate", "--json"],
            ["moderate", "--offline", "--json"],
        ):
            got = _json(capsys, [command[0], str(path), *command[1:]])
            want = _json(capsys, [command[0], str(converted), *command[1:]])
            for key in ("rows", "billed_tokens", "usd", "epochs", "flagged", "errors"):
                assert got.get(key) == want.get(key), (path.name, command[0], key)
            assert got["rows"] == len(load_dataset(path).frame) > 0, path.name


def test_a_pretty_printed_json_array_is_examples_not_lines(files, capsys):
    # The fault: a 162-line JSON array was counted as 162 examples with 0 tokens.
    out = _json(
        capsys, ["estimate", str(next(f for f in files if f.name == "chat_array.json")), "--model", MODEL, "--json"]
    )
    assert out["rows"] == 12 and out["billed_tokens"] > 0 and out["format"] == "json/chat"


def test_fast_and_loader_paths_agree_on_findings_and_their_place(tmp_path, capsys):
    # The same chats as JSONL (fast path) and as a JSON array (the loader): one scheme, "line N (id K)".
    good = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"}]}
    bad = {"messages": [{"role": "user", "content": "Only a question"}]}
    rows = [good, good, bad, good]
    jsonl = tmp_path / "chats.jsonl"
    jsonl.write_text("\n".join(json.dumps(r) for r in rows[:2]) + "\n\n" + "\n".join(json.dumps(r) for r in rows[2:]))
    fast = _json(capsys, ["validate", str(jsonl), "--json", "--details"])
    errors = [f for f in fast["findings"] if f["key"] == "example_missing_assistant_message"]
    assert [(f["row"], f["unit"], f["id"]) for f in errors] == [(4, "line", 2)]  # line 3 is blank
    assert main(["validate", str(jsonl), "--details"]) == 1
    assert "line 4 (id 2): [example_missing_assistant_message]" in capsys.readouterr().out
    array = tmp_path / "chats.json"
    array.write_text(json.dumps(rows))
    slow = _json(capsys, ["validate", str(array), "--json", "--details"])
    errors = [f for f in slow["findings"] if f["key"] == "example_missing_assistant_message"]
    assert [(f["row"], f["unit"], f["id"]) for f in errors] == [(3, "item", 2)]
    assert (slow["rows"], slow["errors"]) == (fast["rows"], fast["errors"])


PROMPT_TEXT = "prompt,text\nHi there!,Hello! How can I help?\nWhat time is it?,Time to ride.\n"


def test_prompt_text_csv_is_detected_with_a_warning(tmp_path, capsys):
    path = tmp_path / "chitchat.csv"
    path.write_text(PROMPT_TEXT)
    out = _json(capsys, ["estimate", str(path), "--model", MODEL, "--json"])
    assert out["rows"] == 2 and out["format"] == "csv/qa"
    assert any("'prompt' as the user turn and 'text' as the assistant turn" in w for w in out["load_warnings"])
    assert main(["inspect", str(path)]) == 0
    printed = capsys.readouterr().out
    assert "mapping: user=prompt, assistant=text" in printed


def test_prompt_text_csv_loads_with_columns(tmp_path, capsys):
    path = tmp_path / "chitchat.csv"
    path.write_text(PROMPT_TEXT)
    detected = _json(capsys, ["estimate", str(path), "--model", MODEL, "--json"])
    mapped = _json(
        capsys, ["estimate", str(path), "--model", MODEL, "--json", "--columns", "user=prompt,assistant=text"]
    )
    assert mapped["load_warnings"] == [] and mapped["billed_tokens"] == detected["billed_tokens"]
    swapped = _json(
        capsys, ["estimate", str(path), "--model", MODEL, "--json", "--columns", "user=text,assistant=prompt"]
    )
    assert swapped["rows"] == 2
    assert main(["inspect", str(path), "--json", "--columns", "user=text,assistant=prompt"]) == 0
    assert json.loads(capsys.readouterr().out)["samples"][0]["assistant"] == "Hi there!"


@pytest.mark.parametrize(
    "spec,message",
    [("user=prompt", "name both the user and the assistant"), ("answer=text,user=prompt", "unknown role 'answer'")],
)
def test_bad_columns_is_one_line_error(tmp_path, capsys, spec, message):
    path = tmp_path / "chitchat.csv"
    path.write_text(PROMPT_TEXT)
    assert main(["validate", str(path), "--columns", spec]) == 2
    assert message in capsys.readouterr().err


def test_format_overrides_detection(tmp_path, capsys):
    # A table with instruction/output columns is alpaca by detection; --format qa with --columns reads it as Q&A.
    path = tmp_path / "t.csv"
    path.write_text("instruction,output,input\nSay hi,Hi,\n")
    assert _json(capsys, ["inspect", str(path), "--json"])["schema"] == "alpaca"
    forced = _json(
        capsys, ["inspect", str(path), "--json", "--format", "qa", "--columns", "user=output,assistant=instruction"]
    )
    assert forced["schema"] == "qa" and forced["samples"][0]["user"] == "Hi"


def test_compare_data_reads_any_container(files, tmp_path, capsys):
    from studio.testing.server import Behaviour, TestServer

    xlsx = next(f for f in files if f.name == "qa.xlsx")
    converted = tmp_path / "qa.jsonl"
    assert main(["convert", str(xlsx), "--to", "openai-chat", "-o", str(converted)]) == 0
    with TestServer(Behaviour(seed=1)) as server:
        summaries = []
        for data in (xlsx, converted):
            argv = [
                "--workspace",
                str(tmp_path / "ws.db"),
                "compare",
                "--target",
                f"a=compatible:base-model@{server.url}",
            ]
            argv += [
                "--target",
                f"b=compatible:ft:base-model:studio:demo:abc123@{server.url}",
                "--data",
                str(data),
                "-o",
                str(tmp_path / "r.jsonl"),
            ]
            capsys.readouterr()
            assert main([*argv, "--json"]) == 0
            summaries.append(json.loads(capsys.readouterr().out))
    assert summaries[0]["rows"] == summaries[1]["rows"] == 4
    assert [a["exact_match"] for a in summaries[0]["aggregates"]] == [
        a["exact_match"] for a in summaries[1]["aggregates"]
    ]


def test_analyze_json_names_source_rows_and_ids_like_validate(capsys):
    out = _json(capsys, ["analyze", str(SAMPLES / "medical_faq_dirty.csv"), "--rules", "empty", "--json"])
    where = out["where"]["empty"]
    assert [w["id"] for w in where] == out["examples"]["empty"] and len(where) == 4
    assert all(w["unit"] == "line" and w["row"] >= w["id"] + 2 for w in where)  # header line, multi-line answers
    validated = _json(capsys, ["validate", str(SAMPLES / "medical_faq_dirty.csv"), "--json", "--details"])
    blank = {(f["row"], f["id"]) for f in validated["findings"] if f["key"] == "missing_content"}
    assert blank <= {(w["row"], w["id"]) for w in where}


def test_convert_and_clean_speak_json(tmp_path, capsys):
    out = _json(
        capsys, ["convert", str(SAMPLES / "style_demo.jsonl"), "--to", "csv", "-o", str(tmp_path / "s.csv"), "--json"]
    )
    assert out == {"rows": 60, "skipped": 0, "path": str(tmp_path / "s.csv"), "to": "csv"}
    recipe = tmp_path / "recipe.json"
    recipe.write_text(json.dumps({"version": 1, "ops": []}))
    out = _json(
        capsys, ["clean", str(tmp_path / "s.csv"), "--recipe", str(recipe), "-o", str(tmp_path / "c.jsonl"), "--json"]
    )
    assert (out["rows_in"], out["rows_out"]) == (60, 60)


def test_analyze_json_names_the_turn_role_and_message_of_each_listed_finding(tmp_path, capsys):
    """A finding in an earlier turn is located by the JSON as in the app: line, example id, turn, role, message."""
    chat = {
        "messages": [
            {"role": "user", "content": "Write to ana@example.com about it."},
            {"role": "assistant", "content": "I will write to her today and copy you in on the reply."},
            {"role": "user", "content": "Thanks, that is all I needed to know."},
            {"role": "assistant", "content": "You are welcome, have a good day and a safe ride home."},
        ]
    }
    path = tmp_path / "chats.jsonl"
    path.write_text(json.dumps(chat) + "\n")
    assert main(["analyze", str(path), "--rules", "pii", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["where"]["pii"] == [
        {
            "row": 1,
            "unit": "line",
            "id": 0,
            "turn": 0,
            "role": "user",
            "message": "e-mail address 'ana@example.com' in turn 0 (user)",
        }
    ]
