"""The local engine's models are counted with their own tokenizer once pulled, not approximated with o200k."""

import pytest

from studio.cost import tokens

tokenizers = pytest.importorskip("tokenizers")


@pytest.fixture
def pulled(tmp_path, monkeypatch):
    """A pulled model folder whose tokenizer splits on spaces (every word one token, unknown words [UNK])."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {"[UNK]": 0, "hello": 1, "world": 2}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    folder = tmp_path / "smollm2-135m-instruct"
    folder.mkdir()
    tokenizer.save(str(folder / "tokenizer.json"))
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path))
    tokens._pulled_tokenizer.cache_clear()
    yield
    tokens._pulled_tokenizer.cache_clear()


def test_the_local_engine_counts_with_the_pulled_tokenizer(pulled):
    counter = tokens.text_counter("local")
    assert not counter.approximate and counter.name == "smollm2-135m-instruct"
    assert counter.count("hello world, again world") == 5  # hello · world · , · again · world


def test_without_a_pulled_model_the_count_is_flagged_approximate(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_MODELS", str(tmp_path))
    tokens._pulled_tokenizer.cache_clear()
    counter = tokens.text_counter("local")
    assert counter.approximate and counter.name == "o200k_base"
    tokens._pulled_tokenizer.cache_clear()
