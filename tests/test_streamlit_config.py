"""The app's Streamlit settings: one open tab must not make the server burn a core.

Streamlit's default file watcher re-walked the project folder (.venv/, workspace/) on every inotify overflow:
9.7–10.1 s of CPU per 10 s with one tab open, and the local engine 16× slower beside it. `studio app`, the
browser tests and the bench all start Streamlit through ``app_command`` from the repository root, so the
settings below are what every one of them runs with.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from studio.cli.data import app_command

ROOT = Path(__file__).resolve().parents[1]

_READ_OPTIONS = """
import json, sys
from streamlit import config
from streamlit.web import bootstrap
bootstrap.load_config_options(flag_options={})
names = sys.argv[1:]
print(json.dumps({name: config.get_option(name) for name in names}))
"""


def _options(*names: str, cwd: Path = ROOT) -> dict:
    """The options as ``streamlit run`` resolves them when started from ``cwd`` (a fresh process)."""
    out = subprocess.run(
        [sys.executable, "-c", _READ_OPTIONS, *names], cwd=cwd, capture_output=True, text=True, check=True, timeout=120
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_the_app_runs_without_file_watcher_usage_stats_or_deploy_button():
    options = _options(
        "server.fileWatcherType", "server.runOnSave", "server.address", "browser.gatherUsageStats", "client.toolbarMode"
    )
    assert options == {
        "server.fileWatcherType": "none",
        "server.runOnSave": False,
        "server.address": "127.0.0.1",
        "browser.gatherUsageStats": False,
        "client.toolbarMode": "viewer",
    }


def test_the_settings_come_from_the_project_folder(tmp_path):
    # Elsewhere Streamlit's defaults apply: the watcher is on. So the launcher must run from the project root.
    assert _options("server.fileWatcherType", cwd=tmp_path)["server.fileWatcherType"] != "none"


def test_the_launcher_passes_only_what_the_caller_asks_for():
    command = app_command(8501)
    assert command[1:4] == ["-m", "streamlit", "run"] and Path(command[4]) == ROOT / "app.py"
    assert not any(flag.startswith(("--server.fileWatcherType", "--server.address", "--browser.")) for flag in command)
    assert app_command(8501, host="0.0.0.0", headless=True)[-4:] == [
        "--server.address",
        "0.0.0.0",
        "--server.headless",
        "true",
    ]
