"""Open one page of the app the way a browser does: app.py (frame + st.navigation), then the page."""

from __future__ import annotations

from typing import Any

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def open_page(name: str, *, timeout: float = 60, run: bool = True, **state: Any) -> AppTest:
    """An AppTest of ``app_pages/<name>.py`` inside the app's frame, with ``state`` in its session state (set
    before the first run, as a page that a user reached from another page would find it). ``run=False`` stops
    before the page's first run, so a test can add state that needs the app's first run."""
    at = AppTest.from_file(APP, default_timeout=timeout)
    for key, value in state.items():
        at.session_state[key] = value
    at.run()  # the first run registers the pages (Home): switch_page needs them
    at.switch_page(f"app_pages/{name}.py")
    return at.run() if run else at


def open_chats(tmp_path: Any, chats: list[dict], name: str = "chats") -> tuple[Any, Any, Any]:
    """``chats`` written as ``<name>.jsonl``, imported into a fresh workspace and opened, as a user's upload is:
    ``(workspace, its open DatasetSession, the dataset's info)``."""
    import json

    from studio.editing.session import DatasetSession
    from studio.storage.workspace import Workspace, import_file

    path = tmp_path / f"{name}.jsonl"
    path.write_text("".join(json.dumps(chat) + "\n" for chat in chats))
    workspace = Workspace()
    info, _ = import_file(workspace, path)
    session = DatasetSession(workspace)
    session.open(info.id)
    return workspace, session, info


def facts_with_splits(tmp_path: Any, n: int, fractions: dict[str, float], seed: int = 42) -> tuple[Any, Any, Any]:
    """A workspace holding "facts" (``n`` one-round chats) with its train/validation/test splits saved as versions
    (in that order: the newest version is the test split); ``(workspace, its open DatasetSession, the dataset)``."""
    words = ["tea", "rain", "bread", "sleep", "cats", "maps", "ships", "salt", "wind", "rope"]
    chats = [
        {
            "messages": [
                {"role": "user", "content": f"Question {i} about {words[i % len(words)]}?"},
                {"role": "assistant", "content": f"Answer {i}: {words[i % len(words)]}."},
            ]
        }
        for i in range(n)
    ]
    workspace, session, info = open_chats(tmp_path, chats, "facts")
    parts, _ = session.splits(fractions, seed)
    session.save_splits(parts, seed)
    return workspace, session, info
