"""Splits: ratios, determinism, duplicates kept together, leakage found when they are not."""

import pandas as pd
import pytest

from studio.data.frame import build_frame
from studio.quality.splits import leakage_report, split_frame


def frame_of(answers):
    return build_frame([{"messages": [{"role": "user", "content": f"q {a}"}, {"role": "assistant", "content": a}]}
                        for a in answers], list(range(1, len(answers) + 1)))


def test_ratios_and_determinism():
    frame = frame_of([f"answer {i}" for i in range(100)])
    splits = split_frame(frame, ratios={"train": 0.8, "validation": 0.1, "test": 0.1}, seed=7)
    assert {k: len(v) for k, v in splits.items()} == {"train": 80, "validation": 10, "test": 10}
    again = split_frame(frame, ratios={"train": 0.8, "validation": 0.1, "test": 0.1}, seed=7)
    assert all(splits[k]["id"].tolist() == again[k]["id"].tolist() for k in splits)
    other = split_frame(frame, ratios={"train": 0.8, "validation": 0.1, "test": 0.1}, seed=8)
    assert splits["test"]["id"].tolist() != other["test"]["id"].tolist()
    assert sorted(pd.concat(splits.values())["id"]) == list(range(100))


def test_duplicates_stay_in_one_split_and_leakage_is_reported_otherwise():
    answers = [f"answer {i}" for i in range(40)] + ["Answer 3!", "answer 3", "ANSWER 5"]
    frame = frame_of(answers)
    together = split_frame(frame, ratios={"train": 0.5, "test": 0.5}, seed=1)
    assert leakage_report(together).empty
    leaky = {"train": frame.iloc[:41], "test": frame.iloc[41:]}
    report = leakage_report(leaky)
    assert set(report["kind"]) == {"exact", "normalized"}
    normalized = report[report.kind == "normalized"].iloc[0]
    assert normalized["splits"] == "train↔test" and normalized["rows"] == 2


def test_bad_ratios():
    with pytest.raises(ValueError, match="ratios"):
        split_frame(frame_of(["a"]), ratios={"train": 0, "test": 0})


def test_export_splits_gives_the_parts_and_their_leakage_report_or_nothing_for_zero_ratios():
    from studio.quality.splits import export_splits

    frame = frame_of([f"answer {n}" for n in range(50)] + ["answer 1"])  # one duplicate pair
    parts, leaks = export_splits(frame, ratios={"train": 0.8, "validation": 0.2, "test": 0.0}, seed=3)
    assert set(parts) == {"train", "validation"}
    assert sum(len(p) for p in parts.values()) == len(frame)
    assert leaks.empty  # duplicates are kept in one split
    assert export_splits(frame, ratios={"train": 0.0, "validation": 0.0, "test": 0.0}) is None
