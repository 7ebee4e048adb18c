"""``studio compare`` end to end against the loopback test server."""

import json

import pytest

from studio.cli import main
from studio.testing.server import Behaviour, TestServer

FT = "ft:base-model:studio:demo:abc123"


@pytest.fixture
def server():
    with TestServer(Behaviour(error_rate=0.15, errors=(429, 500), retry_after=0.01, seed=3)) as running:
        yield running


@pytest.fixture
def test_set(tmp_path):
    path = tmp_path / "test.jsonl"
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"base-model: q{i}"}]}
        for i in range(8)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _args(server, test_set, out, *extra):
    return [
        "compare",
        "--target",
        f"base=local:base-model@{server.url}",
        "--target",
        f"tuned=compatible:{FT}",
        "--base-url",
        server.url,
        "--data",
        str(test_set),
        "-o",
        str(out),
        "--concurrency",
        "4",
        *extra,
    ]


def test_compare_writes_one_row_per_input_row_and_target_and_a_json_summary(server, test_set, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    assert main(_args(server, test_set, out, "--json", "--regex", r"q\d")) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(r["row_index"], r["target"]) for r in rows] == [(i, t) for i in range(8) for t in ("base", "tuned")]
    assert all(r["error"] is None and r["regex"] is True for r in rows)
    assert summary["rows"] == 8 and summary["results"] == 16 and summary["errors"] == 0
    by_target = {a["target"]: a for a in summary["aggregates"]}
    assert by_target["base"]["exact_match"] == 1.0 and by_target["tuned"]["exact_match"] == 0.0
    assert by_target["tuned"]["similarity"] < 1
    assert by_target["base"]["cost"] == 0.0 and by_target["tuned"]["cost"] is None  # unknown price
    assert set(by_target["base"]) >= {"latency_p50", "latency_p95", "tokens_in", "tokens_out", "contains"}


def test_rerunning_the_same_command_requests_nothing_again(server, test_set, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main(_args(server, test_set, out)) == 0
    completions = server.stats()["completions"]
    assert completions == 16
    assert main(_args(server, test_set, out)) == 0
    assert server.stats()["completions"] == 16
    text = capsys.readouterr().out
    assert "8 rows × 2 targets" in text and "0 failed" in text
    assert out.read_text().splitlines()[0].startswith("run_id,row_index,target")


def test_failed_requests_exit_1_with_their_errors_in_the_output(test_set, tmp_path, capsys):
    with TestServer(Behaviour(error_rate=1.0, errors=(500,))) as failing:
        out = tmp_path / "results.jsonl"
        code = main(
            [
                "compare",
                "--target",
                f"a=local:base-model@{failing.url}",
                "--target",
                f"b=local:{FT}@{failing.url}",
                "--data",
                str(test_set),
                "-o",
                str(out),
                "--max-attempts",
                "2",
                "--json",
            ]
        )
    assert code == 1
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 16 and all(r["error"].startswith("HTTP 500") for r in rows)
    captured = capsys.readouterr()
    assert json.loads(captured.out)["errors"] == 16
    # why, on stderr, one line per target (a wrong key showed only the table before)
    lines = captured.err.splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("error: a: 8 of 8 answers failed; the first: HTTP 500")
    assert lines[1].startswith("error: b: 8 of 8 answers failed; the first: HTTP 500")


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--target", "only=local:x"], "2 to 4 targets"),
        (["--target", "a=local:x", "--target", "b=nope:y"], "unknown provider 'nope'"),
        (["--target", "a=local:x", "--target", "b=compatible:y"], "needs an endpoint"),
        (["--target", "a=local:x", "--target", "b=local:y", "--regex", "(a)\\1"], "backreference"),
        (["--target", "a=local:x", "--target", "b=local:y", "--concurrency", "0"], "concurrency must be at least 1"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(extra, message, test_set, tmp_path, capsys):
    args = ["compare", *extra, "--data", str(test_set), "-o", str(tmp_path / "o.jsonl")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_help_documents_the_target_syntax(capsys):
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    text = capsys.readouterr().out
    assert "NAME=PROVIDER:MODEL[@URL]" in text and "compatible:llama3@http://127.0.0.1:11434/v1" in text
