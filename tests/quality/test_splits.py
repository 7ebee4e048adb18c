"""Splits: ratios, determinism, duplicates kept together, leakage found when they are not."""

import pandas as pd
import pytest

from studio.data.frame import build_frame
from studio.quality.splits import leakage_report, split_frame


def frame_of(answers):
    return build_frame(
        [{"messages": [{"role": "user", "content": f"q {a}"}, {"role": "assistant", "content": a}]} for a in answers],
        list(range(1, len(answers) + 1)),
    )


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
    # "q answer 3" is in both splits: an exact copy, so also a normalized copy, the same prompt and a near-copy
    assert set(report["kind"]) == {"exact", "normalized", "same_prompt", "near_duplicate"}
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


WORDS = (
    "river",
    "castle",
    "engine",
    "violet",
    "harbor",
    "pepper",
    "quartz",
    "meadow",
    "lantern",
    "saddle",
    "glacier",
    "orchard",
    "copper",
    "falcon",
    "tundra",
    "marble",
    "cinnamon",
    "voyage",
    "thistle",
    "beacon",
)


def sentence(rng, n=9):
    return " ".join(rng.choice(WORDS, size=n)).capitalize() + "."


def chat(question, answer):
    return {
        "messages": [
            {"role": "system", "content": "Answer briefly."},
            {"role": "user", "content": question},
            {"role": "assistant", "content": answer},
        ]
    }


def planted_frame():
    """60 distinct chats, plus: 10 questions asked again with another answer (same prompt), 5 near-copies
    (one word changed in a long answer), 3 copies up to case and punctuation."""
    import numpy as np

    rng = np.random.default_rng(0)
    examples = [chat(f"Question {i}: {sentence(rng)}", sentence(rng, 30)) for i in range(60)]
    for i in range(10):
        examples.append(chat(examples[i]["messages"][1]["content"], sentence(rng, 30)))
    for i in range(10, 15):
        question, answer = examples[i]["messages"][1]["content"], examples[i]["messages"][2]["content"]
        words = answer.split()
        words[-3] = "zeppelin"
        examples.append(chat(question.replace("Question", "Query"), " ".join(words)))
    for i in range(15, 18):
        question, answer = examples[i]["messages"][1]["content"], examples[i]["messages"][2]["content"]
        examples.append(chat(question.upper() + "!!", answer.lower()))
    return build_frame(examples, list(range(1, len(examples) + 1)))


def test_every_leakage_group_lands_in_one_split():
    from studio.quality.splits import leakage_groups

    frame = planted_frame()
    groups = leakage_groups(frame)
    assert groups.value_counts().max() >= 2 and (groups.value_counts() >= 2).sum() == 18
    for seed in range(5):
        parts = split_frame(frame, ratios={"train": 0.8, "validation": 0.1, "test": 0.1}, seed=seed)
        where = {i: name for name, part in parts.items() for i in part["id"]}
        for _, members in frame.groupby(groups.to_numpy())["id"]:
            assert len({where[i] for i in members}) == 1
        assert leakage_report(parts).empty
        assert abs(len(parts["train"]) - 0.8 * len(frame)) <= 2


def test_a_naive_split_is_reported_with_every_planted_kind_and_example_pairs():
    frame = planted_frame()
    naive = {"train": frame.iloc[:60], "test": frame.iloc[60:]}  # every planted twin is in test
    report = leakage_report(naive).set_index("kind")
    assert report.loc["same_prompt", "rows"] == 10 + 3  # asked again (10) and the folded copies (3)
    assert report.loc["normalized", "rows"] == 3
    assert "exact" not in report.index
    # the one-word edits (5) and the folded copies (3), each shown with its twin in train
    assert report.loc["near_duplicate", "rows"] == 8 and report.loc["near_duplicate", "similarity"] == 0.8
    assert report.loc["near_duplicate", "examples"] == [(10, 70), (11, 71), (12, 72), (13, 73), (14, 74)]
    assert (0, 60) in report.loc["same_prompt", "examples"]
    assert report.loc["same_prompt", "splits"] == "train↔test"


def test_the_report_checks_splits_made_elsewhere_whose_ids_overlap():
    # Two files exported by another tool: both number their rows from 0.
    frame = planted_frame()
    train = frame.iloc[:60].reset_index(drop=True)
    test = frame.iloc[60:].reset_index(drop=True).assign(id=lambda f: range(len(f)))
    report = leakage_report({"train": train, "test": test}).set_index("kind")
    assert report.loc["same_prompt", "rows"] == 13


def test_the_sample_data_split_keeps_same_question_pairs_together(sample_data):
    from studio.data.loader import load_dataset
    from studio.quality.duplicates import prompt_groups

    frame = load_dataset(sample_data / "medical_faq_dirty.csv").frame
    parts = split_frame(frame, ratios={"train": 0.8, "validation": 0.1, "test": 0.1}, seed=42)
    assert leakage_report(parts).empty
    prompts = prompt_groups(frame)
    where = {i: name for name, part in parts.items() for i in part["id"]}
    for _, members in frame.groupby(prompts.to_numpy())["id"]:
        assert len({where[i] for i in members}) == 1


def test_stored_near_duplicate_clusters_are_reused_and_give_the_same_split():
    from studio.quality.near_duplicates import near_duplicate_clusters
    from studio.quality.splits import export_splits

    frame = planted_frame()
    clusters = near_duplicate_clusters(frame)
    ratios = {"train": 0.8, "validation": 0.1, "test": 0.1}
    reused, report = export_splits(frame, ratios=ratios, seed=3, clusters=clusters)
    computed, _ = export_splits(frame, ratios=ratios, seed=3)
    assert {k: v["id"].tolist() for k, v in reused.items()} == {k: v["id"].tolist() for k, v in computed.items()}
    assert report.empty
    # the stored clusters are what the report reads: a naive split is still caught through them
    naive = {"train": frame.iloc[:60], "test": frame.iloc[60:]}
    by_id = pd.Series(clusters.to_numpy(), index=frame["id"].to_numpy())
    near = leakage_report(naive, clusters_by_id=by_id).set_index("kind").loc["near_duplicate"]
    assert near["rows"] == 8
