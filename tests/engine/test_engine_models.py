"""Loading models for generation: plain LoRA merge, inference precision, shared tokenizers, preloading."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.engine_support import TINY, ThreadServer, cli_app

pytest_plugins = ("tests.engine_fixtures",)

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from studio.engine import models as engine_models  # noqa: E402
from studio.engine.models.generation import _sample  # noqa: E402
from tests.waiting import wait_until  # noqa: E402


def _adapter(base: Path, folder: Path, **config) -> Path:
    """A LoRA adapter on every linear layer of ``base`` with non-zero B, so merging changes the weights."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(7)
    model = get_peft_model(
        AutoModelForCausalLM.from_pretrained(base),
        LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", task_type="CAUSAL_LM", **config),
    )
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(std=0.05)
    model.save_pretrained(folder)
    return folder


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_plain_lora_merge_gives_the_weights_peft_gives(tiny_model_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = _adapter(tiny_model_dir, tmp_path / "adapter")
    ours = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = _weights(ours)
    assert engine_models.merge_plain_lora(ours, adapter)
    peft_merged = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter))
    theirs = _weights(peft_merged.merge_and_unload())
    mine = _weights(ours)
    assert mine.keys() == theirs.keys()
    changed = [k for k in mine if not torch.equal(mine[k], before[k])]
    assert len(changed) == 2 * 7  # every linear of both layers
    for key in mine:
        torch.testing.assert_close(mine[key], theirs[key], rtol=1e-5, atol=1e-6)


def test_adapters_beyond_plain_lora_are_left_to_peft(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM

    dora = _adapter(tiny_model_dir, tmp_path / "dora", use_dora=True)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    before = _weights(model)
    assert not engine_models.merge_plain_lora(model, dora)
    assert not engine_models.merge_plain_lora(model, tmp_path / "missing")
    config = json.loads((dora / "adapter_config.json").read_text())
    config["use_dora"] = False
    config["modules_to_save"] = ["lm_head"]
    (dora / "adapter_config.json").write_text(json.dumps(config))
    assert not engine_models.merge_plain_lora(model, dora)
    after = _weights(model)
    assert all(torch.equal(after[k], before[k]) for k in before)


def test_a_fine_tuned_model_in_int8_answers_like_the_float32_merge(tiny_model_dir, tmp_path, monkeypatch):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    adapter = _adapter(tiny_model_dir, tmp_path / "adapter")
    reference = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), str(adapter))
    reference = reference.merge_and_unload().eval()
    monkeypatch.setenv("STUDIO_ENGINE_INFERENCE_DTYPE", "int8")
    tuned = engine_models.load_model(str(tiny_model_dir), adapter)
    base = engine_models.load_model(str(tiny_model_dir))
    ids = torch.arange(20).mul(97).remainder(500).view(1, 20)
    with torch.inference_mode():
        want = reference(ids).logits[0]
        torch.testing.assert_close(tuned.model(ids).logits[0], want, rtol=1e-3, atol=1e-3)  # prompt: exact path
        past = tuned.model(ids[:, :-1], use_cache=True).past_key_values
        step = torch.log_softmax(tuned.model(ids[:, -1:], past_key_values=past).logits[0, -1], -1)
        base_step = torch.log_softmax(base.model(ids).logits[0, -1], -1)
    expected = torch.log_softmax(want[-1], -1)
    decoding_error = float((expected.exp() * (expected - step)).sum())
    update_effect = float((expected.exp() * (expected - base_step)).sum())
    assert decoding_error < update_effect / 20  # decoding runs the merged weights, within int8 error


def test_a_dora_adapter_still_loads_through_peft(tiny_model_dir, tmp_path):
    adapter = _adapter(tiny_model_dir, tmp_path / "dora", use_dora=True)
    loaded = engine_models.load_model(str(tiny_model_dir), adapter)
    reply = engine_models.generate(loaded, [{"role": "user", "content": "Hi"}], max_tokens=3, temperature=0)
    assert reply.run() is not None
    assert reply.completion_tokens + (reply.finish_reason == "stop") >= 1


@pytest.mark.parametrize(("setting", "expected"), [("fp32", "fp32"), ("float32", "fp32"), ("bf16", "bf16")])
def test_the_inference_precision_can_be_forced(monkeypatch, setting, expected):
    monkeypatch.setenv("STUDIO_ENGINE_INFERENCE_DTYPE", setting)
    assert engine_models.inference_precision("cpu") == expected


def test_cpus_without_native_bf16_decode_with_int8_weights(monkeypatch):
    from studio.engine import int8
    from studio.engine.trainer import cpu_has_native_bf16

    monkeypatch.delenv("STUDIO_ENGINE_INFERENCE_DTYPE", raising=False)
    expected = "bf16" if cpu_has_native_bf16() else "int8" if int8.supported() else "fp32"
    assert engine_models.inference_precision("cpu") == expected
    monkeypatch.setenv("STUDIO_ENGINE_INFERENCE_DTYPE", "int8")
    assert engine_models.inference_precision("cuda") == "fp32"  # the int8 kernel is the CPU one


def test_a_fine_tuned_model_shares_its_base_tokenizer_and_answers_in_int8(tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("STUDIO_ENGINE_INFERENCE_DTYPE", "int8")
    adapter = _adapter(tiny_model_dir, tmp_path / "adapter")
    base = engine_models.load_model(str(tiny_model_dir))
    tuned = engine_models.load_model(str(tiny_model_dir), adapter)
    assert tuned.tokenizer is base.tokenizer
    assert tuned.precision == base.precision == "int8"
    messages = [{"role": "user", "content": "Name a colour."}]
    one = engine_models.generate(tuned, messages, max_tokens=6, temperature=0)
    two = engine_models.generate(tuned, messages, max_tokens=6, temperature=0)
    assert one.run() == two.run()  # greedy decoding is deterministic on the int8 path too


def _loaded(base_url: str) -> list[str]:
    return httpx.get(f"{base_url}/health").json()["loaded_models"]


def test_preloaded_models_are_in_memory_before_the_first_request(tiny_model_dir, tmp_path):
    app = cli_app(
        tmp_path / "engine", models={TINY: str(tiny_model_dir)}, run_jobs=False, preload=["no-such-model", TINY]
    )
    with ThreadServer(app) as server:
        wait_until(lambda: TINY in _loaded(server.base_url), timeout=60, message=f"{TINY} to be preloaded")
        assert _loaded(server.base_url) == [TINY]  # the unknown name was skipped, not fatal
        reply = server.client().chat.completions.create(
            model=TINY, messages=[{"role": "user", "content": "Hi"}], max_tokens=2
        )
        assert reply.usage.completion_tokens <= 2


@pytest.mark.parametrize("temperature", [1e-300, 5e-324, 1e-6, 2.0])
def test_any_allowed_temperature_samples_a_token(temperature):
    logits = torch.tensor([1.0, 3.0, float("nan"), -float("inf"), 2.5])
    generator = torch.Generator().manual_seed(0)
    tokens = {_sample(logits, temperature, 1e-300, generator) for _ in range(5)}
    assert tokens == {1}  # top_p that small keeps only the most likely token
    token = _sample(logits, temperature, 1.0, generator)
    assert token in {0, 1, 4}  # never the NaN or the impossible one


def test_a_precision_asked_for_wins_over_the_default(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("STUDIO_ENGINE_INFERENCE_DTYPE", "int8")
    loaded = engine_models.load_model(str(tiny_model_dir), precision="fp32")
    assert loaded.precision == "fp32"
    assert not any(type(m).__name__ == "DecodeLinear" for m in loaded.model.modules())
