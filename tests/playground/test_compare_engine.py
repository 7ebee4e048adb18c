"""The comparison runner against the real local engine (tiny model): base vs fine-tuned, saved row by row."""

from __future__ import annotations

from pathlib import Path

from studio.playground.compare import Params, build_target, load_cases, load_results, open_run, run_compare
from studio.playground.metrics import aggregate, score_rows
from studio.storage.workspace import Workspace
from tests.engine_support import TINY, wait_for_status, write_chat_file

pytest_plugins = ("tests.engine_fixtures",)


def test_base_vs_fine_tuned_on_the_local_engine(app_engine, tmp_path):
    client = app_engine.client()
    upload = client.files.create(file=write_chat_file(tmp_path / "train.jsonl", n=12).open("rb"), purpose="fine-tune")
    job = client.fine_tuning.jobs.create(model=TINY, training_file=upload.id, hyperparameters={"n_epochs": 1})
    fine_tuned = wait_for_status(client, job.id, {"succeeded", "failed"}).fine_tuned_model
    assert fine_tuned

    cases = load_cases(write_chat_file(tmp_path / "test.jsonl", n=3))
    targets = [build_target("base", "local", TINY), build_target("tuned", "local", fine_tuned)]
    workspace = Workspace()
    params = Params(max_tokens=8, seed=1)
    run = open_run(workspace, targets, params, cases, name="engine")
    results = run_compare(workspace, run, targets, cases, params, concurrency=2)
    assert [(r.row_index, r.target) for r in results.itertuples()] == [
        (i, name) for i in range(3) for name in ("base", "tuned")
    ]
    assert results["error"].isna().all() and (results["tokens_out"] > 0).all()
    assert (results["cost"] == 0).all()  # the local engine is free
    again = run_compare(workspace, open_run(workspace, targets, params, cases), targets, cases, params)
    assert again.equals(results)  # resumed: nothing asked twice
    assert len(load_results(workspace, run.id)) == 6


def test_a_tool_call_set_on_the_local_engine(app_engine, tmp_path):
    """The engine takes whole chats (tool calls and tool results as context) with ``tools`` in the request; the
    tiny model answers in text, so every tool-call reference counts as "answered in text instead of calling"."""
    cases = load_cases(Path(__file__).parent / "data" / "tool_calls.jsonl")
    targets = [build_target("base", "local", TINY), build_target("again", "local", TINY)]
    workspace = Workspace()
    params = Params(max_tokens=4, seed=1)
    run = open_run(workspace, targets, params, cases, name="tools")
    results = run_compare(workspace, run, targets, cases, params, concurrency=2)
    assert results["error"].isna().all(), results["error"].dropna().tolist()
    assert results["reference_tool_calls"].notna().sum() == 6 * 2  # six rows' references are tool calls
    summary = aggregate(score_rows(results), ["base", "again"]).set_index("target")
    assert summary.loc["base", "scored"] == "8/8"
    assert summary.loc["base", "text_instead"] == 6
    assert summary.loc["base", "same_functions"] == 0
