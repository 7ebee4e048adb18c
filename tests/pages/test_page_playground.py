"""AppTest of the Playground page against the loopback test server (STUDIO_ENGINE_URL)."""

import json

import pytest

from studio.playground.compare import list_runs, load_votes
from studio.storage.workspace import Workspace
from studio.testing.server import TestServer
from tests.pages.apptest import open_page

FT = "ft:base-model:studio:demo:abc123"


@pytest.fixture
def server(monkeypatch):
    with TestServer() as running:
        monkeypatch.setenv("STUDIO_ENGINE_URL", running.url)
        yield running


@pytest.fixture
def sample(tmp_path, monkeypatch):
    rows = [
        {"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assistant", "content": f"base-model: q{i}"}]}
        for i in range(5)
    ]
    (tmp_path / "style_demo_test.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr("studio.storage.workspace.SAMPLE_DIR", tmp_path)


def _page():
    return open_page("playground")


def _text(at):
    return " ".join(m.value for m in at.markdown)


def test_chat_side_by_side_with_stats_and_diff(server):
    at = _page()
    assert not at.exception
    assert at.title[0].value == "Playground: base vs fine-tuned"
    assert at.sidebar.selectbox(key="pg_model_0").value == "base-model"
    assert at.sidebar.selectbox(key="pg_model_1").value == FT
    at.chat_input(key="pg_message").set_value("<b>hello</b> world").run()
    assert not at.exception and not at.error
    text = _text(at)
    assert "base-model: \\<b>hello\\</b> world" in text  # markdown, with "<" escaped: never HTML
    assert "ft\\:base-model\\:studio\\:demo\\:abc123: \\<b>hello" in text  # ":name:" is no emoji
    stats = [c.value for c in at.caption if "tokens" in c.value]
    assert len(stats) == 2 and all(s.startswith("3 tokens · ") and s.endswith(" s · $0") for s in stats)
    at.toggle(key="pg_diff").set_value(True).run()
    assert any(c.value.startswith("From base to fine-tuned (67% of the words in common)") for c in at.caption)
    assert ":red-background[~~base\\-model\\:~~]" in _text(at)
    assert ":green-background[ft\\:base\\-model" in _text(at)

    at.chat_input(key="pg_message").set_value("and again").run()  # a follow-up: each target gets its own history
    assert not at.exception and not at.error
    bodies = server.requests()[-2:]
    assert sorted(b["model"] for b in bodies) == ["base-model", FT]
    for body in bodies:
        assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]
        assert body["messages"][1]["content"] == f"{body['model']}: <b>hello</b> world"  # its own answer
    assert len([c for c in at.caption if "tokens" in c.value]) == 4


def test_chat_sends_typed_tools_and_shows_the_calls(server):
    at = _page()
    at.text_area(key="pg_tools").set_value("[{").run()
    assert "not valid JSON" in at.error[0].value
    tool = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}
    at.text_area(key="pg_tools").set_value(json.dumps([tool])).run()
    assert not at.error
    at.chat_input(key="pg_message").set_value('CALL: {"name": "get_weather", "arguments": {"city": "Paris"}}').run()
    assert not at.exception and not at.error
    assert all(b["tools"] == [tool] for b in server.requests()[-2:])
    assert sum('get_weather(city="Paris")' in c.value or "get_weather(city=Paris)" in c.value for c in at.code) == 2
    at.chat_input(key="pg_message").set_value("18 C").run()  # sent as the tool's result
    for body in server.requests()[-2:]:
        assert body["messages"][-1] == {"role": "tool", "tool_call_id": "call_0", "content": "18 C"}
        assert body["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_unreachable_models_fall_back_to_free_text_and_bad_targets_show_an_error(monkeypatch):
    monkeypatch.setenv("STUDIO_ENGINE_URL", "http://127.0.0.1:9/v1")
    at = _page()
    assert not at.exception
    assert at.sidebar.text_input(key="pg_model_text_0").value == ""
    assert "needs a model" in at.error[0].value
    at.sidebar.text_input(key="pg_model_text_0").set_value("m").run()
    at.sidebar.text_input(key="pg_model_text_1").set_value("m").run()
    assert not at.error
    at.sidebar.text_input(key="pg_name_1").set_value("base").run()
    assert "unique" in at.error[0].value
    assert at.chat_input(key="pg_message").disabled


def test_test_set_run_table_and_blind_votes(server, sample):
    at = _page()
    assert at.info[0].value.startswith("No test-set runs yet")
    at.button(key="pg_run_set").click().run()
    assert not at.exception and not at.error
    runs = list_runs(Workspace())
    assert len(runs) == 1 and runs[0].rows == 5
    summary, table = at.dataframe[0].value, at.dataframe[1].value
    assert summary["target"].tolist() == ["base", "fine-tuned"]
    assert summary["exact_match"].tolist() == [1.0, 0.0]
    units = json.loads(at.dataframe[0].proto.columns)  # shares as %, similarity of 1, seconds, dollars
    assert units["exact_match"]["type_config"]["format"] == "percent"
    assert units["latency_p50"]["type_config"]["format"] == "%.2f s"
    assert list(table.columns[:5]) == ["row_index", "prompt", "reference", "base", "base · similarity"]
    assert len(table) == 5
    at.checkbox(key="pg_disagree").check().run()
    assert len(at.dataframe[1].value) == 5  # the fine-tuned model answers differently everywhere
    at.text_input(key="pg_regex").set_value("(a)\\1").run()
    assert "backreference" in at.error[0].value
    assert any(FT in c.value for c in at.code)  # "Use this model" snippets
    assert any("`pip install langchain-openai`" in c.value for c in at.caption)  # what the LangChain one needs

    at.button(key="pg_vote_A").click().run()
    assert not at.exception
    assert at.success[0].value.startswith("You voted A is better: A was ")
    votes = load_votes(Workspace(), runs[0].id)
    assert len(votes) == 1 and votes["vote"][0] == "A"
    at.button(key="pg_vote_tie").click().run()
    assert "over 2 votes" in _text(at)

    again = _page()  # a restart: the votes are still there
    assert "over 2 votes" in _text(again)


def test_spanish(server):
    at = _page()
    at.sidebar.radio[0].set_value("es").run()
    assert at.title[0].value == "Comparar: modelo base frente al ajustado"
    assert not at.exception


def test_targets_preset_from_the_train_page(server):
    at = open_page(
        "playground",
        playground_targets=[
            {"name": "base", "kind": "local", "model": "base-model"},
            {"name": "step 8", "kind": "local", "model": FT},
            {"name": "step 16", "kind": "local", "model": FT},
        ],
    )
    assert not at.exception
    assert at.sidebar.number_input(key="pg_count").value == 3
    assert [at.sidebar.text_input(key=f"pg_name_{i}").value for i in range(3)] == ["base", "step 8", "step 16"]
    assert at.sidebar.selectbox(key="pg_model_1").value == FT


def test_targets_preset_by_the_train_page_log_no_session_state_warning(server, monkeypatch):
    # "Compare in the Playground" hands the targets over in session state; a widget that also had a default value
    # made Streamlit log "created with a default value but also had its value set via the Session State API".
    import logging

    from streamlit.elements.lib import policies

    monkeypatch.setattr(policies, "_shown_default_value_warning", False)  # logged once per process otherwise
    logged: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: logged.append(record.getMessage())  # type: ignore[method-assign]
    policies._LOGGER.addHandler(handler)
    try:
        preset = [
            {"name": "base", "kind": "local", "model": "base-model"},
            {"name": "step 4", "kind": "local", "model": FT},
            {"name": "step 8", "kind": "local", "model": FT + ":ckpt-step-8"},
        ]
        at = open_page("playground", playground_targets=preset)
    finally:
        policies._LOGGER.removeHandler(handler)
    assert not at.exception
    assert not [m for m in logged if "Session State API" in m], logged
    assert [at.sidebar.text_input(key=f"pg_name_{i}").value for i in range(3)] == ["base", "step 4", "step 8"]
    assert at.sidebar.selectbox(key="pg_model_2").value == FT + ":ckpt-step-8"


def test_a_saved_test_split_is_the_first_test_set_offered(server, sample, tmp_path):
    from tests.pages.apptest import facts_with_splits

    workspace, _, info = facts_with_splits(tmp_path, 20, {"train": 0.6, "validation": 0.2, "test": 0.2})
    test_split = next(v for v in workspace.versions(info.id) if v.name == "test (seed 42)")

    at = _page()
    assert at.radio(key="pg_source").value == "workspace"  # before the sample and an upload
    version = at.selectbox(key="pg_version")
    assert version.options[0].startswith("facts · test (seed 42)")  # the held-out split first
    assert len(version.options) == 4  # the original and its three splits
    at.button(key="pg_run_set").click().run()
    assert not at.exception and not at.error
    [run] = list_runs(Workspace())
    assert run.rows == test_split.rows and run.source.startswith("facts · test (seed 42)")
    prompts = set(at.dataframe[1].value["prompt"])
    held_out = {m[0]["content"] for m in workspace.load_version(test_split.id)["messages"]}
    assert prompts == held_out
