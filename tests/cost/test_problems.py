"""The Cost page's problem list: findings grouped by check, errors first, each group linked to its examples."""

from studio.cost.problems import dataset_link, problem_counts, problem_groups
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
    assert (missing["count"], missing["rows"], missing["ids"]) == (3, "2, 4, 5", (20, 40, 50))
    assert problem_counts(report)["errors"] == sum(report.errors.values()) >= 3


def test_long_groups_show_the_first_rows_and_how_many_more():
    report = check_examples([NO_ANSWER] * 20, ids=list(range(20)))
    missing = problem_groups(report, shown_rows=3)
    assert missing.loc[missing["key"] == "example_missing_assistant_message", "rows"].iloc[0] == "1, 2, 3 … +17"


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
