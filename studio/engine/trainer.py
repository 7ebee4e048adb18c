"""LoRA supervised fine-tuning of a causal chat model (transformers + peft), on CPU or CUDA.

The loop: chat template from the model, loss only on assistant tokens whose message ``weight`` is not 0, dynamic
padding, AdamW with linear warmup then cosine decay, one checkpoint (adapter) per epoch, and a resumable state
(adapter, optimizer, scheduler, step) so paused, interrupted or engine-restarted jobs continue where they left off.

torch/transformers/peft are imported inside functions: this module is importable without the ``engine`` extra.

Learning rate: ``BASE_LEARNING_RATE × learning_rate_multiplier`` ("auto" multiplier = 1).
Epochs, "auto": OpenAI's heuristic: 3, raised so that small files see ~100 examples (at most 25 epochs), lowered so
that large ones see at most ~25,000 (at least 1). Batch size, "auto": 4 (or the number of examples if smaller).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio.core.training import auto_epochs
from studio.engine.errors import InvalidRequestError

BASE_LEARNING_RATE = 1e-3
"""Peak learning rate of LoRA adapters for ``learning_rate_multiplier`` = 1."""
AUTO_BATCH_SIZE = 4
DEFAULT_LORA_RANK = 16
DEFAULT_LORA_ALPHA = 32
DEFAULT_LORA_DROPOUT = 0.0
DEFAULT_MAX_LENGTH = 1024
DEFAULT_WARMUP_RATIO = 0.1
MIN_LR_RATIO = 0.1
"""The cosine decay ends at this fraction of the peak rate."""
MAX_VALID_EXAMPLES = 256
"""Full validation at each epoch end uses at most this many validation examples."""

# Architectures whose logits are exactly ``lm_head(last_hidden_state)``: for them the loss projects only the
# trained positions onto the vocabulary, which saves most of the output layer's cost.
_PLAIN_HEAD_MODEL_TYPES = {"llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo", "olmo2"}
_CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

Control = Literal["continue", "cancel", "pause", "suspend"]
_HYPERPARAMETER_RANGES: dict[str, tuple[type, float, float]] = {
    "n_epochs": (int, 1, 50),
    "batch_size": (int, 1, 256),
    "learning_rate_multiplier": (float, 0.0, 10.0),
    "lora_rank": (int, 1, 256),
    "lora_alpha": (float, 0.0, 4096.0),
    "lora_dropout": (float, 0.0, 0.9),
    "max_length": (int, 16, 131072),
    "warmup_ratio": (float, 0.0, 0.5),
}
_AUTO_ALLOWED = {"n_epochs", "batch_size", "learning_rate_multiplier"}
_EXCLUSIVE_LOW = {"learning_rate_multiplier", "lora_alpha"}


class TrainingDataError(ValueError):
    """The training or validation data has nothing trainable (reported as the job's error)."""


@dataclass(frozen=True)
class TrainingConfig:
    """Resolved hyperparameters of one run."""

    n_epochs: int
    batch_size: int
    learning_rate_multiplier: float
    seed: int
    lora_rank: int = DEFAULT_LORA_RANK
    lora_alpha: float = DEFAULT_LORA_ALPHA
    lora_dropout: float = DEFAULT_LORA_DROPOUT
    max_length: int = DEFAULT_MAX_LENGTH
    warmup_ratio: float = DEFAULT_WARMUP_RATIO

    @property
    def learning_rate(self) -> float:
        return BASE_LEARNING_RATE * self.learning_rate_multiplier


@dataclass(frozen=True)
class EncodedExample:
    input_ids: list[int]
    labels: list[int]
    """``-100`` where no loss is taken (prompt, system, weight-0 assistant turns)."""

    @property
    def trained_tokens(self) -> int:
        return sum(1 for label in self.labels if label != -100)


@dataclass
class TrainingCallbacks:
    """How the loop reports to its owner (the worker writes all of it to the store)."""

    control: Callable[[], Control] = lambda: "continue"
    on_message: Callable[[str], None] = lambda message: None
    on_metrics: Callable[[dict[str, Any]], None] = lambda metrics: None
    on_checkpoint: Callable[[int, Path, dict[str, Any]], None] = lambda step, path, metrics: None


@dataclass(frozen=True)
class TrainingResult:
    status: Literal["succeeded", "cancelled", "paused", "suspended"]
    step: int
    total_steps: int
    trained_tokens: int
    adapter_dir: Path | None = None
    metrics: list[dict[str, Any]] = field(default_factory=list)


# -- hyperparameters ----------------------------------------------------------------------------------------------


def validate_hyperparameters(
    values: Mapping[str, Any] | None, *, param: str = "hyperparameters"
) -> dict[str, Any]:
    """Checked copy of requested hyperparameters (numbers, or "auto" where OpenAI allows it); 400 otherwise."""
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise InvalidRequestError(f"{param} must be an object, got {values!r}", param=param)
    out: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{param}.{key}"
        if key not in _HYPERPARAMETER_RANGES:
            known = ", ".join(_HYPERPARAMETER_RANGES)
            raise InvalidRequestError(f"Unknown hyperparameter {key!r} (known: {known})", param=where)
        if value is None:
            continue
        if value == "auto" and key in _AUTO_ALLOWED:
            out[key] = "auto"
            continue
        kind, low, high = _HYPERPARAMETER_RANGES[key]
        number_ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        if kind is int and number_ok and float(value).is_integer():
            value = int(value)
        elif kind is int or not number_ok:
            expected = "an integer" if kind is int else "a number"
            auto = ' or "auto"' if key in _AUTO_ALLOWED else ""
            raise InvalidRequestError(f"{where} must be {expected}{auto}, got {value!r}", param=where)
        too_low = value <= low if key in _EXCLUSIVE_LOW else value < low
        if too_low or value > high or (isinstance(value, float) and math.isnan(value)):
            bound = f"> {low:g}" if key in _EXCLUSIVE_LOW else f">= {low:g}"
            raise InvalidRequestError(f"{where} must be {bound} and <= {high:g}, got {value!r}", param=where)
        out[key] = value
    return out



def resolve_config(hyperparameters: Mapping[str, Any], *, n_examples: int, seed: int) -> TrainingConfig:
    """Concrete config: "auto" and missing values replaced by the engine's defaults for this file."""
    values = {k: v for k, v in hyperparameters.items() if v != "auto"}
    n_epochs = int(values.pop("n_epochs", auto_epochs(n_examples)))
    batch_size = int(values.pop("batch_size", max(1, min(AUTO_BATCH_SIZE, n_examples))))
    multiplier = float(values.pop("learning_rate_multiplier", 1.0))
    return TrainingConfig(
        n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=multiplier, seed=seed, **values
    )


# -- data ---------------------------------------------------------------------------------------------------------


def read_examples(path: Path, *, name: str = "training_file") -> list[dict[str, Any]]:
    """Chat examples of a JSONL file (``{"messages": [...]}`` per line); TrainingDataError naming the line."""
    examples = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                example = json.loads(line)
            except ValueError as exc:
                raise TrainingDataError(f"{name} line {number}: invalid JSON ({exc.msg})") from None
            messages = example.get("messages") if isinstance(example, dict) else None
            if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
                raise TrainingDataError(f"{name} line {number}: expected an object with a 'messages' list")
            examples.append(example)
    if not examples:
        raise TrainingDataError(f"{name} has no examples")
    return examples


def _message_text(message: Mapping[str, Any]) -> str:
    from studio.core.chat import content_text

    text = content_text(message.get("content"))
    if not text and message.get("tool_calls"):
        text = json.dumps(message["tool_calls"], ensure_ascii=False)
    return text


def ensure_chat_template(tokenizer: Any) -> None:
    """Give a tokenizer without a chat template the ChatML one."""
    if not getattr(tokenizer, "chat_template", None):
        tokenizer.chat_template = _CHATML_TEMPLATE


def _render(tokenizer: Any, messages: list[dict[str, str]], *, generation_prompt: bool) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)


def encode_example(tokenizer: Any, example: Mapping[str, Any], *, max_length: int) -> EncodedExample:
    """Token ids of the rendered conversation and labels on the trained assistant turns (truncated)."""
    raw = [
        m
        for m in example["messages"]
        if m.get("role") in {"system", "developer", "user", "assistant", "tool"}
    ]
    messages = [
        {"role": "system" if m["role"] == "developer" else m["role"], "content": _message_text(m)}
        for m in raw
    ]
    full = _render(tokenizer, messages, generation_prompt=False)
    spans: list[tuple[int, int]] = []
    cursor = 0
    for i, message in enumerate(raw):
        if message.get("role") != "assistant" or message.get("weight", 1) == 0:
            continue
        span = None
        if i > 0:
            before = _render(tokenizer, messages[:i], generation_prompt=True)
            through = _render(tokenizer, messages[: i + 1], generation_prompt=False)
            if through.startswith(before) and full.startswith(through) and len(before) >= cursor:
                span = (len(before), len(through))
        if span is None:  # a template whose renders are not prefixes of each other: train the content only
            start = full.find(messages[i]["content"], cursor)
            if start < 0:
                continue
            span = (start, start + len(messages[i]["content"]))
        spans.append(span)
        cursor = span[1]
    encoding = tokenizer(full, add_special_tokens=False, return_offsets_mapping=True, truncation=False)
    ids = list(encoding["input_ids"])[:max_length]
    offsets = list(encoding["offset_mapping"])[:max_length]
    labels = [-100] * len(ids)
    for j, (start, end) in enumerate(offsets):
        if end > start and any(a <= start < b for a, b in spans):
            labels[j] = ids[j]
    return EncodedExample(input_ids=ids, labels=labels)


def encode_examples(
    tokenizer: Any, examples: Sequence[Mapping[str, Any]], *, max_length: int, name: str = "training_file"
) -> list[EncodedExample]:
    """Encoded examples that keep at least one trained token; TrainingDataError when none does."""
    ensure_chat_template(tokenizer)
    encoded = [encode_example(tokenizer, e, max_length=max_length) for e in examples]
    kept = [e for e in encoded if e.trained_tokens > 0]
    if not kept:
        raise TrainingDataError(
            f"{name}: no example has an assistant turn to train on (weight 0 or truncated)"
        )
    return kept


# -- the loop -----------------------------------------------------------------------------------------------------


def select_device() -> tuple[str, Any]:
    """(device, autocast dtype or None): CUDA when present; bf16 autocast where the hardware runs it natively.

    ``STUDIO_ENGINE_PRECISION=fp32|bf16`` overrides the choice (on CPUs without native bf16, emulated bf16 is
    several times slower than fp32).
    """
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    wanted = os.environ.get("STUDIO_ENGINE_PRECISION", "auto").lower()
    if wanted in {"fp32", "float32"}:
        return device, None
    if wanted in {"bf16", "bfloat16"}:
        return device, torch.bfloat16
    if device == "cuda":
        return device, torch.bfloat16 if torch.cuda.is_bf16_supported() else None
    return device, torch.bfloat16 if cpu_has_native_bf16() else None


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is emulated, slower."""
    import torch

    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(torch.cpu, name, lambda: False)() for name in checks)


def quiet_transformers() -> None:
    """No progress bars or peft deprecation notices in the worker and server logs."""
    import warnings

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)


def set_threads() -> int:
    """Use every core this process may run on (or ``$STUDIO_ENGINE_THREADS``); returns the count."""
    import torch

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    configured = os.environ.get("STUDIO_ENGINE_THREADS", "")
    if configured.isdigit() and int(configured) > 0:
        cores = int(configured)
    torch.set_num_threads(cores)
    return cores


def _collate(batch: Sequence[EncodedExample], pad_id: int, device: str) -> tuple[Any, Any, Any]:
    import torch

    width = max(len(e.input_ids) for e in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, example in enumerate(batch):
        n = len(example.input_ids)
        ids[row, :n] = torch.tensor(example.input_ids)
        labels[row, :n] = torch.tensor(example.labels)
        mask[row, :n] = 1
    return ids.to(device), labels.to(device), mask.to(device)


def _loss_and_accuracy(model: Any, ids: Any, labels: Any, mask: Any) -> tuple[Any, int, int]:
    """(mean loss over trained tokens, correct predictions, trained tokens) for one padded batch."""
    import torch
    import torch.nn.functional as F

    targets = labels[:, 1:]
    keep = targets != -100
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    if getattr(base.config, "model_type", None) in _PLAIN_HEAD_MODEL_TYPES:
        hidden = base.get_decoder()(input_ids=ids, attention_mask=mask).last_hidden_state
        logits = base.get_output_embeddings()(hidden[:, :-1][keep])
    else:
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1][keep]
    gold = targets[keep]
    loss = F.cross_entropy(logits.float(), gold)
    with torch.no_grad():
        correct = int((logits.argmax(-1) == gold).sum())
    return loss, correct, int(gold.numel())


def _evaluate(
    model: Any,
    examples: Sequence[EncodedExample],
    config: TrainingConfig,
    pad_id: int,
    device: str,
    autocast: Any,
) -> tuple[float, float]:
    import torch

    total_loss = 0.0
    correct = tokens = 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(examples), config.batch_size):
            ids, labels, mask = _collate(examples[start : start + config.batch_size], pad_id, device)
            with torch.autocast(device, dtype=autocast or torch.float32, enabled=autocast is not None):
                loss, ok, n = _loss_and_accuracy(model, ids, labels, mask)
            total_loss += loss.item() * n
            correct += ok
            tokens += n
    model.train()
    return total_loss / max(tokens, 1), correct / max(tokens, 1)


def _epoch_order(n: int, seed: int, epoch: int) -> list[int]:
    order = list(range(n))
    random.Random(seed * 1_000_003 + epoch).shuffle(order)
    return order


def _save_resume(resume_dir: Path, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]) -> None:
    """Atomically replace the resume state (adapter + optimizer + scheduler + counters)."""
    import torch

    tmp = resume_dir.with_name(resume_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp / "adapter")
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), **state}, tmp / "state.pt"
    )
    old = resume_dir.with_name(resume_dir.name + ".old")
    shutil.rmtree(old, ignore_errors=True)
    if resume_dir.exists():
        resume_dir.rename(old)
    tmp.rename(resume_dir)
    shutil.rmtree(old, ignore_errors=True)


def resume_step(job_dir: Path) -> int | None:
    """Step of the job's saved resume state, or None when it has none."""
    marker = job_dir / "resume" / "progress.json"
    if not marker.exists():
        return None
    return int(json.loads(marker.read_text())["step"])


def train(
    *,
    base: str,
    train_examples: Sequence[Mapping[str, Any]],
    valid_examples: Sequence[Mapping[str, Any]] | None,
    config: TrainingConfig,
    job_dir: Path,
    callbacks: TrainingCallbacks | None = None,
) -> TrainingResult:
    """Train a LoRA adapter on ``base`` (a local model folder or hub id); checkpoints under ``job_dir``."""
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    callbacks = callbacks or TrainingCallbacks()
    quiet_transformers()
    set_threads()
    device, autocast = select_device()
    torch.manual_seed(config.seed)

    tokenizer = AutoTokenizer.from_pretrained(base)
    train_set = encode_examples(tokenizer, train_examples, max_length=config.max_length)
    valid_set = (
        encode_examples(
            tokenizer,
            valid_examples[:MAX_VALID_EXAMPLES],
            max_length=config.max_length,
            name="validation_file",
        )
        if valid_examples
        else []
    )
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)
    total_steps = steps_per_epoch * config.n_epochs
    warmup = max(1, round(total_steps * config.warmup_ratio)) if config.warmup_ratio > 0 else 0

    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).to(device)
    model.config.use_cache = False
    resume_dir = job_dir / "resume"
    saved: dict[str, Any] | None = None
    if (resume_dir / "state.pt").exists():
        model = PeftModel.from_pretrained(model, resume_dir / "adapter", is_trainable=True)
        saved = torch.load(resume_dir / "state.pt", map_location=device, weights_only=False)
    else:
        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,
            lora_dropout=config.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)

    def lr_factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return MIN_LR_RATIO + (1 - MIN_LR_RATIO) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor)
    step = 0
    trained_tokens = 0
    if saved is not None:
        optimizer.load_state_dict(saved["optimizer"])
        scheduler.load_state_dict(saved["scheduler"])
        step, trained_tokens = int(saved["step"]), int(saved["trained_tokens"])
        callbacks.on_message(f"Resumed from step {step}/{total_steps}")

    def save_progress() -> None:
        _save_resume(
            resume_dir, model, optimizer, scheduler, {"step": step, "trained_tokens": trained_tokens}
        )
        (resume_dir / "progress.json").write_text(json.dumps({"step": step}))

    eval_every = max(1, total_steps // 10)
    valid_cursor = 0
    history: list[dict[str, Any]] = []
    while step < total_steps:
        signal = callbacks.control()
        if signal != "continue":
            if signal == "cancel":
                return TrainingResult("cancelled", step, total_steps, trained_tokens)
            save_progress()
            return TrainingResult(
                "paused" if signal == "pause" else "suspended", step, total_steps, trained_tokens
            )
        epoch, index = divmod(step, steps_per_epoch)
        order = _epoch_order(len(train_set), config.seed, epoch)
        batch = [train_set[i] for i in order[index * config.batch_size : (index + 1) * config.batch_size]]
        ids, labels, mask = _collate(batch, pad_id, device)
        started = time.perf_counter()
        with torch.autocast(device, dtype=autocast or torch.float32, enabled=autocast is not None):
            loss, correct, count = _loss_and_accuracy(model, ids, labels, mask)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        trained_tokens += sum(len(e.input_ids) for e in batch)
        metrics: dict[str, Any] = {
            "step": step,
            "train_loss": loss.item(),
            "train_mean_token_accuracy": correct / max(count, 1),
            "total_steps": total_steps,
            "learning_rate": scheduler.get_last_lr()[0],
            "step_seconds": time.perf_counter() - started,
        }
        if valid_set and (step % eval_every == 0 or step == total_steps):
            chunk = (
                valid_set[valid_cursor : valid_cursor + config.batch_size] or valid_set[: config.batch_size]
            )
            valid_cursor = (valid_cursor + config.batch_size) % len(valid_set)
            metrics["valid_loss"], metrics["valid_mean_token_accuracy"] = _evaluate(
                model, chunk, config, pad_id, device, autocast
            )
        history.append(metrics)
        callbacks.on_metrics(metrics)
        if step % steps_per_epoch == 0 or step == total_steps:
            checkpoint_metrics = {k: metrics[k] for k in ("step", "train_loss", "train_mean_token_accuracy")}
            checkpoint_metrics.update(
                {k: metrics[k] for k in ("valid_loss", "valid_mean_token_accuracy") if k in metrics}
            )
            if valid_set:
                full_loss, full_acc = _evaluate(model, valid_set, config, pad_id, device, autocast)
                checkpoint_metrics["full_valid_loss"] = full_loss
                checkpoint_metrics["full_valid_mean_token_accuracy"] = full_acc
            adapter_dir = job_dir / "checkpoints" / f"step-{step}"
            model.save_pretrained(adapter_dir)
            callbacks.on_checkpoint(step, adapter_dir, checkpoint_metrics)
            if step < total_steps:
                save_progress()
    final_dir = job_dir / "final"
    model.save_pretrained(final_dir)
    return TrainingResult("succeeded", step, total_steps, trained_tokens, final_dir, history)


def config_dict(config: TrainingConfig) -> dict[str, Any]:
    return asdict(config)
