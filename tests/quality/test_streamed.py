"""A file read in parts (studio analyze on a large JSONL) gives exactly the findings of the one-frame path."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from studio.cli import main
from studio.data.loader import load_dataset
from studio.data.parts import NotStreamable, plan_parts
from studio.quality.rules import analyze
from studio.quality.streamed import analyze_file

SAMPLES = Path(__file__).resolve().parents[2] / "sample_data"
NOT_NEAR = [
    *("empty", "too_short", "truncated", "exact_duplicate", "normalized_duplicate", "duplicate_prompt"),
    *("placeholder", "pii", "blocklist", "uppercase"),
]


def _shout(messages: list[dict]) -> list[dict]:
    """The same conversation with every text in capitals and extra spaces: a normalized duplicate."""
    out = []
    for message in messages:
        message = dict(message)
        if isinstance(message.get("content"), str):
            message["content"] = "  " + message["content"].upper() + " "
        out.append(message)
    return out


def _other_answer(messages: list[dict]) -> list[dict]:
    """The same prompt with a different last answer: a duplicate prompt."""
    out = [dict(m) for m in messages]
    last = max(i for i, m in enumerate(out) if m.get("role") == "assistant")
    out[last]["content"] = "A different answer, so the same question has two answers."
    return out


def mixed_records() -> list[dict]:
    """Multi-turn chats (tool calls, an image part, defects in earlier turns), single-turn ones, and exact,
    normalized and prompt duplicates of both, shuffled so copies land in other parts than their originals."""
    rng = random.Random(19)
    chats = [json.loads(line) for line in (SAMPLES / "support_chats.jsonl").read_text().splitlines() if line]
    single = [json.loads(line) for line in (SAMPLES / "style_demo.jsonl").read_text().splitlines() if line]
    records = chats + single
    for source in rng.sample(chats, 12) + rng.sample(single, 12):
        records.append(dict(source))
        records.append({**source, "messages": _shout(source["messages"])})
        records.append({**source, "messages": _other_answer(source["messages"])})
    records.append({"messages": [{"role": "user", "content": "hi"}], "topic": "no answer"})
    records.append({"messages": [{"role": "assistant", "content": "An answer with no question."}]})
    records.append({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]})
    rng.shuffle(records)
    return records


@pytest.fixture
def mixed_file(tmp_path: Path) -> Path:
    path = tmp_path / "mixed.jsonl"
    lines = [json.dumps(r, ensure_ascii=False) for r in mixed_records()]
    lines.insert(7, "")  # a blank line: skipped, but line numbers count it
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def assert_same(found, expected) -> None:
    pd.testing.assert_frame_equal(found.issues, expected.issues)
    pd.testing.assert_frame_equal(found.flags, expected.flags)
    assert dict(found.counts) == dict(expected.counts)
    assert dict(found.notes) == dict(expected.notes)
    assert found.rules == expected.rules


@pytest.mark.parametrize(("workers", "part_bytes"), [(1, 8_000), (2, 20_000)])
def test_parts_of_a_few_lines_give_the_findings_of_one_frame(mixed_file, workers, part_bytes):
    loaded = load_dataset(mixed_file)
    expected = analyze(loaded.frame, rules=NOT_NEAR)
    # the sample is made to have every duplicate kind, across parts
    assert all(expected.counts[k] >= 12 for k in ("exact_duplicate", "normalized_duplicate", "duplicate_prompt"))
    parts = plan_parts(mixed_file, part_bytes=part_bytes)
    assert len(parts) >= 4
    found = analyze_file(str(mixed_file), rules=NOT_NEAR, part_bytes=part_bytes, workers=workers)
    assert_same(found.analysis, expected)
    assert found.rows == len(loaded.frame)
    assert np.array_equal(found.source_rows, loaded.frame["source_row"].to_numpy())
    assert found.warnings == loaded.warnings  # "key 'topic' kept as metadata in 1 line", counted over the parts


def test_the_default_rules_and_a_regex_read_in_parts(mixed_file):
    rules, params = [*NOT_NEAR, "regex"], {"regex": {"pattern": "(?i)chain"}, "too_short": {"min_chars": 80}}
    expected = analyze(load_dataset(mixed_file).frame, rules=rules, params=params)
    found = analyze_file(str(mixed_file), rules=rules, params=params, part_bytes=20_000, workers=1)
    assert expected.counts["regex"] > 0
    assert_same(found.analysis, expected)


def test_near_duplicates_and_files_the_parts_would_read_differently_are_read_whole(tmp_path, mixed_file):
    with pytest.raises(NotStreamable):
        analyze_file(str(mixed_file), rules=["near_duplicate"])
    crlf = tmp_path / "crlf.jsonl"
    crlf.write_bytes(mixed_file.read_bytes().replace(b"\n", b"\r\n"))
    with pytest.raises(NotStreamable):
        analyze_file(str(crlf), rules=NOT_NEAR, part_bytes=8_000, workers=1)
    legacy = tmp_path / "legacy.jsonl"  # a cp1252 line after the first part: the whole load decodes it as mixed
    legacy.write_bytes(
        mixed_file.read_bytes() + '{"messages": [{"role": "user", "content": "café"}]}\n'.encode("cp1252")
    )
    with pytest.raises(NotStreamable):
        analyze_file(str(legacy), rules=NOT_NEAR, part_bytes=8_000, workers=1)


def test_a_bad_line_in_a_later_part_is_named_like_the_whole_load_names_it(tmp_path, mixed_file):
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(mixed_file.read_bytes() * 2 + b'{"messages": [}\n')  # after the 200 lines the format is told from
    with pytest.raises(Exception) as whole:
        load_dataset(bad)
    with pytest.raises(type(whole.value)) as parts:
        analyze_file(str(bad), rules=NOT_NEAR, part_bytes=20_000, workers=2)
    assert str(parts.value) == str(whole.value)


def test_cli_analyze_reads_a_large_file_in_parts_with_the_same_report(mixed_file, capsys, monkeypatch):
    monkeypatch.setattr("studio.quality.streamed.PART_BYTES", 20_000)
    rules = ",".join(NOT_NEAR)
    assert main(["analyze", str(mixed_file), "--rules", rules, "--json"]) == 0
    streamed = json.loads(capsys.readouterr().out)
    monkeypatch.setattr("studio.cli.clean._streamed", lambda *args: None)  # the one-frame path
    assert main(["analyze", str(mixed_file), "--rules", rules, "--json"]) == 0
    whole = json.loads(capsys.readouterr().out)
    assert streamed == whole
    assert streamed["counts"]["exact_duplicate"] >= 12


def test_fewer_workers_when_free_memory_holds_fewer_parts_and_a_clear_refusal_when_none_fits(mixed_file, monkeypatch):
    from studio.errors import ResourceError
    from studio.quality import streamed

    part = 10 * 2**20  # a part of 10 MB needs ~200 MB in its worker
    monkeypatch.setattr("studio.core.memory.available_memory", lambda: 500 * 2**20)
    monkeypatch.setattr("studio.quality.streamed.available_memory", lambda: 500 * 2**20)
    assert streamed._affordable(8, part) == 2
    monkeypatch.setattr("studio.core.memory.available_memory", lambda: 2**20)  # 85 KB in one part: ~1.7 MB
    with pytest.raises(ResourceError, match="GB of memory"):
        analyze_file(str(mixed_file), rules=NOT_NEAR, part_bytes=part)


def test_a_part_of_blank_lines_only(tmp_path):
    records = [
        {"messages": [{"role": "user", "content": f"q{i % 50}"}, {"role": "assistant", "content": f"answer {i % 70}."}]}
        for i in range(300)
    ]
    lines = [json.dumps(r) for r in records[:250]] + [""] * 14_000 + [json.dumps(r) for r in records[250:]]
    path = tmp_path / "blank.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    loaded = load_dataset(path)
    expected = analyze(loaded.frame, rules=NOT_NEAR)
    found = analyze_file(str(path), rules=NOT_NEAR, part_bytes=6_000, workers=1)
    assert expected.counts["duplicate_prompt"] == 250
    assert_same(found.analysis, expected)
    assert np.array_equal(found.source_rows, loaded.frame["source_row"].to_numpy())
