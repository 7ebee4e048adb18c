"""``studio inspect`` / ``convert`` / ``seed``: JSON output, row counts, one-line errors with exit code 2."""

import json
import subprocess
import sys

import pytest

from studio.cli import main

WIN_CSV = "pregunta;respuesta\n¿Qué es la fiebre?;Una subida de la temperatura del cuerpo.\n¿Y la tos?;Un reflejo.\n"
PIPE_CSV = 'question|answer|notes\n"What is\na cold?"|"A mild viral infection.\nIt passes."|x\nQ2|A2|"multi\nline"\n'


@pytest.mark.parametrize(
    "name,data,fmt,encoding,rows",
    [
        ("win.csv", WIN_CSV.encode("cp1252"), "csv/qa", "cp1252", 2),
        ("pipes.csv", PIPE_CSV.encode(), "csv/qa", "utf-8", 2),
        (
            "chat.jsonl",
            b'{"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}\n',
            "jsonl/chat",
            "utf-8",
            1,
        ),
    ],
)
def test_inspect_json(tmp_path, capsys, name, data, fmt, encoding, rows):
    path = tmp_path / name
    path.write_bytes(data)
    assert main(["inspect", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["format"], report["encoding"], report["rows"]) == (fmt, encoding, rows)
    assert {"columns", "warnings", "samples"} <= set(report)


def test_inspect_bad_file_is_one_line_exit_2(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"messages": []}\n{"messages": [\n')
    done = subprocess.run([sys.executable, "-m", "studio.cli", "inspect", str(path)], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "error: bad.jsonl line 2: not valid JSON (unexpected end of data at column 15)"
    ]
    assert "Traceback" not in done.stderr


def test_convert_to_openai_chat_with_system_prompt(tmp_path, capsys):
    source = tmp_path / "qa.csv"
    source.write_text("question,answer\nQ,A\n")
    out = tmp_path / "out.jsonl"
    assert main(["convert", str(source), "--to", "openai-chat", "-o", str(out), "--system-prompt", "Be kind."]) == 0
    assert json.loads(out.read_text()) == {
        "messages": [
            {"role": "system", "content": "Be kind."},
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": "A"},
        ]
    }
    assert "wrote 1 example to" in capsys.readouterr().out


def test_convert_to_prompt_completion_stops_on_multi_turn_unless_told_to_skip(tmp_path, capsys):
    single = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
    multi = {
        "messages": [*single["messages"], {"role": "user", "content": "Q2"}, {"role": "assistant", "content": "A2"}]
    }
    source = tmp_path / "chat.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in (single, multi, multi)))
    out = tmp_path / "out.jsonl"
    assert main(["convert", str(source), "--to", "prompt-completion", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "2 rows cannot be written as prompt-completion (ids 1, 2: it has 2 rounds" in err
    assert "--skip-unrepresentable" in err and not out.exists()
    assert main(["convert", str(source), "--to", "prompt-completion", "-o", str(out), "--skip-unrepresentable"]) == 0
    captured = capsys.readouterr()
    assert "left out 2 rows" in captured.err and "wrote 1 example to" in captured.out
    assert [json.loads(line) for line in out.read_text().splitlines()] == [{"prompt": "Q", "completion": "A"}]


def test_convert_gives_each_refused_row_its_own_reason(tmp_path, capsys):
    """Rows refused for different reasons each get theirs: a row without tool calls is never said to have them."""
    call = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    tools = {
        "messages": [
            {"role": "user", "content": "Q"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "c1", "content": "r"},
            {"role": "assistant", "content": "A"},
        ]
    }
    unanswered = {"messages": [{"role": "user", "content": "Q"}]}
    single = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
    source = tmp_path / "chat.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in (tools, tools, unanswered, single, tools)))
    out = tmp_path / "out.json"
    assert main(["convert", str(source), "--to", "alpaca", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert (
        "4 rows cannot be written as alpaca (ids 0, 1, 4: it has tool calls; "
        "id 2: it does not end with an assistant answer)"
    ) in err
    assert "export to openai-chat or sharegpt to keep them" in err and not out.exists()


def test_convert_never_suggests_the_format_it_refused(tmp_path, capsys):
    """Image parts cannot go to sharegpt: only openai-chat is offered, for --to sharegpt and for --to alpaca."""
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "Q"}, image]},
            {"role": "assistant", "content": "A"},
        ]
    }
    single = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps(row) + "\n" + json.dumps(single) + "\n")
    for to in ("sharegpt", "alpaca"):
        assert main(["convert", str(source), "--to", to, "-o", str(tmp_path / "out.json")]) == 2
        err = capsys.readouterr().err
        assert "export to openai-chat to keep them" in err and "sharegpt to keep" not in err


def test_convert_refuses_when_every_row_would_be_skipped(tmp_path, capsys):
    """--skip-unrepresentable that would leave nothing: exit 2, no (empty) file, and the reason."""
    multi = {"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}] * 2}
    source = tmp_path / "chat.jsonl"
    source.write_text(json.dumps(multi) + "\n" + json.dumps(multi) + "\n")
    out = tmp_path / "out.jsonl"
    args = ["convert", str(source), "--to", "prompt-completion", "-o", str(out), "--skip-unrepresentable"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "no row can be written as prompt-completion (ids 0, 1: it has 2 rounds" in err
    assert "nothing written" in err and not out.exists()


def test_convert_prints_load_warnings(tmp_path, capsys):
    source = tmp_path / "qa.csv"
    source.write_text("question,answer,topic\nQ,A,bikes\n")
    assert main(["convert", str(source), "--to", "openai-chat", "-o", str(tmp_path / "out.jsonl")]) == 0
    assert "key 'topic' kept as metadata in 1 line" in capsys.readouterr().err


def test_missing_file_exit_2(capsys):
    assert main(["inspect", "nope.jsonl"]) == 2
    assert capsys.readouterr().err == "error: nope.jsonl: no such file\n"


def test_seed_uses_workspace_flag(tmp_path, capsys):
    db = tmp_path / "w" / "s.db"
    assert main(["--workspace", str(db), "seed"]) == 0
    assert db.exists() and str(db) in capsys.readouterr().out


def test_convert_names_the_kept_keys_it_cannot_write_and_csv_keeps_them(tmp_path, capsys):
    """A record format writes only its own keys: the loader's kept keys (metadata) are named with counts."""
    source = tmp_path / "chats.jsonl"
    rows = [{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]}] * 3
    source.write_text("".join(json.dumps(r | ({"x_custom": {"n": i}} if i else {})) + "\n" for i, r in enumerate(rows)))
    assert main(["convert", str(source), "--to", "openai-chat", "-o", str(tmp_path / "out.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "key 'x_custom' (2 rows) not written: openai-chat has no place for it (csv and parquet keep it)" in err
    assert main(["convert", str(source), "--to", "csv", "-o", str(tmp_path / "out.csv")]) == 0
    assert "not written" not in capsys.readouterr().err
    assert "x_custom" in (tmp_path / "out.csv").read_text()


@pytest.mark.parametrize("command", [["inspect"], ["convert", "--to", "alpaca", "-o", "out.jsonl"]])
def test_a_file_too_large_for_the_free_memory_is_refused_with_exit_2(tmp_path, capsys, monkeypatch, command):
    from studio.core import memory

    path = tmp_path / "chats.jsonl"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello."}]})
        + "\n"
    )
    monkeypatch.setattr(memory, "available_memory", lambda: 100)
    monkeypatch.chdir(tmp_path)
    assert main([*command[:1], str(path), *command[1:]]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: Loading chats.jsonl (") and "whole would need about" in err and "GB are free" in err
    assert not (tmp_path / "out.jsonl").exists()
