"""The bundled dirty FAQ: analyze() finds exactly the defects documented in sample_data/README.md."""

from __future__ import annotations

import re

import pytest

from studio.data.loader import load_dataset
from studio.quality.rules import analyze

FILE = "medical_faq_dirty.csv"


@pytest.fixture(scope="module")
def analysis():
    from tests.conftest import SAMPLE_DATA

    frame = load_dataset(SAMPLE_DATA / FILE).frame
    return frame, analyze(frame)


def documented_counts(sample_data, file: str = FILE) -> dict[str, int]:
    text = (sample_data / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {file}", 1)[1].split("\n## ", 1)[0]
    return {key: int(n) for key, n in re.findall(r"^\| `(\w+)` \| (\d+) \|", section, flags=re.M)}


def test_counts_match_the_readme(analysis, sample_data):
    frame, result = analysis
    documented = documented_counts(sample_data)
    assert len(documented) == 11  # every rule except regex, which needs a pattern
    assert result.counts == documented
    assert len(frame) == 238


def test_flagged_rows_are_the_planted_defects_and_their_originals(analysis):
    frame, result = analysis
    flagged = result.flags[list(result.rules)].any(axis=1)
    assert int(flagged.sum()) == 82
    # clean rows really are clean: long enough, finished, in both languages
    clean = frame[~flagged]
    assert clean["assistant"].str.strip().str.len().min() >= 50
    assert set(clean["language"]) == {"en", "es"}
    assert clean["assistant"].str.contains("\n").sum() >= 2  # multi-line answers survive CSV quoting


def test_regenerating_gives_the_same_file(sample_data, tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_medical_faq", sample_data / "make_medical_faq.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / FILE)
    module.main()
    assert (tmp_path / FILE).read_bytes() == (sample_data / FILE).read_bytes()


CHATS = "support_chats.jsonl"


@pytest.fixture(scope="module")
def chats():
    from tests.conftest import SAMPLE_DATA

    frame = load_dataset(SAMPLE_DATA / CHATS).frame
    return frame, analyze(frame)


def test_multi_turn_counts_match_the_readme(chats, sample_data):
    frame, result = chats
    documented = documented_counts(sample_data, CHATS)
    assert len(documented) == 11
    assert result.counts == documented
    turns = frame["messages"].map(len)
    assert len(frame) == 43 and turns.min() >= 3 and (turns >= 5).sum() == 42  # one chat is a single photo round


def test_multi_turn_findings_name_the_earlier_turn_they_are_in(chats):
    frame, result = chats
    issues = result.issues
    messages = set(issues.loc[issues.rule.isin(["pii", "blocklist", "placeholder", "uppercase"]), "message"])
    assert "e-mail address 'dana.whitfield@example.com' in turn 1 (user)" in messages
    assert "phone number '+1 (555) 201-4400' in turn 3 (user)" in messages
    assert "e-mail address 'lee.moreno@example.org' in turn 5 (tool)" in messages
    assert "template variable '{{name}}' in turn 2 (assistant)" in messages
    assert "100% of the letters in turn 1 (user) are upper case" in messages
    answers = issues[issues.rule.isin(["empty", "too_short", "truncated"])]
    assert sorted(answers["message"]) == [
        "turn 2 (assistant): the answer ends with the connector word 'and'",
        "turn 2 (assistant): the answer has 5 characters (minimum 50)",
        "turn 2 (assistant): the answer is blank",
        "turn 4 (assistant): the answer ends with the connector word 'the'",
    ]
    # the weight-0 turns (context, not trained) are not flagged
    untrained = [i for i, m in zip(frame["id"], frame["messages"], strict=True) if any(t.get("weight") == 0 for t in m)]
    assert len(untrained) == 2 and not set(untrained) & set(answers["id"])


def test_regenerating_the_chats_gives_the_same_file(sample_data, tmp_path, monkeypatch):
    import importlib.util

    spec = importlib.util.spec_from_file_location("make_support_chats", sample_data / "make_support_chats.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "OUT", tmp_path / CHATS)
    module.main()
    assert (tmp_path / CHATS).read_bytes() == (sample_data / CHATS).read_bytes()
