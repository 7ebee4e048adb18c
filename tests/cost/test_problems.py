"""The Cost page's problem table: findings with links that open each example on the Dataset page."""

from studio.cost.problems import problem_counts, problem_table
from studio.cost.validation import check_examples

GOOD = {"messages": [{"role": "user", "content": "Hola"}, {"role": "assistant", "content": "Buenas"}]}
NO_ANSWER = {"messages": [{"role": "user", "content": "Hola"}]}


def test_links_name_the_row_and_the_example_id():
    report = check_examples([GOOD, NO_ANSWER, GOOD], ids=[10, 20, 30])
    table = problem_table(report, link_to="Dataset")
    missing = table[table["key"] == "example_missing_assistant_message"]
    assert missing["open"].tolist() == ["Dataset?row=2&id=20"]
    assert "open" not in problem_table(report).columns
    assert problem_counts(report)["errors"] == sum(report.errors.values()) >= 1


def test_a_finding_about_the_whole_file_has_no_link():
    table = problem_table(check_examples([GOOD]), link_to="Dataset")
    assert table.loc[table["key"] == "too_few_examples", "open"].isna().all()


def test_a_clean_report_has_an_empty_table():
    system = {"messages": [{"role": "system", "content": "Sé breve."}, *GOOD["messages"]]}
    report = check_examples([system] * 100)
    assert problem_table(report, link_to="Dataset").empty
    assert problem_counts(report) == {"errors": 0, "warnings": 0, "advice": 0}
