"""Fixtures of the engine tests: the real SmolLM2, a tiny random Llama with its tokenizer, an engine per module.

Test modules load them with ``pytest_plugins = ("tests.engine_fixtures",)``; helpers are in tests.engine_support.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.engine_support import TINY, EngineProcess, write_chat_file


@pytest.fixture(scope="session")
def smollm2_dir() -> Path:
    """The real SmolLM2 folder, pulled once per machine into the model cache ($STUDIO_MODELS)."""
    pytest.importorskip("torch")
    from studio.engine.models import pull_smollm2

    return pull_smollm2()


@pytest.fixture(scope="session")
def tiny_model_dir(smollm2_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised 2-layer Llama (hidden 64) with SmolLM2's real tokenizer and chat template."""
    from transformers import AutoTokenizer

    from tests.engine_support import tiny_llama

    folder = tmp_path_factory.mktemp("tiny-llama")
    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    tiny_llama(tokenizer, max_position_embeddings=512).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def chat_file(tmp_path: Path) -> Path:
    return write_chat_file(tmp_path / "train.jsonl")


@pytest.fixture(scope="module")
def tiny_engine(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """One ``studio engine`` process per test module, with the tiny model registered as ``tiny-llama``."""
    engine = EngineProcess(tmp_path_factory.mktemp("engine"), models={TINY: tiny_model_dir}, threads=1)
    yield engine
    engine.stop()


@pytest.fixture
def app_engine(tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[EngineProcess]:
    """A fresh engine with the tiny model that the app's code finds through ``$STUDIO_ENGINE_URL``."""
    engine = EngineProcess(tmp_path / "engine", models={TINY: tiny_model_dir}, threads=1)
    monkeypatch.setenv("STUDIO_ENGINE_URL", f"{engine.base_url}/v1")
    yield engine
    engine.stop()
