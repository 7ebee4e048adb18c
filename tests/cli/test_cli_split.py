"""`studio split` writes splits that share nothing; `studio leakage` finds what a naive split leaks."""

import json

from studio.cli import main
from studio.data.writers import export_bytes
from tests.quality.test_splits import planted_frame


def _write(path, frame):
    path.write_bytes(export_bytes(frame, to="openai-chat"))
    return str(path)


def test_split_writes_three_files_with_every_example_once_and_no_leak(tmp_path, capsys):
    source = _write(tmp_path / "all.jsonl", planted_frame())
    assert main(["split", source, "--ratios", "0.8,0.1,0.1", "--seed", "7", "-o", str(tmp_path / "out"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["leaks"] == []
    assert sum(s["rows"] for s in result["splits"].values()) == 78
    files = [tmp_path / "out" / f"{name}.jsonl" for name in ("train", "validation", "test")]
    assert all(f.exists() for f in files)
    assert main(["leakage", *map(str, files)]) == 0
    assert "nothing leaks" in capsys.readouterr().out


def test_leakage_reports_each_kind_with_pairs_and_exits_1(tmp_path, capsys):
    frame = planted_frame()
    train = _write(tmp_path / "train.jsonl", frame.iloc[:60])
    test = _write(tmp_path / "test.jsonl", frame.iloc[60:])
    assert main(["leakage", train, test, "--json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["clean"] is False and result["splits"] == {"train": 60, "test": 18}
    kinds = {row["kind"]: row for row in result["leaks"]}
    assert set(kinds) == {"normalized", "same_prompt", "near_duplicate"}
    assert kinds["same_prompt"]["rows"] == 13 and kinds["same_prompt"]["examples"][0] == [0, 0]
    assert kinds["near_duplicate"]["similarity"] == 0.8
    assert main(["leakage", train, test]) == 1
    out = capsys.readouterr().out
    assert "same_prompt, train↔test: 13 rows" in out and "near_duplicate (similarity ≥ 0.8)" in out


def test_bad_ratios_and_a_single_file_are_one_line_errors(tmp_path, capsys):
    source = _write(tmp_path / "all.jsonl", planted_frame())
    assert main(["split", source, "--ratios", "a,b", "-o", str(tmp_path / "o")]) == 2
    assert "--ratios" in capsys.readouterr().err
    assert main(["leakage", source]) == 2
    assert "at least two" in capsys.readouterr().err
