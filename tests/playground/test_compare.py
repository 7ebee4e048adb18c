"""The comparison runner against the loopback test server: order, retries, resume, persistence, votes, export."""

import json
import sqlite3

import pandas as pd
import pytest

from studio.errors import CompareError
from studio.playground.compare import (
    Case,
    Params,
    RetryPolicy,
    StreamStats,
    Target,
    ab_sides,
    cases_from_frame,
    cost_of,
    diff_words,
    export_results,
    get_run,
    list_runs,
    load_cases,
    load_results,
    load_votes,
    next_unvoted,
    open_run,
    parse_target,
    record_vote,
    run_compare,
    stream_answer,
    usage_snippets,
)
from studio.playground.metrics import win_rate
from studio.providers.profiles import Profile
from studio.storage.workspace import Workspace
from studio.testing.server import Behaviour, TestServer
from ui.markdown import escape_markdown
from ui.playground import preset_widgets

FT = "ft:base-model:studio:demo:abc123"
FAST = RetryPolicy(max_attempts=4, base_delay=0.01, max_delay=0.05, timeout=5)


@pytest.fixture
def server():
    with TestServer() as running:
        yield running


def _targets(server, kind="local"):
    return [
        Target("base", Profile(kind, base_url=server.url), "base-model"),
        Target("tuned", Profile(kind, base_url=server.url), FT),
    ]


def _cases(n):
    return [Case(i, ({"role": "user", "content": f"question {i}"},), f"base-model: question {i}") for i in range(n)]


def _run(server, cases, **options):
    workspace = Workspace()
    targets = _targets(server)
    run = open_run(workspace, targets, Params(), cases, source="test")
    return workspace, run, run_compare(workspace, run, targets, cases, Params(), retry=FAST, **options)


@pytest.mark.parametrize(
    "spec,kind,model,url",
    [
        ("base=openai:gpt-4o-mini", "openai", "gpt-4o-mini", None),
        (
            "ft=openai:ft:gpt-4o-mini-2024-07-18:acme:v2:abc123",
            "openai",
            "ft:gpt-4o-mini-2024-07-18:acme:v2:abc123",
            None,
        ),
        ("small=local:HuggingFaceTB/SmolLM2-135M", "local", "HuggingFaceTB/SmolLM2-135M", None),
        ("llama=compatible:llama3@http://127.0.0.1:11434/v1/", "compatible", "llama3", "http://127.0.0.1:11434/v1"),
        ("x=local:m@https://host:1/v1", "local", "m", "https://host:1/v1"),
        (
            "az=azure:my-deployment@https://res.openai.azure.com",
            "azure",
            "my-deployment",
            "https://res.openai.azure.com",
        ),
    ],
)
def test_parse_target(spec, kind, model, url):
    target = parse_target(spec)
    assert (target.profile.kind, target.model, target.profile.base_url) == (kind, model, url)
    assert target.name == spec.split("=")[0]


@pytest.mark.parametrize(
    "spec,message",
    [
        ("gpt-4o-mini", "expected NAME=PROVIDER:MODEL"),
        ("a=openai:", "expected NAME=PROVIDER:MODEL"),
        ("a=anthropic:claude", "unknown provider 'anthropic'"),
        ("a=compatible:llama3", "needs an endpoint"),
    ],
)
def test_parse_target_rejects_bad_specs(spec, message):
    with pytest.raises(CompareError, match=message):
        parse_target(spec)


@pytest.mark.parametrize(
    "target,tokens,expected",
    [
        (Target("l", Profile("local"), "gpt-4o"), (1000, 1000), 0.0),
        (Target("b", Profile("openai"), "gpt-4o-mini"), (1_000_000, 0), 1.0),
        (Target("f", Profile("openai"), "ft:gpt-4o-mini-2024-07-18:org::id"), (1_000_000, 1_000_000), 5.0),
        (Target("u", Profile("openai"), "unknown-model"), (10, 10), None),
        (Target("n", Profile("openai"), "gpt-4o-mini"), (None, 3), None),
    ],
)
def test_cost_with_an_injected_price_map(target, tokens, expected):
    prices = {"gpt-4o-mini": (1.0, 4.0), "ft:gpt-4o-mini-2024-07-18:org::id": (2.0, 3.0)}
    assert cost_of(target, *tokens, prices=prices) == expected


def test_cost_from_the_price_table_uses_fine_tuned_prices_for_ft_models():
    pricing = pytest.importorskip("studio.cost.prices")
    table = pricing.load_prices()
    entry = table.prices_for("gpt-4.1-mini")
    base = cost_of(Target("b", Profile("openai"), "gpt-4.1-mini"), 1_000_000, 1_000_000)
    tuned = cost_of(Target("f", Profile("openai"), "ft:gpt-4.1-mini-2025-04-14:org::id"), 1_000_000, 1_000_000)
    assert base == pytest.approx(entry.base_input + entry.base_output)
    assert tuned == pytest.approx(entry.input + entry.output)


def test_every_row_and_target_in_input_order_although_answers_finish_out_of_order(server):
    server.configure(latency=0.01, jitter=0.05)
    _, _, results = _run(server, _cases(12), concurrency=6)
    assert list(zip(results["row_index"], results["target"], strict=True)) == [
        (i, t) for i in range(12) for t in ("base", "tuned")
    ]
    assert results["error"].isna().all()
    base = results.loc[results["target"] == "base", "answer"].tolist()
    assert base == [f"base-model: question {i}" for i in range(12)]
    assert (results["tokens_in"] == 2).all() and (results["cost"] == 0).all()
    assert server.stats()["max_in_flight"] > 1


def test_retries_honour_retry_after_and_are_counted(server):
    server.configure(script=(429, 500, "drop"), retry_after=0.03)
    waits = []
    workspace = Workspace()
    targets = _targets(server)
    cases = _cases(1)
    run = open_run(workspace, targets, Params(), cases)
    results = run_compare(workspace, run, targets, cases, Params(), concurrency=1, retry=FAST, sleep=waits.append)
    assert results["error"].isna().all()
    assert results["attempts"].tolist() == [4, 1]  # base met the three scripted faults
    assert waits[0] == pytest.approx(0.03)  # Retry-After of the 429
    assert all(0 <= w <= 0.05 for w in waits[1:])  # backoff with jitter, capped
    assert server.stats()["duplicates"] == 0


def test_exhausted_retries_are_saved_as_errors_and_retried_on_the_next_run(server):
    server.configure(script=(503,) * 4)
    workspace, run, results = _run(server, _cases(1), concurrency=1)
    failed = results[results["target"] == "base"].iloc[0]
    assert failed["answer"] is None and failed["attempts"] == 4
    assert failed["error"].startswith("HTTP 503") and "gave up after 4 attempts" in failed["error"]
    again = run_compare(workspace, run, _targets(server), _cases(1), Params(), retry=FAST)
    assert again["error"].isna().all()
    assert again.loc[again["target"] == "base", "attempts"].item() == 5  # attempts accumulate across runs
    assert server.stats()["completions"] == 2  # the tuned row was not asked again


def test_client_errors_are_not_retried(server):
    workspace = Workspace()
    targets = [
        Target("base", Profile("local", base_url=server.url), "base-model"),
        Target("typo", Profile("local", base_url=server.url), "no-such-model"),
    ]
    cases = _cases(2)
    run = open_run(workspace, targets, Params(), cases)
    results = run_compare(workspace, run, targets, cases, Params(), retry=FAST)
    typo = results[results["target"] == "typo"]
    assert (typo["attempts"] == 1).all() and typo["error"].str.startswith("HTTP 404").all()


def test_resume_after_interruption_pays_nothing_twice(server):
    server.configure(latency=0.02)
    cases = _cases(20)
    seen = []

    def interrupt(progress):
        seen.append(progress.done)
        if progress.done >= 6:
            raise KeyboardInterrupt

    workspace = Workspace()
    targets = _targets(server)
    run = open_run(workspace, targets, Params(), cases)
    with pytest.raises(KeyboardInterrupt):
        run_compare(workspace, run, targets, cases, Params(), concurrency=3, retry=FAST, on_progress=interrupt)
    saved = load_results(workspace, run.id)
    assert 6 <= len(saved) < 40  # in-flight requests finished and were saved, the queue was dropped
    assert server.stats()["completions"] == len(saved)

    progress = []
    # A new process would open the same run from the same inputs.
    resumed = open_run(Workspace(), _targets(server), Params(), cases)
    assert resumed.id == run.id
    results = run_compare(
        Workspace(), resumed, targets, cases, Params(), concurrency=3, retry=FAST, on_progress=progress.append
    )
    assert progress[0].skipped == len(saved)
    assert len(results) == 40 and results["error"].isna().all()
    stats = server.stats()
    assert stats["completions"] == 40 and stats["duplicates"] == 0


def test_random_faults_lose_no_rows(server):
    server.configure(latency=0.005, error_rate=0.2, errors=(429, 500, 503, "drop"), retry_after=0.01, seed=7)
    _, _, results = _run(server, _cases(30), concurrency=8)
    assert len(results) == 60 and results["error"].isna().all()
    assert results["attempts"].sum() > 60
    stats = server.stats()
    assert stats["completions"] == 60 and stats["duplicates"] == 0


def test_a_different_run_is_a_new_run(server):
    workspace = Workspace()
    first = open_run(workspace, _targets(server), Params(), _cases(2))
    assert open_run(workspace, _targets(server), Params(temperature=0.7), _cases(2)).id != first.id
    assert open_run(workspace, _targets(server), Params(), _cases(3)).id != first.id
    assert [r.id for r in list_runs(workspace)][-1] == first.id
    assert get_run(workspace, first.id).target_names == ["base", "tuned"]
    with pytest.raises(CompareError, match="2 to 4 targets"):
        open_run(workspace, _targets(server)[:1], Params(), _cases(2))
    with pytest.raises(CompareError, match="unique"):
        open_run(workspace, [_targets(server)[0]] * 2, Params(), _cases(2))


def test_system_prompt_replaces_the_rows_own_and_parameters_reach_the_server(server):
    cases = [Case(0, ({"role": "system", "content": "old"}, {"role": "user", "content": "one two three four"}), None)]
    workspace, targets = Workspace(), _targets(server)
    params = Params(system_prompt="Be brief.", max_tokens=2)
    run = open_run(workspace, targets, params, cases)
    results = run_compare(workspace, run, targets, cases, params, retry=FAST)
    assert results["answer"].tolist() == ["base-model: one", f"{FT}: one"]
    assert results["finish_reason"].tolist() == ["length", "length"]
    with sqlite3.connect(workspace.path) as db:
        messages = json.loads(db.execute("SELECT messages FROM compare_results LIMIT 1").fetchone()[0])
    assert messages == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "one two three four"}]


def test_keys_are_never_stored(monkeypatch):
    key = "sk-secret-do-not-store-1234"
    with TestServer(Behaviour(api_key=key)) as server:
        workspace, cases = Workspace(), _cases(2)
        targets = [
            Target("a", Profile("compatible", base_url=server.url), "base-model"),
            Target("b", Profile("compatible", base_url=server.url), FT),
        ]
        run = open_run(workspace, targets, Params(), cases)
        ok = run_compare(workspace, run, targets, cases, Params(), retry=FAST, api_keys={"a": key, "b": key})
        assert ok["error"].isna().all()
        wrong = key + "-wrong"
        run2 = open_run(workspace, targets, Params(seed=1), cases)
        failed = run_compare(
            workspace, run2, targets, cases, Params(seed=1), retry=FAST, api_keys={"a": wrong, "b": wrong}
        )
        assert failed["error"].str.startswith("HTTP 401").all()
    workspace_bytes = b"".join(p.read_bytes() for p in workspace.path.parent.iterdir())
    assert key.encode() not in workspace_bytes
    assert key.encode() not in export_results(failed, "jsonl")


def test_cases_from_a_file_take_the_last_assistant_turn_as_reference(tmp_path):
    rows = [
        {
            "messages": [
                {"role": "system", "content": "S"},
                {"role": "user", "content": "Q1"},
                {"role": "assistant", "content": "A1"},
            ]
        },
        {
            "messages": [
                {"role": "user", "content": "Q2"},
                {"role": "assistant", "content": "x"},
                {"role": "user", "content": "Q3"},
                {"role": "assistant", "content": "A3"},
            ]
        },
    ]
    path = tmp_path / "test.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cases = load_cases(path)
    assert [c.reference for c in cases] == ["A1", "A3"]
    assert [c.prompt for c in cases] == ["Q1", "Q3"]
    assert [len(c.messages) for c in cases] == [2, 3]
    (tmp_path / "qa.csv").write_text("question,answer\nWhat is 2+2?,4\n")
    assert load_cases(tmp_path / "qa.csv")[0].reference == "4"
    with pytest.raises(CompareError, match="no rows"):
        cases_from_frame(pd.DataFrame({"messages": []}))


def test_streaming_fills_tokens_latency_and_cost(server):
    target = _targets(server)[0]
    stats = StreamStats()
    chunks = list(stream_answer(target, [{"role": "user", "content": "ANSWER:a b c"}], Params(), stats))
    assert chunks == ["a", " b", " c"] and stats.text == "a b c"
    assert stats.tokens_out == 3 and stats.cost == 0.0 and stats.latency_s > 0
    with pytest.raises(CompareError, match="HTTP 404"):
        list(
            stream_answer(
                Target("x", target.profile, "missing"), [{"role": "user", "content": "q"}], Params(), StreamStats()
            )
        )


def test_opening_a_stream_is_retried_under_the_one_policy(server):
    server.configure(script=(503, 429), retry_after=0.01)
    stats = StreamStats()
    chunks = list(
        stream_answer(_targets(server)[0], [{"role": "user", "content": "ANSWER:a b"}], Params(), stats, retry=FAST)
    )
    assert chunks == ["a", " b"] and server.stats()["requests"] == 3  # two faults, then the stream
    server.configure(script=(503,) * 4, retry_after=0.01)
    with pytest.raises(CompareError, match=r"^base: HTTP 503"):
        list(
            stream_answer(_targets(server)[0], [{"role": "user", "content": "q"}], Params(), StreamStats(), retry=FAST)
        )
    assert server.stats()["requests"] == 3 + FAST.max_attempts


def test_votes_survive_a_restart_and_give_a_win_rate(server):
    workspace, run, results = _run(server, _cases(6), concurrency=4)
    pair = ("base", "tuned")
    sides = [ab_sides(run.id, i, pair, seed=3) for i in range(6)]
    assert sides == [ab_sides(run.id, i, ("tuned", "base"), seed=3) for i in range(6)]  # stable, order-free
    assert {s[0] for s in sides} == {"base", "tuned"}  # both sides occur
    votes = ["A", "B", "tie", "both_bad", "A"]
    winners = []
    for row, vote in enumerate(votes):
        left, right = sides[row]
        winners.append(record_vote(workspace, run.id, row, left, right, vote))
    record_vote(workspace, run.id, 4, *sides[4], "B")  # a changed mind replaces the vote
    winners[4] = sides[4][1]

    stored = load_votes(Workspace(), run.id, pair)  # a fresh handle, as after a restart
    assert stored["winner"].tolist() == winners
    assert next_unvoted(results, stored, pair) == 5
    rate = win_rate(stored["winner"].tolist(), "tuned", "base")
    assert rate.votes == 5 and rate.ties == 1 and rate.both_bad == 1
    with pytest.raises(CompareError, match="unknown vote"):
        record_vote(workspace, run.id, 0, "base", "tuned", "left")


def test_export_csv_and_jsonl(server):
    _, _, results = _run(server, _cases(2))
    results.loc[0, "answer"] = '=HYPERLINK("http://evil")'
    csv = export_results(results, "csv").decode()
    assert "'=HYPERLINK" in csv and csv.splitlines()[0].startswith("run_id,row_index,target")
    lines = export_results(results, "jsonl").decode().splitlines()
    assert len(lines) == 4 and json.loads(lines[1])["target"] == "tuned"
    with pytest.raises(CompareError):
        export_results(results, "xml")


def test_usage_snippets_name_the_model_and_base_url_but_no_key(server, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-live-key-123456")
    snippets = usage_snippets(Target("ft", Profile("openai"), "ft:gpt-4o-mini-2024-07-18:acme::abc"))
    assert set(snippets) == {"python", "langchain", "curl"}
    assert all(
        "ft:gpt-4o-mini-2024-07-18:acme::abc" in s and "https://api.openai.com/v1" in s for s in snippets.values()
    )
    assert "ChatOpenAI(" in snippets["langchain"] and "$OPENAI_API_KEY" in snippets["curl"]
    assert not any("sk-live" in s for s in snippets.values())
    azure = usage_snippets(parse_target("a=azure:dep@https://r.openai.azure.com"))
    assert "AzureOpenAI(" in azure["python"] and "api-version=" in azure["curl"]
    compile(snippets["python"], "snippet", "exec")
    compile(usage_snippets(_targets(server)[0])["python"], "snippet", "exec")


@pytest.mark.parametrize(
    "text,expected",
    [
        ("<img src=x onerror=alert(1)>", "\\<img src\\=x onerror\\=alert\\(1\\)\\>"),
        ("**bold** _x_", "\\*\\*bold\\*\\* \\_x\\_"),
        ("a\nb", "a  \nb"),
        ("plain words", "plain words"),
    ],
)
def test_escape_markdown(text, expected):
    assert escape_markdown(text) == expected
    assert "".join(escape_markdown(c) for c in text) == expected  # chunk by chunk gives the same


def test_diff_words():
    assert diff_words("the cat sat", "the dog sat down") == [
        ("same", "the"),
        ("del", "cat"),
        ("add", "dog"),
        ("same", "sat"),
        ("add", "down"),
    ]


def test_an_interruption_ends_retry_waits_and_the_next_run_finishes_the_row(server):
    server.configure(script=(503,), retry_after=30)  # a long Retry-After that the interruption must cut short
    cases, workspace, targets = _cases(1), Workspace(), _targets(server)
    run = open_run(workspace, targets, Params(), cases)

    def interrupt(progress):
        if progress.done >= 1:  # one answer arrives while the other target waits 30 s to retry
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_compare(
            workspace,
            run,
            targets,
            cases,
            Params(),
            concurrency=2,
            retry=RetryPolicy(max_attempts=3, max_delay=60),
            on_progress=interrupt,
        )
    saved = load_results(workspace, run.id)
    failed = saved[saved["error"].notna()]
    assert len(failed) == 1 and failed["attempts"].item() == 1
    assert failed["error"].item().startswith("HTTP 503") and "interrupted before retrying" in failed["error"].item()
    results = run_compare(workspace, run, targets, cases, Params(), retry=FAST)
    assert results["error"].isna().all() and server.stats()["duplicates"] == 0


def test_targets_chosen_on_the_train_page_fill_the_playground_widgets():
    preset = [
        {"name": "base", "kind": "local", "model": "smollm2-135m-instruct"},
        {"name": "fine-tuned", "kind": "local", "model": "ft:smollm2-135m-instruct:demo:ftjob-1"},
    ]
    values = preset_widgets(preset)
    assert values["pg_count"] == 2
    assert values["pg_model_1"] == values["pg_model_text_1"] == "ft:smollm2-135m-instruct:demo:ftjob-1"
    assert (values["pg_kind_0"], values["pg_name_1"]) == ("local", "fine-tuned")
    assert preset_widgets([]) == {}  # nothing chosen: the widgets keep what the user set


def test_a_spent_quota_is_asked_once_per_row_and_the_row_says_so():
    """A 429 insufficient_quota (OpenAI's billing stop) is not a rate limit: the Playground never retries it."""
    import http.server
    import threading

    hits = []

    class Quota(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            self.rfile.read(int(self.headers["content-length"]))
            hits.append(self.path)
            body = json.dumps(
                {
                    "error": {
                        "message": "You exceeded your current quota",
                        "type": "insufficient_quota",
                        "param": None,
                        "code": "insufficient_quota",
                    }
                }
            ).encode()
            self.send_response(429)
            self.send_header("content-type", "application/json")
            self.send_header("retry-after", "0")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quota)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}/v1"
        targets = [Target(name, Profile("compatible", base_url=url), "gpt-4o-mini") for name in ("a", "b")]
        workspace, cases = Workspace(), _cases(2)
        run = open_run(workspace, targets, Params(), cases, source="quota")
        results = run_compare(
            workspace,
            run,
            targets,
            cases,
            Params(),
            retry=FAST,
            sleep=lambda s: None,
            api_keys={"a": "sk-a-123456789", "b": "sk-b-123456789"},
        )
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert len(hits) == 4 and (results["attempts"] == 1).all()  # one request per (row, target), no retries
    assert results["error"].str.contains("billing/quota stop, not a rate limit").all()
    assert not results["error"].str.contains("gave up").any()


def test_targets_default_to_the_newest_fine_tunes_base_model_first_and_that_fine_tune_second():
    from studio.playground.targets import default_model_index, list_models

    models = ("ft:base-b:style:ftjob-old", "base-b", "ft:base-b:style:ftjob-new", "base-a")
    with TestServer(Behaviour(models=models)) as server:
        listed = list_models(Profile("compatible", base_url=server.url), api_key="k")
    assert listed == ["base-a", "base-b", "ft:base-b:style:ftjob-new", "ft:base-b:style:ftjob-old"]
    assert [listed[default_model_index(listed, i)] for i in range(4)] == [
        "base-b",  # the fine-tune's own base, so the pair compares like with like
        "ft:base-b:style:ftjob-new",
        "ft:base-b:style:ftjob-new",
        "ft:base-b:style:ftjob-old",
    ]
    assert default_model_index(["base-a", "base-b"], 1) == 1 and default_model_index([], 0) == -1
    assert default_model_index(["base-a", "ft:gone:x:ftjob-1"], 0) == 0  # its base is not listed: the first base
