"""No bare expressions in the app's pages and ui helpers: with Streamlit "magic" one rendered a source line,
4,000 px of Streamlit's docs and "None" in the export panel. .streamlit/config.toml turns magic off as well."""

from __future__ import annotations

import ast
import tomllib

import pytest

from tests.conftest import ROOT

FILES = sorted([ROOT / "app.py", *(ROOT / "app_pages").rglob("*.py"), *(ROOT / "ui").rglob("*.py")])


def bare_expressions(source: str) -> list[tuple[int, str]]:
    """(line, source) of every expression statement that is neither a docstring, a call nor a ``yield`` /
    ``await`` (control flow, which magic leaves alone)."""
    found = []
    for node in ast.walk(ast.parse(source)):
        body = getattr(node, "body", None)
        if not isinstance(body, list):
            continue
        for position, statement in enumerate(body):
            if not isinstance(statement, ast.Expr):
                continue
            value = statement.value
            docstring = position == 0 and isinstance(value, ast.Constant) and isinstance(value.value, str)
            if not docstring and not isinstance(value, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
                found.append((statement.lineno, ast.get_source_segment(source, statement) or ""))
    return found


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_bare_expression(path):
    assert bare_expressions(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_what_magic_would_draw():
    source = (
        '"""Doc."""\nimport streamlit as st\nst.write(1)\nx = 2\nx\n"a string"\nst.info("a") if x else None\n'
        'def f():\n    """Doc."""\n    [1, 2]\n    return 1\n'
    )
    assert bare_expressions(source) == [(5, "x"), (6, '"a string"'), (7, 'st.info("a") if x else None'), (10, "[1, 2]")]


def test_magic_is_off_and_there_is_no_pages_folder():
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["runner"]["magicEnabled"] is False
    assert not (ROOT / "pages").exists(), "pages/ would add Streamlit's own page discovery beside st.navigation"
    assert len(FILES) > 10
