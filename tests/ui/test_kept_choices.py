"""Every choice widget (radio, selectbox, multiselect, pills, segmented control, select slider) in the app whose
options are worded in the page's language (a ``format_func`` that reads the translator ``tr``) is keyed through
``ui.frame.kept_choice``, so a switch of the sidebar's language keeps its choice (tests/pages/test_page_language.py
shows what is lost otherwise: a search scope without its tool turns, radios without a choice)."""

from __future__ import annotations

import ast

import pytest

from tests.conftest import ROOT

FILES = sorted([ROOT / "app.py", *(ROOT / "app_pages").rglob("*.py"), *(ROOT / "ui").rglob("*.py")])
CHOICE_WIDGETS = {"radio", "selectbox", "multiselect", "pills", "segmented_control", "select_slider"}


def worded_choices_not_kept(source: str) -> list[tuple[int, str]]:
    """(line, widget) of every choice widget call whose ``format_func`` uses ``tr`` and whose ``key`` is not a
    ``kept_choice(...)`` call."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in CHOICE_WIDGETS:
            continue
        keywords = {k.arg: k.value for k in node.keywords}
        format_func = keywords.get("format_func")
        if format_func is None or not any(isinstance(n, ast.Name) and n.id == "tr" for n in ast.walk(format_func)):
            continue
        key = keywords.get("key")
        kept = isinstance(key, ast.Call) and isinstance(key.func, ast.Name) and key.func.id == "kept_choice"
        if not kept:
            found.append((node.lineno, node.func.attr))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_a_worded_choice_is_kept_across_a_language_switch(path):
    assert worded_choices_not_kept(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_a_worded_choice_that_is_not_kept():
    source = (
        'st.radio("Turns", TURNS, key="turns", format_func=lambda t: tr(f"dataset.turns_{t}"))\n'
        'st.radio("Turns", TURNS, key=kept_choice("turns"), format_func=lambda t: tr(f"dataset.turns_{t}"))\n'
        'st.selectbox("Name", names, key="names", format_func=lambda n: n.upper())\n'
    )
    assert worded_choices_not_kept(source) == [(1, "radio")]
