"""Training data encoding, hyperparameters and the results file; the loop itself on the tiny model."""

from __future__ import annotations

import csv
import io
import json

import pytest

from studio.core.training import auto_epochs
from studio.engine.api.errors import http_status
from studio.engine.encoding import encode_example, encode_examples, read_examples
from studio.engine.errors import HyperparameterError, TrainingDataError
from studio.engine.hyperparameters import BASE_LEARNING_RATE, resolve_config, validate_hyperparameters
from studio.engine.trainer import TrainingCallbacks, resume_step, train
from studio.engine.worker import RESULT_COLUMNS, result_csv
from tests.engine_support import write_chat_file

pytest_plugins = ("tests.engine_fixtures",)


@pytest.mark.parametrize(
    "n_examples, epochs",
    [(1, 25), (4, 25), (10, 10), (12, 8), (33, 3), (34, 3), (60, 3), (8333, 3), (10_000, 2), (30_000, 1)],
)
def test_auto_epochs_follow_openai(n_examples, epochs):
    assert auto_epochs(n_examples) == epochs


@pytest.mark.parametrize(
    "values, expected",
    [
        ({"n_epochs": 3, "batch_size": "auto"}, {"n_epochs": 3, "batch_size": "auto"}),
        ({"n_epochs": 2.0}, {"n_epochs": 2}),
        ({"learning_rate_multiplier": 10}, {"learning_rate_multiplier": 10}),
        (
            {"lora_rank": 8, "lora_alpha": 16, "max_length": 256},
            {"lora_rank": 8, "lora_alpha": 16, "max_length": 256},
        ),
        ({"n_epochs": None}, {}),
        ({"packing": True, "warmup_ratio": 0.0}, {"packing": True, "warmup_ratio": 0.0}),
    ],
)
def test_valid_hyperparameters_pass(values, expected):
    assert validate_hyperparameters(values) == expected


@pytest.mark.parametrize(
    "values, param",
    [
        ({"n_epochs": 0}, "hyperparameters.n_epochs"),
        ({"n_epochs": 51}, "hyperparameters.n_epochs"),
        ({"batch_size": 257}, "hyperparameters.batch_size"),
        ({"learning_rate_multiplier": 0.0}, "hyperparameters.learning_rate_multiplier"),
        ({"learning_rate_multiplier": float("nan")}, "hyperparameters.learning_rate_multiplier"),
        ({"learning_rate_multiplier": "1.0"}, "hyperparameters.learning_rate_multiplier"),
        ({"lora_rank": "auto"}, "hyperparameters.lora_rank"),
        ({"epochs": 3}, "hyperparameters.epochs"),
        ({"packing": 1}, "hyperparameters.packing"),
        ({"packing": "auto"}, "hyperparameters.packing"),
    ],
)
def test_invalid_hyperparameters_name_their_param(values, param):
    with pytest.raises(HyperparameterError) as caught:
        validate_hyperparameters(values)
    assert caught.value.param == param and isinstance(caught.value, ValueError)
    assert http_status(caught.value) == (400, "invalid_request_error")  # how the API reports it


def test_resolve_config_fills_auto_values():
    config = resolve_config({"n_epochs": "auto", "learning_rate_multiplier": 2}, n_examples=60, seed=5)
    assert (config.n_epochs, config.batch_size, config.seed) == (3, 4, 5)
    assert config.learning_rate == pytest.approx(2 * BASE_LEARNING_RATE)
    assert resolve_config({}, n_examples=2, seed=0).batch_size == 2


def test_read_examples_names_the_bad_line(tmp_path):
    path = tmp_path / "t.jsonl"
    path.write_text('{"messages": []}\n\n{"messages": "no"}\n')
    with pytest.raises(TrainingDataError, match="line 3"):
        read_examples(path)
    path.write_text("\n")
    with pytest.raises(TrainingDataError, match="no examples"):
        read_examples(path)


@pytest.fixture(scope="module")
def tokenizer(smollm2_dir):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(smollm2_dir)


def _trained_text(tokenizer, encoded):
    return tokenizer.decode([t for t, label in zip(encoded.input_ids, encoded.labels, strict=True) if label != -100])


def test_loss_is_taken_on_assistant_turns_only(tokenizer):
    example = {
        "messages": [
            {"role": "system", "content": "Be a pirate."},
            {"role": "user", "content": "Hello?"},
            {"role": "assistant", "content": "Arr, hello matey."},
        ]
    }
    encoded = encode_example(tokenizer, example, max_length=512)
    assert _trained_text(tokenizer, encoded) == "Arr, hello matey.<|im_end|>\n"
    assert all(label in (-100, token) for token, label in zip(encoded.input_ids, encoded.labels, strict=True))


def test_weight_zero_turns_are_not_trained(tokenizer):
    example = {
        "messages": [
            {"role": "user", "content": "One?"},
            {"role": "assistant", "content": "Plain answer.", "weight": 0},
            {"role": "user", "content": "Two?"},
            {"role": "assistant", "content": [{"type": "text", "text": "Arr, two."}], "weight": 1},
        ]
    }
    assert _trained_text(tokenizer, encode_example(tokenizer, example, max_length=512)) == "Arr, two.<|im_end|>\n"


def test_truncated_examples_without_trained_tokens_are_dropped(tokenizer):
    long_prompt = {"messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "Arr."}]}
    short = {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Arr."}]}
    encoded = encode_examples(tokenizer, [long_prompt, short], max_length=64)
    assert len(encoded) == 1 and len(encoded[0].input_ids) <= 64
    with pytest.raises(TrainingDataError, match="no example has an assistant turn"):
        encode_examples(tokenizer, [long_prompt], max_length=64)


def test_result_csv_has_openai_columns_and_one_row_per_step():
    rows = [
        {"step": 1, "train_loss": 2.0, "train_mean_token_accuracy": 0.5},
        {
            "step": 2,
            "train_loss": 1.9,
            "train_mean_token_accuracy": 0.5,
            "valid_loss": 2.1,
            "valid_mean_token_accuracy": 0.4,
        },
        {"step": 2, "train_loss": 1.8, "train_mean_token_accuracy": 0.6},  # trained again after a resume
    ]
    table = list(csv.reader(io.StringIO(result_csv(rows))))
    assert tuple(table[0]) == RESULT_COLUMNS
    assert table[1:] == [["1", "2.000000", "0.500000", "", ""], ["2", "1.800000", "0.600000", "", ""]]


@pytest.mark.parametrize(
    "hyperparameters",
    [{"batch_size": 2}, {"packing": True, "max_length": 72}],  # packed: rows of two 41-token chats, 1 row a step
    # (their common 16-token start once, then two 25-token tails: 66 tokens; a third would need 91)
    ids=["padded", "packed"],
)
def test_train_checkpoints_each_epoch_and_resumes_after_a_pause(
    tiny_model_dir, tokenizer, tmp_path, monkeypatch, hyperparameters
):
    monkeypatch.setenv("STUDIO_ENGINE_THREADS", "1")
    examples = read_examples(write_chat_file(tmp_path / "t.jsonl", n=6))
    config = resolve_config({"n_epochs": 2, **hyperparameters}, n_examples=6, seed=3)
    seen: list[dict] = []
    checkpoints: list[int] = []
    signals = iter(["continue"] * 4 + ["pause"])
    callbacks = TrainingCallbacks(
        control=lambda: next(signals, "continue"),
        on_metrics=seen.append,
        on_checkpoint=lambda step, path, metrics: checkpoints.append(step),
    )

    def run_job():
        return train(
            base=str(tiny_model_dir),
            train_examples=examples,
            valid_examples=examples[:2],
            config=config,
            job_dir=tmp_path / "job",
            callbacks=callbacks,
        )

    paused = run_job()
    assert (paused.status, paused.step, paused.total_steps) == ("paused", 4, 6)
    assert resume_step(tmp_path / "job") == 4 and checkpoints == [3]

    messages: list[str] = []
    callbacks.on_message = messages.append
    done = run_job()
    assert done.status == "succeeded" and messages == ["Resumed from step 4/6"]
    assert [m["step"] for m in seen] == [1, 2, 3, 4, 5, 6] and checkpoints == [3, 6]
    assert "valid_loss" in seen[-1]
    assert json.loads((done.adapter_dir / "adapter_config.json").read_text())["r"] == config.lora_rank
    # The resumed steps are those of a run never paused: the same examples (packed the same way), the same losses.
    resumed = [m["train_loss"] for m in seen[4:]]
    callbacks.control = lambda: "continue"
    seen.clear()
    straight = train(
        base=str(tiny_model_dir),
        train_examples=examples,
        valid_examples=examples[:2],
        config=config,
        job_dir=tmp_path / "straight",
        callbacks=callbacks,
    )
    every_token = sum(len(e.input_ids) for e in encode_examples(tokenizer, examples, max_length=96))
    assert straight.trained_tokens == done.trained_tokens == 2 * every_token  # each example once an epoch
    assert [m["train_loss"] for m in seen[4:]] == pytest.approx(resumed, abs=1e-5)


def _varied_examples(tokenizer, n=7):
    """Chats of clearly different lengths, some with a system prompt (so rows pack unevenly)."""
    examples = []
    for i in range(n):
        messages = [{"role": "system", "content": "Answer like a pirate."}] if i % 2 else []
        messages += [
            {"role": "user", "content": "Tell me about the sea " * (1 + i)},
            {"role": "assistant", "content": "Arr, the sea be wide and deep " * (1 + 2 * (i % 3))},
        ]
        examples.append({"messages": messages})
    return encode_examples(tokenizer, examples, max_length=512)


@pytest.mark.parametrize("attention", ["sdpa", "packed"])  # transformers' block-diagonal mask, or ours
def test_packing_gives_exactly_the_unpacked_loss(tiny_model_dir, tokenizer, attention):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.engine import packed_attention
    from studio.engine.trainer import _loss_and_accuracy
    from studio.engine.training_batches import collate, pack_rows, row_tensors

    torch.manual_seed(0)
    implementation = packed_attention.register() if attention == "packed" else attention
    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, dtype=torch.float32, attn_implementation=implementation
    )
    assert model.config._attn_implementation == implementation
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)).eval()
    batch = _varied_examples(tokenizer)
    longest = max(len(e.input_ids) for e in batch)
    pad = tokenizer.pad_token_id
    with torch.no_grad():
        loss, correct, count = _loss_and_accuracy(model, *collate(batch, pad, "cpu"))
        for max_length in (longest, 2 * longest, 512):  # several rows with end padding, then fewer, then one
            ids, labels, positions = row_tensors(pack_rows(batch, max_length), pad, "cpu")
            assert ids.shape[0] == len(pack_rows(batch, max_length)) and ids.shape[1] <= max_length
            packed_loss, packed_correct, packed_count = _loss_and_accuracy(model, ids, labels, None, positions)
            assert packed_count == count == sum(e.trained_tokens for e in batch)
            assert packed_loss.item() == pytest.approx(loss.item(), abs=1e-5)
            assert packed_correct == correct
        # The same rows with attention across examples give another loss: the test can tell.
        ids, labels, positions = row_tensors(pack_rows(batch, 512), pad, "cpu")
        leaky, _, _ = _loss_and_accuracy(model, ids, labels, None, torch.arange(ids.shape[1])[None])
        assert abs(leaky.item() - loss.item()) > 1e-3
    assert row_tensors(pack_rows(batch, 512), pad, "cpu")[0].shape[0] == 1  # 7 short chats: one row, no padding at all


def _system_prompted_examples(tokenizer, n=7):
    """Chats of different lengths that all start with one system prompt (as every chat does under a template that
    writes a default one, SmolLM2's), and one that has another."""
    system = {"role": "system", "content": "You are a helpful assistant who answers like a pirate, briefly."}
    verbs = ["Tell", "Show", "Teach", "Remind", "Ask", "Give", "Write"]
    examples = [
        {
            "messages": [
                system if i else {"role": "system", "content": "Answer plainly."},
                {"role": "user", "content": f"{verbs[i % len(verbs)]} me about the sea " * (1 + i % 3)},
                {"role": "assistant", "content": "Arr, the sea be wide and deep " * (1 + 2 * (i % 3))},
            ]
        }
        for i in range(n)
    ]
    return encode_examples(tokenizer, examples, max_length=512)


def test_the_shared_start_is_common_untrained_and_followed_by_an_untrained_token(tokenizer):
    from studio.engine.encoding import EncodedExample
    from studio.engine.training_batches import shared_prefix

    batch = _system_prompted_examples(tokenizer)
    n = shared_prefix(batch[1:])
    header = (
        tokenizer.apply_chat_template(
            [{"role": "system", "content": "You are a helpful assistant who answers like a pirate, briefly."}],
            tokenize=False,
        )
        + "<|im_start|>user\n"
    )
    assert tokenizer.decode(batch[1].input_ids[:n]) == header  # the system turn and the user turn's header
    assert 0 < shared_prefix(batch) < n  # another system prompt: only the template's first tokens are common
    assert shared_prefix(batch[:1]) == 0
    a = EncodedExample([1, 2, 3, 4, 9], [-100, -100, 3, 4, 9])
    b = EncodedExample([1, 2, 3, 5, 9], [-100, -100, 3, 5, 9])
    assert shared_prefix([a, b]) == 1  # token 3 is trained: it is no shared start, nor may a tail begin with it
    c = EncodedExample([1, 2], [-100, -100])
    assert shared_prefix([c, EncodedExample([1, 2, 7], [-100, -100, 7])]) == 1  # each keeps a token of its own


def test_rows_that_share_their_start_give_exactly_the_unpacked_loss_and_gradients(tiny_model_dir, tokenizer):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    from studio.engine import packed_attention
    from studio.engine.trainer import _loss_and_accuracy
    from studio.engine.training_batches import collate, pack_rows, row_tensors, shared_prefix

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(
        tiny_model_dir, dtype=torch.float32, attn_implementation=packed_attention.register()
    )
    model = get_peft_model(model, LoraConfig(r=4, target_modules="all-linear", init_lora_weights=False)).eval()
    trained = [p for p in model.parameters() if p.requires_grad]

    def loss_and_grads(ids, labels, mask, positions=None):
        model.zero_grad()
        loss, correct, count = _loss_and_accuracy(model, ids, labels, mask, positions)
        loss.backward()
        return loss.item(), correct, count, [p.grad.clone() for p in trained]

    pad = tokenizer.pad_token_id
    for batch in (_system_prompted_examples(tokenizer)[1:], _system_prompted_examples(tokenizer)):
        loss, correct, count, grads = loss_and_grads(*collate(batch, pad, "cpu"))
        shared = shared_prefix(batch)
        longest = max(len(e.input_ids) for e in batch)
        for max_length in (longest + 40, 512):  # several rows, then one
            rows = pack_rows(batch, max_length, shared=shared)
            ids, labels, positions = row_tensors(rows, pad, "cpu", share_prefix=True)
            assert ids.shape[1] <= max_length
            assert int((positions[:, 1:] != positions[:, :-1] + 1).sum()) > 0  # tails go on from the start
            packed = loss_and_grads(ids, labels, None, positions)
            assert packed[0] == pytest.approx(loss, abs=1e-5) and packed[1:3] == (correct, count)
            for got, want in zip(packed[3], grads, strict=True):
                torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
        rows = pack_rows(batch, 512, shared=shared)
        ids, _, _ = row_tensors(rows, pad, "cpu", share_prefix=True)
        whole = sum(len(e.input_ids) for e in batch)
        assert ids.shape == (1, whole - (len(batch) - 1) * shared_prefix(rows[0]))  # the start once, not 6 times
    # A tail that does not see the shared start gives another loss: the test can tell.
    batch = _system_prompted_examples(tokenizer)[1:]
    ids, labels, positions = row_tensors(pack_rows(batch, 512), pad, "cpu", share_prefix=True)
    restarted = positions - torch.where(positions >= shared_prefix(batch), shared_prefix(batch), 0)
    with torch.no_grad():
        blind, _, _ = _loss_and_accuracy(model, ids, labels, None, restarted)
    assert abs(blind.item() - loss_and_grads(*collate(batch, pad, "cpu"))[0]) > 1e-3


def test_packing_puts_every_example_in_exactly_one_row_best_fit(tokenizer):
    from studio.engine.hyperparameters import TrainingConfig
    from studio.engine.training_batches import epoch_units, pack_rows

    examples = encode_examples(tokenizer, _varied_chats(7), max_length=512)
    lengths = sorted(len(e.input_ids) for e in examples)  # 45, 55, 60, 63, 68, 86, 91 tokens
    rows = pack_rows(examples, 100)
    assert sorted(len(r) for r in rows) == [1, 1, 1, 1, 1, 2]  # the 45 goes into the 55's row, the best fit
    assert all(sum(len(e.input_ids) for e in row) <= 100 for row in rows)
    assert sorted(len(e.input_ids) for row in rows for e in row) == lengths  # none cut, dropped or repeated
    assert len(pack_rows(examples, 2 * max(lengths))) == 3  # 468 tokens in rows of 182: 3, the fewest possible
    config = TrainingConfig(n_epochs=2, batch_size=1, learning_rate_multiplier=1, seed=5, max_length=182, packing=True)
    first, again, second = (epoch_units(examples, config, epoch) for epoch in (0, 0, 1))
    assert first == again and first != second and len(first) == len(second) == 3  # seeded; steps fixed per epoch
    for units in (first, second):
        assert sorted(id(e) for row in units for e in row) == sorted(id(e) for e in examples)


def test_a_packed_run_trains_every_example_in_fewer_steps(tiny_model_dir, tmp_path, monkeypatch):
    """With packing, "auto" batch size is one packed row: 6 short chats fit in one row, so an epoch is one step
    whose loss is that of the six chats in one padded batch."""
    monkeypatch.setenv("STUDIO_ENGINE_THREADS", "1")
    examples = read_examples(write_chat_file(tmp_path / "t.jsonl", n=6))
    runs = {}
    for packing, batch in ((False, 6), (False, "auto"), (True, "auto")):
        config = resolve_config({"n_epochs": 2, "batch_size": batch, "packing": packing}, n_examples=6, seed=3)
        seen: list[dict] = []
        result = train(
            base=str(tiny_model_dir),
            train_examples=examples,
            valid_examples=examples[:3],
            config=config,
            job_dir=tmp_path / f"job-{packing}-{batch}",
            callbacks=TrainingCallbacks(on_metrics=seen.append),
        )
        runs[packing, batch] = (result, seen)
    (whole, whole_seen), (padded, _), (packed, packed_seen) = runs.values()
    assert (padded.step, whole.step, packed.step) == (4, 2, 2)  # auto padded: batches of 4 and 2; packed: 1 row
    assert packed.status == "succeeded" and packed.trained_tokens == whole.trained_tokens == padded.trained_tokens
    for key in ("train_loss", "valid_loss"):
        assert [m[key] for m in packed_seen] == pytest.approx([m[key] for m in whole_seen], abs=1e-4)


def _varied_chats(n):
    """Raw chats of clearly different lengths (so micro-batches hold different numbers of trained tokens)."""
    return [
        {
            "messages": [
                {"role": "user", "content": "Tell me about the sea " * (1 + i % 4)},
                {"role": "assistant", "content": "Arr, the sea be wide " * (1 + 3 * (i % 3))},
            ]
        }
        for i in range(n)
    ]


@pytest.mark.parametrize(
    "hyperparameters",
    # Packed: the 7 chats (45-91 tokens) in 6 rows of at most 100 tokens, 3 rows a step (one micro-batch empty at 4).
    [{"batch_size": 4}, {"batch_size": 3, "packing": True, "max_length": 100}],
    ids=["padded", "packed"],
)
def test_gradient_accumulation_under_accelerate_gives_the_big_batch_run(
    tiny_model_dir, tmp_path, monkeypatch, hyperparameters
):
    """`accelerate launch --gradient_accumulation_steps N` (its environment variable) splits each step's batch into
    N micro-batches; the steps, the loss curve and the trained adapter are those of the one-batch run."""
    import accelerate
    from safetensors.torch import load_file

    monkeypatch.setenv("STUDIO_ENGINE_THREADS", "1")
    backward_calls = []
    real_backward = accelerate.Accelerator.backward
    monkeypatch.setattr(
        accelerate.Accelerator,
        "backward",
        lambda self, loss, **kw: (backward_calls.append(1), real_backward(self, loss, **kw)),
    )
    examples = _varied_chats(7)  # batch 4: steps of 4 and 3 examples; with 4 micro-batches one is empty
    runs = {}
    for accumulation in (1, 2, 4):
        monkeypatch.setenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", str(accumulation))
        config = resolve_config(
            {"n_epochs": 2, "learning_rate_multiplier": 20, **hyperparameters}, n_examples=7, seed=3
        )
        seen: list[dict] = []
        backward_calls.clear()
        result = train(
            base=str(tiny_model_dir),
            train_examples=examples,
            valid_examples=None,
            config=config,
            job_dir=tmp_path / f"job-{accumulation}",
            callbacks=TrainingCallbacks(on_metrics=seen.append),
        )
        assert result.status == "succeeded" and len(backward_calls) == 4 * accumulation  # 4 steps, through accelerate
        weights = load_file(result.adapter_dir / "adapter_model.safetensors")
        runs[accumulation] = ([m["train_loss"] for m in seen], [m["train_mean_token_accuracy"] for m in seen], weights)
    losses, accuracies, weights = runs[1]
    assert len(losses) == 4 and losses[-1] < losses[0]  # it learns
    for accumulation in (2, 4):
        other_losses, other_accuracies, other_weights = runs[accumulation]
        assert other_losses == pytest.approx(losses, abs=1e-4) and other_accuracies == accuracies
        # Adam (at a peak rate of 0.02) magnifies the last bits that another summation order changes.
        worst = max(float((other_weights[name] - tensor).abs().max()) for name, tensor in weights.items())
        assert worst <= 1e-3 * max(float(tensor.abs().max()) for tensor in weights.values()), worst
