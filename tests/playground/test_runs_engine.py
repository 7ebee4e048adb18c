"""Issue 16 item 4 / issue 20 item 2 against the real SmolLM2: a 12-prompt × 2-target run at the default
concurrency finishes with no error, and the engine decodes each answer once (its own count, over /health)."""

from __future__ import annotations

import httpx
import pytest

from bench.questions import QUESTIONS
from studio.engine.models import DEFAULT_MODEL
from studio.playground.compare import Case, Params, build_target, open_run, run_compare
from studio.storage.workspace import Workspace
from tests.engine_support import EngineProcess

pytest_plugins = ("tests.engine_fixtures",)


@pytest.mark.slow
@pytest.mark.timeout(900)  # 24 answers of up to 512 tokens on 2 CPU cores: 260 s measured at load ~4
def test_twelve_prompts_by_two_targets_at_the_default_concurrency_finish_without_errors(smollm2_dir, tmp_path):
    engine = EngineProcess(tmp_path / "engine", extra_args=["--preload", DEFAULT_MODEL])
    try:
        url = f"{engine.base_url}/v1"
        targets = [build_target(name, "local", DEFAULT_MODEL, base_url=url) for name in ("base", "again")]
        cases = [Case(i, ({"role": "user", "content": q},), None) for i, q in enumerate(QUESTIONS)]
        workspace = Workspace(tmp_path / "studio.db")
        params = Params()  # the defaults: 512 max tokens, temperature 0
        results = run_compare(workspace, open_run(workspace, targets, params, cases), targets, cases, params)
        chat = httpx.get(f"{engine.base_url}/health", timeout=10).json()["chat"]
    finally:
        engine.stop()
    assert results["error"].isna().all(), results["error"].dropna().tolist()
    assert len(results) == 24 and (results["attempts"] == 1).all()
    assert chat["started"] == 24 and chat["attached"] == 0
