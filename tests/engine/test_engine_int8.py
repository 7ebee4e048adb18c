"""Int8 decoding weights: the same answers as float32 within quantisation error, with tied weights kept shared."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from studio.engine import int8  # noqa: E402

pytestmark = pytest.mark.skipif(not int8.supported(), reason="this torch build has no CPU int8 weight kernel")


def _relative_error(got, want) -> float:
    return float((got - want).abs().max() / want.abs().max())


def test_one_row_uses_int8_weights_within_one_percent_of_float32():
    torch.manual_seed(0)
    linear = torch.nn.Linear(576, 1536, bias=True)
    layer = int8.DecodeLinear(linear)
    x = torch.randn(1, 1, 576)
    with torch.inference_mode():
        got, want = layer(x), linear(x)
    assert got.shape == want.shape == (1, 1, 1536)
    assert got.dtype == torch.float32
    assert not torch.equal(got, want)  # the int8 path really ran
    assert _relative_error(got, want) < 0.02


def test_prompts_longer_than_a_few_rows_use_the_float32_weights_exactly():
    torch.manual_seed(1)
    linear = torch.nn.Linear(64, 96, bias=False)
    layer = int8.DecodeLinear(linear)
    x = torch.randn(2, int8.DECODE_ROWS, 64)  # 16 rows
    with torch.inference_mode():
        assert torch.equal(layer(x), linear(x))


def test_quantised_rows_round_trip_within_half_a_step():
    torch.manual_seed(2)
    weight = torch.randn(1100, 40) * torch.logspace(-3, 1, 1100)[:, None]  # rows of very different ranges
    quantized, scale = int8._quantize_rows(weight, block=256)  # several blocks and a partial one
    assert quantized.dtype == torch.int8
    assert int(quantized.abs().max()) == 127
    restored = quantized.float() * scale[:, None]
    assert bool(((restored - weight).abs() <= scale[:, None] * 0.5 + 1e-9).all())


def test_a_zero_row_stays_zero():
    quantized, scale = int8._quantize_rows(torch.zeros(3, 16))
    assert int(quantized.abs().sum()) == 0
    assert bool(torch.isfinite(scale).all())


def test_every_linear_is_replaced_and_tied_embeddings_stay_one_tensor():
    from tests.engine_support import tiny_llama

    model = tiny_llama(320, seed=3).eval()
    ids = torch.arange(12).mul(23).remainder(320).view(1, 12)  # a 12-token prompt
    with torch.inference_mode():
        prompt_logits = model(ids).logits
        one_logits = model(ids[:, :1]).logits
    assert int8.quantize_linears(model) == 2 * 7 + 1
    assert not any(type(m) is torch.nn.Linear for m in model.modules())
    assert model.lm_head.weight is model.model.embed_tokens.weight
    with torch.inference_mode():
        assert torch.equal(model(ids).logits, prompt_logits)  # 12 rows: the float32 weights, unchanged
        one = model(ids[:, :1]).logits
    want = torch.log_softmax(one_logits[0, -1], -1)
    got = torch.log_softmax(one[0, -1], -1)
    kl = float((want.exp() * (want - got)).sum())
    assert 0 < kl < 1e-3


def test_int8_decoding_accepts_inputs_that_are_not_contiguous():
    linear = torch.nn.Linear(64, 32, bias=False)
    x = torch.randn(64, 3).t()  # 3 rows, strided
    torch.testing.assert_close(int8.DecodeLinear(linear)(x), linear(x), rtol=0.05, atol=0.05)


def test_a_lora_update_is_folded_into_the_int8_weights_and_added_to_prompts():
    torch.manual_seed(4)
    linear = torch.nn.Linear(96, 160, bias=True)
    a, b, scale = torch.randn(8, 96) * 0.1, torch.randn(160, 8) * 0.1, 2.0
    merged = torch.nn.Linear(96, 160, bias=True)
    with torch.no_grad():
        merged.weight.copy_(linear.weight + scale * b @ a)
        merged.bias.copy_(linear.bias)
    layer = int8.DecodeLinear(linear, (a, b, scale))
    one, prompt = torch.randn(1, 1, 96), torch.randn(1, 20, 96)
    with torch.inference_mode():
        assert _relative_error(layer(one), merged(one)) < 0.02  # decoding: the merged weights, in int8
        torch.testing.assert_close(layer(prompt), merged(prompt), rtol=1e-4, atol=1e-4)  # prompt: W x + s·B(A x)
    assert torch.equal(layer.weight, linear.weight)  # the float32 weights are the base's, untouched


def test_updates_for_layers_that_are_not_linear_are_refused():
    model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.ReLU())
    update = (torch.zeros(2, 16), torch.zeros(16, 2), 1.0)
    assert int8.quantize_linears(torch.nn.Sequential(torch.nn.Linear(16, 16)), {"0": update}) == 1
    with pytest.raises(ValueError, match="not linear: 1"):
        int8.quantize_linears(model, {"1": update})
