from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"
# Small inputs from real user reports, each with its right answer in a README (a copy sits beside every checkout).
SHARED_CASES = ROOT.parent / "shared" / "cases"


@pytest.fixture
def sample_data() -> Path:
    return SAMPLE_DATA


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace database; nothing touches ./workspace. The local engine URL points where
    nothing answers and nothing can be started (tests that need an engine start their own: ``app_engine``), so a
    page that starts the engine when it is missing never leaves one running after the tests."""
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "workspace" / "studio.db"))
    monkeypatch.setenv("STUDIO_ENGINE_URL", "http://127.0.0.2:9/v1")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
