"""Held-out perplexity of a base model and of base + LoRA adapter, on the tiny model (fast)."""

from __future__ import annotations

import math

import pytest

from studio.engine.perplexity import load_for_scoring, perplexity, text_perplexity
from tests.engine_support import ROOT

pytest_plugins = ("tests.engine_fixtures",)

pytest.importorskip("torch")
pytest.importorskip("peft")

HELDOUT = (ROOT / "sample_data" / "heldout_english.txt").read_text(encoding="utf-8")


def test_the_heldout_text_is_a_few_hundred_words_of_plain_english():
    words = HELDOUT.split()
    assert 300 <= len(words) <= 800
    assert HELDOUT.isascii()
    pirate = {"arr", "matey", "ye", "yer", "aye", "ahoy", "hearty", "avast"}
    assert not pirate & {w.strip(".,!?").lower() for w in words}  # nothing of the style demo's voice


def test_perplexity_is_the_exponential_of_the_models_own_mean_token_loss(tiny_model_dir):
    import torch

    model, tokenizer = load_for_scoring(tiny_model_dir)
    text = HELDOUT[:400]
    ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss  # transformers' own shifted mean cross-entropy
    assert perplexity(model, tokenizer, text) == pytest.approx(math.exp(float(loss)), rel=1e-5)


def test_long_texts_are_scored_in_windows_that_predict_every_token_once(tiny_model_dir):
    model, tokenizer = load_for_scoring(tiny_model_dir)
    whole = perplexity(model, tokenizer, HELDOUT)
    windowed = perplexity(model, tokenizer, HELDOUT, window=64)
    assert whole > 1 and windowed > 1
    # a random model barely uses context: shorter windows change the figure a little, not its size
    assert windowed == pytest.approx(whole, rel=0.05)
    with pytest.raises(ValueError, match="at least two tokens"):
        perplexity(model, tokenizer, "a")
    with pytest.raises(ValueError, match="window"):
        perplexity(model, tokenizer, HELDOUT, window=1)


def test_a_fine_tune_is_scored_with_its_lora_adapter(tiny_model_dir, tmp_path):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    peft_model = get_peft_model(model, LoraConfig(r=4, lora_alpha=8, target_modules="all-linear"))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.5)  # a non-zero update, as after training
    peft_model.save_pretrained(tmp_path / "adapter")

    base = text_perplexity(tiny_model_dir, HELDOUT)
    tuned = text_perplexity(tiny_model_dir, HELDOUT, adapter=tmp_path / "adapter")
    assert tuned != pytest.approx(base, rel=1e-3)
    assert text_perplexity(tiny_model_dir, HELDOUT) == pytest.approx(base)  # the base is not changed by scoring
