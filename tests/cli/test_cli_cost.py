"""``studio validate`` / ``studio estimate``: JSON shapes and values, exit codes, one-line errors."""

import json
import subprocess
import sys

import pytest

from studio.cli import main
from studio.cost.estimate import estimate_cost
from studio.cost.validation import validate_file

GOOD = {
    "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hola"},
        {"role": "assistant", "content": "¡Hola! ¿En qué te ayudo?"},
    ]
}


def write(path, lines):
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n")
    return path


def run_json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_validate_json_counts_errors_and_warnings(tmp_path, capsys):
    path = write(tmp_path / "t.jsonl", [GOOD] * 12 + ["{oops", {"messages": [{"role": "user", "content": "x"}]}])
    code, out = run_json(capsys, ["validate", str(path), "--json"])
    assert code == 1
    assert out["rows"] == 14
    assert out["errors"] == {"data_type": 1, "example_missing_assistant_message": 1}
    assert out["warnings"] == {"missing_system_message": 1}


def test_validate_clean_file_exits_0(tmp_path, capsys):
    code, out = run_json(
        capsys, ["validate", str(write(tmp_path / "t.jsonl", [GOOD] * 60)), "--json", "--model", "gpt-4o"]
    )
    assert (code, out["errors"], out["warnings"]) == (0, {}, {})


def test_validate_text_lists_findings_with_lines(tmp_path, capsys):
    path = write(tmp_path / "t.jsonl", [GOOD] * 11 + ["[1, 2]"])
    assert main(["validate", str(path), "--details"]) == 1
    out = capsys.readouterr().out
    assert "12 examples, jsonl/chat, has errors" in out
    assert "line 12 (id 11): [data_type] the example is list, not an object" in out


def test_validate_summarises_every_key_with_its_readable_message(tmp_path, capsys):
    """The summary printed raw keys (``too_few_examples × 1``); each now says what its first finding says."""
    bad = {"messages": [{"role": "user", "content": "x"}]}
    path = write(tmp_path / "t.jsonl", [GOOD] * 6 + [bad, bad])
    assert main(["validate", str(path)]) == 1
    lines = capsys.readouterr().out.splitlines()[1:]
    assert "  error: 8 examples; OpenAI requires at least 10 (too_few_examples)" in lines
    assert "  error: line 7: no assistant message, and 1 more (example_missing_assistant_message × 2)" in lines
    assert "  warning: line 7: no system message, and 1 more (missing_system_message × 2)" in lines
    assert not [line for line in lines if line.rstrip().endswith("× 1")]


@pytest.mark.parametrize(
    "extra,epochs",
    [
        ([], 3),
        (["--epochs", "2"], 2),
        (["--epochs", "auto"], 3),
        (["--counting", "cookbook"], 3),
        (["--tokenizer", "cl100k_base"], 3),
    ],
)
def test_estimate_json_matches_the_library(tmp_path, capsys, extra, epochs):
    path = write(tmp_path / "t.jsonl", [GOOD] * 40)
    code, out = run_json(capsys, ["estimate", str(path), "--model", "gpt-4o-mini", "--json", *extra])
    options = dict(zip(extra[::2], extra[1::2], strict=True))
    report = validate_file(
        path, model="gpt-4o-mini", encoding=options.get("--tokenizer"), mode=options.get("--counting", "exact")
    )
    expected = estimate_cost(report.tokens, model="gpt-4o-mini", epochs=epochs)
    assert code == 0
    assert out == {
        "rows": 40,
        "billed_tokens": expected.billed_tokens,
        "epochs": epochs,
        "usd": round(expected.usd, 4),
        "over_limit": 0,
        "format": "jsonl/chat",
        "encoding": "utf-8",
        "load_warnings": [],
    }


def test_estimate_encoding_still_takes_a_tokenizer_name(tmp_path, capsys):
    # --encoding is the text encoding now; its old meaning (the tiktoken encoding) still works, with a note.
    path = write(tmp_path / "t.jsonl", [GOOD] * 40)
    _, new = run_json(capsys, ["estimate", str(path), "--model", "gpt-4o", "--json", "--tokenizer", "cl100k_base"])
    assert main(["estimate", str(path), "--model", "gpt-4o", "--json", "--encoding", "cl100k_base"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out) == new
    assert "--encoding cl100k_base is now --tokenizer cl100k_base" in captured.err


def test_cookbook_counting_uses_cl100k_and_counts_every_value(tmp_path, capsys):
    # "¿Dónde está la biblioteca? Mañana cumpleaños, niño." is 13 tokens in o200k_base, 19 in cl100k_base.
    example = {
        "messages": [
            {"role": "user", "content": "¿Dónde está la biblioteca? Mañana cumpleaños, niño."},
            {"role": "assistant", "content": "Aquí.", "weight": 1},
        ]
    }
    path = write(tmp_path / "t.jsonl", [example] * 40)
    _, exact = run_json(capsys, ["estimate", str(path), "--model", "gpt-4o", "--json", "--epochs", "1"])
    _, cookbook = run_json(
        capsys, ["estimate", str(path), "--model", "gpt-4o", "--json", "--epochs", "1", "--counting", "cookbook"]
    )
    # "Aquí." is 2 tokens in o200k_base, 3 in cl100k_base; cookbook mode also counts the weight value "1"
    assert exact["billed_tokens"] == 40 * (3 + (3 + 1 + 13) + (3 + 1 + 2))
    assert cookbook["billed_tokens"] == 40 * ((3 + 1 + 19) + (3 + 1 + 3 + 1) + 3)


def test_estimate_local_engine_adds_training_time(tmp_path, capsys):
    _code, out = run_json(
        capsys, ["estimate", str(write(tmp_path / "t.jsonl", [GOOD] * 40)), "--model", "local", "--json"]
    )
    assert out["usd"] == 0 and out["training_seconds"] > 0


def test_estimate_text_says_the_epochs_are_a_heuristic(tmp_path, capsys, monkeypatch):
    # gpt-4.1's limit is published now (65,536); a priced model without one still says so.
    prices = tmp_path / "prices.toml"
    prices.write_text('[models."my-model"]\ntraining = 1\n')
    monkeypatch.setenv("STUDIO_PRICES", str(prices))
    assert main(["estimate", str(write(tmp_path / "t.jsonl", [GOOD] * 40)), "--model", "my-model"]) == 0
    out = capsys.readouterr().out
    assert "epochs: 3 (auto, a heuristic)" in out and "per-example limit for my-model: not published" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (["estimate", "{path}", "--model", "gpt-9"], "error: no price for model 'gpt-9'"),
        (["validate", "{missing}"], "error: missing.jsonl: no such file"),
        (
            ["estimate", "{path}", "--model", "gpt-4o", "--prices", "{missing}"],
            "error: missing.jsonl: price file not found",
        ),
    ],
)
def test_errors_are_one_line_exit_2(tmp_path, argv, message):
    path = write(tmp_path / "t.jsonl", [GOOD])
    argv = [a.format(path=path, missing=tmp_path / "missing.jsonl") for a in argv]
    done = subprocess.run([sys.executable, "-m", "studio.cli", *argv], capture_output=True, text=True)
    assert done.returncode == 2
    assert done.stderr.strip().startswith(message) and len(done.stderr.strip().splitlines()) == 1


def test_bad_epochs_is_an_argument_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["estimate", str(write(tmp_path / "t.jsonl", [GOOD])), "--model", "gpt-4o", "--epochs", "many"])
    assert exit_info.value.code == 2
    assert "expected a whole number or 'auto'" in capsys.readouterr().err


def test_cli_choices_match_the_library():
    from studio.cli import cost as cli_cost
    from studio.cost import tokens

    assert (cli_cost.ENCODINGS, cli_cost.COUNTING_MODES) == (tokens.ENCODINGS, tokens.COUNTING_MODES)
