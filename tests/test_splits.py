"""Splits: ratios, determinism, duplicates kept together, leakage found when they are not."""

import pandas as pd
import pytest

from studio.dataset import build_frame
from studio.splits import leakage_report, split_frame


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
