"""The README documents every rule, export format and CLI command (datasette's test_docs idea)."""

import re

import pytest

from studio.cli import build_parser
from studio.data.writers import EXPORT_FORMATS
from studio.quality.rules import RULES
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


@pytest.mark.parametrize("key", RULES.keys())
def test_every_rule_is_in_the_readme_table(key):
    assert re.search(rf"^\| `{key}` \|", README, re.MULTILINE), f"rule {key} is not documented in README.md"


@pytest.mark.parametrize("name", EXPORT_FORMATS)
def test_every_export_format_is_documented(name):
    assert name in README


def test_every_cli_command_is_documented():
    commands = build_parser()._subparsers._group_actions[0].choices
    missing = [c for c in commands if f"studio {c}" not in README]
    assert missing == []


def test_readme_shows_the_two_setup_commands():
    assert "make run" in README and "make test" in README
