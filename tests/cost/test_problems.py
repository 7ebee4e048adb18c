"""The Cost page's problem list: findings grouped by check, errors first, each group linked to its examples."""

import pandas as pd

from studio.cost.problems import (
    check_details,
    dataset_link,
    flagged_examples,
    problem_counts,
    problem_groups,
    source_unit,
)
from studio.cost.validation import check_examples

GOOD = {"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "Buenas"}]}
NO_ANSWER = {"messages": [{"role": "user", "content": "Hola"}]}


def test_errors_come_first_and_repeated_findings_are_one_group_with_every_row_and_id():
    report = check_examples([GOOD, NO_ANSWER, GOOD, NO_ANSWER, NO_ANSWER], ids=[10, 20, 30, 40, 50])
    table = problem_groups(report)
    assert table["severity"].iloc[0] == "error"
    severities = table["severity"].tolist()
    assert severities == sorted(severities, key=["error", "warning", "advice"].index)
    missing = table[table["key"] == "example_missing_assistant_message"].iloc[0]
    where = "line 2 (id 20), line 4 (id 40), line 5 (id 50)"  # the CLI's scheme: source line and example id
    assert (missing["count"], missing["rows"], missing["ids"]) == (3, where, (20, 40, 50))
    assert problem_counts(report)["errors"] == sum(report.errors.values()) >= 3


def test_a_check_that_says_different_things_lists_each_finding_with_its_own_message():
    bad_weight = {"messages": [*GOOD["messages"][:1], {"role": "assistant", "content": "x", "weight": 2}]}
    user_weight = {"messages": [{"role": "user", "content": "Hola", "weight": 1}, GOOD["messages"][1]]}
    report = check_examples([GOOD, bad_weight, user_weight, bad_weight], ids=[5, 6, 7, 8])
    group = problem_groups(report).set_index("key").loc["invalid_weight"]
    assert (group["count"], group["details"]) == (3, 2)  # the group's message is the first of 2 different ones
    details = check_details(report, "error", "invalid_weight", lang="es")
    assert details.to_dict("list") == {
        "where": ["línea 2 (id 6)", "línea 3 (id 7)", "línea 4 (id 8)"],
        "message": [
            "messages[1]: weight is 2, expected 0 or 1",
            "messages[0]: weight is only allowed on assistant messages",
            "messages[1]: weight is 2, expected 0 or 1",
        ],
    }
    assert len(check_details(report, "error", "invalid_weight", limit=2)) == 2


def test_long_groups_show_the_first_rows_and_how_many_more():
    report = check_examples([NO_ANSWER] * 20, ids=list(range(20)))
    missing = problem_groups(report, unit="row", shown_rows=3)
    shown = missing.loc[missing["key"] == "example_missing_assistant_message", "rows"].iloc[0]
    assert shown == "row 1 (id 0), row 2 (id 1), row 3 (id 2) … +17"


def test_a_finding_about_the_whole_file_links_no_example():
    table = problem_groups(check_examples([GOOD]))
    assert table.loc[table["key"] == "too_few_examples", "ids"].iloc[0] == ()


def test_links_name_dataset_version_and_examples():
    assert dataset_link((20, 40), dataset_id=3, version_id=7) == {"dataset": "3", "version": "7", "id": ["20", "40"]}
    assert len(dataset_link(range(2000), dataset_id=1, version_id=1)["id"]) == 500


def test_a_clean_report_has_an_empty_table():
    system = {"messages": [{"role": "system", "content": "Sé breve."}, *GOOD["messages"]]}
    report = check_examples([system] * 100)
    assert problem_groups(report).empty
    assert problem_counts(report) == {"errors": 0, "warnings": 0, "advice": 0}


def test_flagged_examples_name_id_source_line_and_categories():
    results = pd.DataFrame(
        {
            "row": pd.array([2, 3, 5], dtype="Int64"),  # source lines (line 4 was blank)
            "flagged": pd.array([False, True, True], dtype="boolean"),
            "categories": pd.array(["", "harassment", "blocklist: idiot"], dtype="string"),
        }
    )
    table = flagged_examples(results, [0, 1, 2])
    assert table.to_dict("list") == {
        "id": [1, 2],
        "where": ["line 3 (id 1)", "line 5 (id 2)"],
        "categories": ["harassment", "blocklist: idiot"],
    }
    assert flagged_examples(results.iloc[:1], [0]).empty


def test_source_units_follow_the_container():
    assert [source_unit(f) for f in ("jsonl/chat", "csv/qa", "json/alpaca", "xlsx/qa", "parquet/chat", None)] == [
        "line",
        "line",
        "item",
        "row",
        "row",
        "line",
    ]
