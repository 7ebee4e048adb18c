from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_DATA = ROOT / "sample_data"


@pytest.fixture
def sample_data() -> Path:
    return SAMPLE_DATA


@pytest.fixture(autouse=True)
def _isolated_workspace(tmp_path, monkeypatch):
    """Every test gets its own workspace database; nothing touches ./workspace."""
    monkeypatch.setenv("STUDIO_WORKSPACE", str(tmp_path / "workspace" / "studio.db"))
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
