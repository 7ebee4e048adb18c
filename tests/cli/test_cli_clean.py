"""`studio analyze` and `studio clean` end to end on real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from studio.cli import main
from studio.editing.ops import DeleteFlagged, KeepOnePerGroup, RegexReplace
from studio.editing.recipes import Recipe

LONG = "Rest, drink plenty of fluids and keep warm until the symptoms pass in about a week."


def write_jsonl(path: Path, pairs: list[tuple[str, str]]) -> Path:
    lines = [
        json.dumps({"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]})
        for u, a in pairs
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_jsonl(
        tmp_path / "chat.jsonl",
        [
            ("What helps with a cold?", LONG),
            ("What helps with a cold?", LONG),
            ("WHAT HELPS WITH A COLD", LONG.upper()),
            ("Call me?", "Call the clinic on 555-123-4567 on any weekday morning, please."),
            ("Is it bad?", "No."),
        ],
    )


def run_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def test_analyze_json_counts_and_examples(dataset, capsys):
    report = run_json(capsys, "analyze", str(dataset), "--json")
    assert report["rows"] == 5
    counts, examples = report["counts"], report["examples"]
    assert counts["exact_duplicate"] == 1 and examples["exact_duplicate"] == [1]
    assert counts["normalized_duplicate"] == 2 and examples["normalized_duplicate"] == [1, 2]
    assert counts["pii"] == 1 and examples["pii"] == [3]
    assert counts["too_short"] == 1 and examples["too_short"] == [4]
    assert "regex" not in counts


@pytest.mark.parametrize(
    "options,expected",
    [
        (["--rules", "too_short"], {"too_short": 1}),
        (["--rules", "too_short", "--min-chars", "2"], {"too_short": 0}),
        (["--rules", "near_duplicate,exact_duplicate"], {"near_duplicate": 3, "exact_duplicate": 1}),
        (["--rules", "regex", "--pattern", "(?i)clinic"], {"regex": 1}),
    ],
)
def test_analyze_options(dataset, capsys, options, expected):
    assert run_json(capsys, "analyze", str(dataset), "--json", *options)["counts"] == expected


@pytest.mark.parametrize(
    "options,message",
    [
        (["--rules", "typo"], "unknown rule 'typo'"),
        (["--near-threshold", "3"], "must be a number in (0, 1]"),
        (["--rules", "regex", "--pattern", "a(?=b)"], "position 1"),
    ],
)
def test_analyze_bad_options_exit_2_with_one_line(dataset, capsys, options, message):
    assert main(["analyze", str(dataset), *options]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_analyze_text_output_lists_every_rule(dataset, capsys):
    assert main(["analyze", str(dataset)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("chat.jsonl: 5 rows")
    assert "exact_duplicate" in out and "uppercase" in out


def test_clean_applies_a_recipe_and_writes_the_output(dataset, tmp_path, capsys):
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        Recipe(
            ops=(
                KeepOnePerGroup(kind="normalized"),
                DeleteFlagged(rule="too_short"),
                RegexReplace(field="assistant", pattern=r"\d{3}-\d{3}-\d{4}", replacement="[phone]"),
            )
        ).to_json(),
        encoding="utf-8",
    )
    out = tmp_path / "clean.jsonl"
    assert main(["clean", str(dataset), "--recipe", str(recipe), "-o", str(out)]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "chat.jsonl: 5 rows, 3 steps"
    assert printed[1].startswith("1. Keep the first row of each duplicate group") and "(5 → 3)" in printed[1]
    assert printed[2].endswith("removed 1 row (3 → 2)")
    assert printed[3].endswith("changed 1 row")
    assert printed[-1].startswith("wrote 2 rows")
    written = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [m["messages"][1]["content"] for m in written] == [
        LONG,
        "Call the clinic on [phone] on any weekday morning, please.",
    ]


def test_clean_reports_a_bad_recipe(dataset, tmp_path, capsys):
    recipe = tmp_path / "recipe.json"
    recipe.write_text('{"version": 1, "ops": [{"op": "delete_flagged", "rule": "nope"}]}', encoding="utf-8")
    assert main(["clean", str(dataset), "--recipe", str(recipe), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "recipe step 1" in capsys.readouterr().err
    assert main(["clean", str(dataset), "--recipe", str(tmp_path / "missing.json"), "-o", "x.jsonl"]) == 2
    assert "cannot read the recipe" in capsys.readouterr().err


def test_analyze_refuses_near_duplicates_that_would_not_fit_in_memory(dataset, capsys, monkeypatch):
    from studio.core import memory

    monkeypatch.setattr(memory, "available_memory", lambda: 2**20)
    assert main(["analyze", str(dataset), "--rules", "near_duplicate"]) == 2
    assert "GB of memory" in capsys.readouterr().err


def test_clean_with_a_one_turn_replace_says_where_the_other_matches_are(tmp_path, capsys):
    """Case 15 with its old recipe (field "user" = the last user turn): the 12 addresses sit in the first user
    turn. The step keeps its meaning (nothing changed), but the report says so, counts them and how to reach them."""
    from tests.conftest import SHARED_CASES

    cases = SHARED_CASES / "conversations"
    out = tmp_path / "clean.jsonl"
    recipe = cases / "15-redact-email.recipe.json"
    assert (
        main(["clean", str(cases / "15-multiturn-pii-earlier-turn.jsonl"), "--recipe", str(recipe), "-o", str(out)])
        == 0
    )
    said = capsys.readouterr().out
    assert (
        "in user: no change in the last user turn; 12 matches in turns other than the last user turn — "
        'field "conversation" replaces in every turn'
    ) in said
    assert out.read_text().count("@example.com") == 12
