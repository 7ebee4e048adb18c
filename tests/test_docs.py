"""The README documents every rule with its parameters, every export format and every CLI command with its options
(datasette's test_docs idea): each test fails when the code gains something the README does not say."""

import argparse
import re

import pytest

from studio.cli import build_parser
from studio.data.writers import EXPORT_FORMATS
from studio.quality.rules import RULES
from tests.conftest import ROOT

README = (ROOT / "README.md").read_text()


def _section(title: str) -> str:
    """The README text under ``## title``, up to the next ``## `` heading."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


COMMAND_LINE = _section("Command line")
QUALITY_RULES = _section("Quality rules")


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices) if actions else {}


COMMANDS = _subcommands(build_parser())


def _usage(command: str) -> str:
    """The README's usage lines for ``studio <command>``, with their ``\\``-continued lines."""
    lines, keep = [], False
    for line in COMMAND_LINE.splitlines():
        if re.match(rf"studio {re.escape(command)}(\s|$)", line):
            keep = True
        elif not (keep and line[:1].isspace()):
            keep = False
        if keep:
            lines.append(line)
    return "\n".join(lines)


def _shown(option: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(option)}(?![\w-])", text) is not None


@pytest.mark.parametrize("command", COMMANDS)
def test_every_cli_command_and_option_is_in_the_readme(command):
    usage = _usage(command)
    assert usage, f"`studio {command}` is missing from README.md's command list"
    parser = COMMANDS[command]
    missing = [
        "/".join(action.option_strings)
        for action in parser._actions
        if action.option_strings
        and not isinstance(action, argparse._HelpAction)
        and action.option_strings != ["--workspace"]  # every command's: said once, below the list
        and not any(_shown(option, usage) for option in action.option_strings)
    ]
    assert missing == [], f"options of `studio {command}` missing from README.md: {missing}"
    for sub in _subcommands(parser):
        assert f"studio {command} {sub}" in usage, f"`studio {command} {sub}` is missing from README.md"


def test_the_workspace_option_is_documented_for_every_command():
    assert "Every command takes `--workspace PATH`, before or after the command's name" in README


def test_convert_lists_exactly_the_export_formats():
    shown = re.search(r"--to ([\w|-]+)", _usage("convert"))
    assert shown, "README.md does not list `studio convert --to` formats"
    assert tuple(shown.group(1).split("|")) == EXPORT_FORMATS
    (to,) = [a for a in COMMANDS["convert"]._actions if "--to" in a.option_strings]
    assert tuple(to.choices) == EXPORT_FORMATS


def test_the_rule_table_lists_the_registry_in_order():
    assert re.findall(r"^\| `(\w+)` \|", QUALITY_RULES, re.MULTILINE) == list(RULES.keys())


def _shown_default(value) -> str:
    if isinstance(value, tuple):
        return ",".join(value)
    return f"{value:g}" if isinstance(value, float) else str(value)


@pytest.mark.parametrize("key", RULES.keys())
def test_every_rule_row_names_each_parameter_with_its_true_default(key):
    row = re.search(rf"^\| `{key}` \|(.*)\|(.*)\|$", QUALITY_RULES, re.MULTILINE)
    assert row, f"rule {key} has no row in README.md's rule table"
    documented = dict(re.findall(r"`(\w+)(?:=([^`]*))?`", row.group(2)))
    params = RULES[key].params
    assert sorted(documented) == sorted(params), f"README.md parameters of rule {key}"
    wrong = {
        name: (shown, _shown_default(params[name]))
        for name, shown in documented.items()
        if shown and shown != _shown_default(params[name])
    }
    assert wrong == {}, f"README.md defaults of rule {key} (shown, actual): {wrong}"


def test_readme_shows_the_two_setup_commands():
    assert "make run" in README and "make test" in README
