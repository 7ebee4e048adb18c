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


def documented_counts(sample_data) -> dict[str, int]:
    text = (sample_data / "README.md").read_text(encoding="utf-8")
    section = text.split(f"## {FILE}", 1)[1].split("\n## ", 1)[0]
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
