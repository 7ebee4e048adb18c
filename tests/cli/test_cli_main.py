"""The ``studio`` shell: help without heavy imports, ``--workspace`` passed explicitly, choices in sync."""

import json
import os
import subprocess
import sys

import pytest

from studio.cli import main

HEAVY = ("pandas", "numpy", "pyarrow", "httpx", "openai", "tiktoken", "fastapi", "torch", "transformers")


def test_help_of_every_command_imports_no_heavy_library():
    code = (
        "import json, sys\n"
        "from studio.cli import build_parser\n"
        "parser = build_parser()\n"
        "parser.format_help()\n"
        "for command in parser._subparsers._group_actions[0].choices.values():\n"
        "    command.format_help()\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(done.stdout) == []


def test_studio_help_runs():
    done = subprocess.run([sys.executable, "-m", "studio.cli", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "--workspace" in done.stdout and "compare" in done.stdout


def test_workspace_flag_reaches_the_command_without_the_environment(tmp_path, capsys):
    default = os.environ["STUDIO_WORKSPACE"]  # set per test by tests/conftest.py
    before = dict(os.environ)
    db = tmp_path / "elsewhere" / "s.db"
    assert main(["--workspace", str(db), "seed"]) == 0
    assert dict(os.environ) == before
    assert db.exists() and not os.path.exists(default)
    assert str(db) in capsys.readouterr().out


@pytest.mark.parametrize("position", ["before", "after"])
def test_workspace_flag_before_or_after_the_command(tmp_path, capsys, position):
    """README: "Every command takes --workspace PATH"; after the command it was an unrecognized argument."""
    db = tmp_path / position / "s.db"
    flag = ["--workspace", str(db)]
    argv = [*flag, "seed"] if position == "before" else ["seed", *flag]
    assert main(argv) == 0
    assert db.exists() and str(db) in capsys.readouterr().out
    assert main(["jobs", "list", *flag]) == 0  # a nested command too
    assert main(["--workspace", str(tmp_path / "x.db"), "jobs", "list", *flag]) == 0  # the last one wins
    assert not (tmp_path / "x.db").exists()


class _FakeApp:
    """Stands in for the Streamlit process: records how it was started, exits at once."""

    def __init__(self, calls, command, **kw):
        calls.append(kw)

    def wait(self, timeout=None):
        return 0

    def poll(self):
        return 0


def _record_app(monkeypatch):
    calls = []
    monkeypatch.setattr("studio.cli.data.subprocess.Popen", lambda command, **kw: _FakeApp(calls, command, **kw))
    return calls


def test_app_hands_the_workspace_to_the_streamlit_process_only(tmp_path, monkeypatch):
    calls = _record_app(monkeypatch)
    before = dict(os.environ)
    db = tmp_path / "w.db"
    assert main(["--workspace", str(db), "app", "--no-engine", "--headless"]) == 0
    assert dict(os.environ) == before
    assert calls[0]["env"]["STUDIO_WORKSPACE"] == str(db)


def test_app_without_workspace_inherits_the_environment(monkeypatch):
    calls = _record_app(monkeypatch)
    assert main(["app", "--no-engine", "--headless"]) == 0
    assert calls[0]["env"] is None


@pytest.mark.parametrize(
    "cli_name,library,library_name",
    [
        ("studio.cli.common.SCHEMAS", "studio.data.formats", "SCHEMAS"),
        ("studio.cli.data.EXPORT_FORMATS", "studio.data.writers", "EXPORT_FORMATS"),
        ("studio.cli.train.PROVIDER_KINDS", "studio.providers.profiles", "PROVIDER_KINDS"),
    ],
)
def test_cli_choices_match_the_library(cli_name, library, library_name):
    import importlib

    module_name, _, attribute = cli_name.rpartition(".")
    copy = getattr(importlib.import_module(module_name), attribute)
    assert copy == getattr(importlib.import_module(library), library_name)
