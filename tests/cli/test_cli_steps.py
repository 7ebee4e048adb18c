"""The step commands (moderate, versions, votes, breakeven), output piped into `head`, and counts in two languages."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from studio.cli import main
from studio.i18n import plural
from tests.conftest import ROOT

CHATS = ROOT / "sample_data" / "support_chats.jsonl"
FAQ = ROOT / "sample_data" / "medical_faq_dirty.csv"


def _json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


# ---------------------------------------------------------------------------------------------- moderate


def test_moderate_offline_names_line_and_id(capsys):
    code, out = _json(capsys, ["moderate", str(CHATS), "--offline", "--json"])
    assert code == 1 and out["source"] == "blocklist" and out["rows"] == 43
    assert [(e["row"], e["unit"], e["id"]) for e in out["examples"]] == [(33, "line", 32), (34, "line", 33)]
    assert main(["moderate", str(CHATS), "--offline"]) == 1
    assert "line 33 (id 32): blocklist: stupid" in capsys.readouterr().out


class _Moderations(BaseHTTPRequestHandler):
    """OpenAI's moderation endpoint at the HTTP level: flags texts containing 'kill'; one 503 first."""

    calls: ClassVar[list[dict]] = []

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append(body)
        if len(type(self).calls) == 1:
            self.send_response(503)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"error": {"message": "busy", "type": "server_error"}}')
            return
        results = []
        for text in body["input"]:
            hit = "kill" in text.lower()
            results.append(
                {
                    "flagged": hit,
                    "categories": {"violence": hit, "harassment": False},
                    "category_scores": {"violence": float(hit), "harassment": 0.0},
                }
            )
        payload = json.dumps({"id": "modr-1", "model": body["model"], "results": results}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_moderate_through_the_endpoint_retries_and_flags(tmp_path, capsys, monkeypatch):
    data = tmp_path / "qa.csv"
    data.write_text("question,answer\nHow do I kill a process?,Use kill -9.\nHi,Hello there\nBye,See you\n")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Moderations)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/v1"
        code, out = _json(capsys, ["moderate", str(data), "--base-url", url, "--json"])
    finally:
        server.shutdown()
        server.server_close()
    assert code == 1 and out["source"] == "openai" and out["flagged"] == 1
    assert out["examples"] == [{"row": 2, "unit": "line", "id": 0, "categories": "violence"}]
    assert len(_Moderations.calls) == 2  # the 503 was retried


# ---------------------------------------------------------------------------------------------- versions, votes


def test_versions_list_and_export(tmp_path, capsys):
    from studio.storage.workspace import Workspace, import_file

    workspace = Workspace(tmp_path / "ws.db")
    info, result = import_file(workspace, FAQ)
    edited = workspace.save_version(info.id, result.frame.head(10), name="first ten")
    code, out = _json(capsys, ["--workspace", str(workspace.path), "versions", "list", "--json"])
    assert code == 0
    [dataset] = out["datasets"]
    assert [(v["name"], v["rows"]) for v in dataset["versions"]] == [("original", 238), ("first ten", 10)]
    assert dataset["head"] == edited.id
    target = tmp_path / "ten.jsonl"
    code, out = _json(
        capsys, ["--workspace", str(workspace.path), "versions", "export", str(edited.id), "-o", str(target), "--json"]
    )
    assert out == {"version": edited.id, "rows": 10, "path": str(target)}
    assert len(target.read_text().splitlines()) == 10
    assert main(["--workspace", str(workspace.path), "versions", "export", "999", "-o", str(target)]) == 2
    assert "no version with id 999" in capsys.readouterr().err


def test_votes_win_rate_per_pair_with_interval(tmp_path, capsys):
    from studio.playground.votes import record_vote
    from studio.storage.workspace import Workspace
    from studio.testing.server import Behaviour, TestServer

    data = tmp_path / "test.csv"
    data.write_text("question,answer\n" + "".join(f"q{i},a{i}\n" for i in range(6)))
    db = tmp_path / "ws.db"
    with TestServer(Behaviour(seed=2)) as server:
        argv = ["--workspace", str(db), "compare", "--target", f"base=compatible:base-model@{server.url}"]
        argv += ["--target", f"tuned=compatible:ft:base-model:studio:demo:abc123@{server.url}"]
        assert main([*argv, "--data", str(data), "-o", str(tmp_path / "r.jsonl"), "--json"]) == 0
    capsys.readouterr()
    workspace = Workspace(db)
    for row, vote in enumerate(["A", "A", "A", "B", "tie", "both_bad"]):
        record_vote(workspace, 1, row, "base", "tuned", vote)  # left=base
    code, out = _json(capsys, ["--workspace", str(db), "votes", "--json"])
    assert code == 0 and out["run"] == 1
    [pair] = out["pairs"]
    assert (pair["target"], pair["other"]) == ("tuned", "base")
    assert (pair["wins"], pair["losses"], pair["ties"], pair["both_bad"], pair["votes"]) == (1, 3, 1, 1, 6)
    assert pair["win_rate"] == pytest.approx(1.5 / 5)
    assert 0 < pair["low"] < pair["win_rate"] < pair["high"] < 1
    assert main(["--workspace", str(db), "votes"]) == 0
    assert "tuned vs base: 30% wins (95% interval" in capsys.readouterr().out


# ---------------------------------------------------------------------------------------------- breakeven


def test_breakeven_from_a_data_file_uses_the_estimate(capsys):
    _, estimate = _json(capsys, ["estimate", str(FAQ), "--model", "gpt-4o-mini", "--json"])
    code, out = _json(
        capsys,
        [
            "breakeven", "--model", "gpt-4o-mini", "--data", str(FAQ), "--prompt-tokens", "3000",
            "--tuned-prompt-tokens", "200", "--answer-tokens", "100", "--requests-per-month", "20000", "--json",
        ],
    )  # fmt: skip
    assert code == 0 and out["training_usd"] == estimate["usd"]
    assert out["base_monthly_usd"] > out["tuned_monthly_usd"] and out["payback_month"] >= 1
    code, never = _json(
        capsys,
        ["breakeven", "--model", "gpt-4o-mini", "--training-usd", "5", "--prompt-tokens", "10",
         "--tuned-prompt-tokens", "10", "--requests-per-month", "100", "--json"],
    )  # fmt: skip
    assert never["payback_month"] is None


# ---------------------------------------------------------------------------------------------- pipes, plurals


def test_output_piped_to_head_ends_quietly():
    done = subprocess.run(
        f"{sys.executable} -m studio.cli validate {FAQ} --details | head -n 2",
        shell=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert len(done.stdout.splitlines()) == 2
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


def test_counts_are_pluralised_in_english_and_spanish(tmp_path, capsys, monkeypatch):
    assert [plural("cli.examples", n) for n in (0, 1, 2)] == ["0 examples", "1 example", "2 examples"]
    assert [plural("cli.examples", n, "es") for n in (1, 2)] == ["1 ejemplo", "2 ejemplos"]
    one = tmp_path / "one.jsonl"
    one.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hey"}]})
    )
    main(["validate", str(one)])
    assert "one.jsonl: 1 example," in capsys.readouterr().out
    monkeypatch.setenv("STUDIO_LANG", "es")
    main(["estimate", str(FAQ), "--model", "gpt-4o-mini"])
    assert "238 ejemplos" in capsys.readouterr().out
