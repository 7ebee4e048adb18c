"""LoRA supervised fine-tuning of a causal chat model (transformers + peft), on CPU or CUDA, under Hugging Face
``accelerate``.

The loop: dynamic padding (or, with ``packing``, the training set packed into rows once per epoch,
:func:`~studio.engine.training_batches.epoch_units`), AdamW with linear warmup then cosine decay, one
checkpoint (adapter) per epoch, and a resumable state (adapter, optimizer, scheduler, step) so paused,
interrupted or engine-restarted jobs continue where they left off.

It runs through an ``accelerate.Accelerator``, so ``accelerate launch`` (several GPUs, DDP; gradient accumulation)
needs no code change. ``batch_size`` stays OpenAI's: the examples of one optimizer step, whatever the hardware
(packed rows when packing, as in TRL). Each step's examples (or rows) are split into
``processes × gradient_accumulation_steps`` micro-batches (:func:`~studio.engine.training_batches.micro_batches`)
and every micro-batch's loss is weighted by its share of the step's trained tokens, so the gradient is exactly that
of the whole batch's mean loss: the same steps, checkpoints and loss curve on one CPU or eight GPUs.
Only the main process reports (callbacks) and writes checkpoints.
The data it trains on comes from :mod:`studio.engine.encoding`, in the steps' batches of
:mod:`studio.engine.training_batches`, its config from :mod:`studio.engine.hyperparameters`.

torch/transformers/peft are imported inside functions: this module is importable without the ``engine`` extra.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from studio.core.files import atomic_folder
from studio.engine import packed_attention
from studio.engine.encoding import encode_examples
from studio.engine.hyperparameters import TrainingConfig
from studio.engine.training_batches import (
    Unit,
    epoch_units,
    micro_batches,
    pack_rows,
    shared_prefix,
    unit_examples,
    unit_tensors,
)

MIN_LR_RATIO = 0.1
"""The cosine decay ends at this fraction of the peak rate."""
MAX_VALID_EXAMPLES = 256
"""Full validation at each epoch end uses at most this many validation examples."""

# Architectures whose logits are exactly ``lm_head(last_hidden_state)``: for them the loss projects only the
# trained positions onto the vocabulary, which saves most of the output layer's cost.
_PLAIN_HEAD_MODEL_TYPES = {"llama", "mistral", "qwen2", "qwen3", "smollm3", "olmo", "olmo2"}

Control = Literal["continue", "cancel", "pause", "suspend"]


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


def _loss_and_accuracy(model: Any, ids: Any, labels: Any, mask: Any, position_ids: Any = None) -> tuple[Any, int, int]:
    """(mean loss over trained tokens, correct predictions, trained tokens) for one padded batch, or for a packed
    one (``mask`` None and ``position_ids`` from :func:`~studio.engine.training_batches.row_tensors`). ``model``
    may be wrapped by accelerate (DDP): the forward goes through the wrapper, which is what synchronises gradients
    across processes."""
    import torch
    import torch.nn.functional as F
    from accelerate.utils import extract_model_from_parallel

    targets = labels[:, 1:]
    keep = targets != -100
    inner = extract_model_from_parallel(model)
    base = inner.get_base_model() if hasattr(inner, "get_base_model") else inner
    # No cache: with one, transformers would not turn reset position ids into a block-diagonal mask.
    inputs = {"input_ids": ids, "attention_mask": mask, "position_ids": position_ids, "use_cache": False}
    if getattr(base.config, "model_type", None) in _PLAIN_HEAD_MODEL_TYPES:
        # The model's own forward (through any wrapper) computes one position's logits; the decoder's output,
        # caught on the way, is projected at the trained positions only.
        caught: dict[str, Any] = {}
        hook = base.get_decoder().register_forward_hook(lambda _m, _a, out: caught.update(hidden=out.last_hidden_state))
        try:
            model(**inputs, logits_to_keep=1)
        finally:
            hook.remove()
        logits = base.get_output_embeddings()(caught["hidden"][:, :-1][keep])
    else:
        logits = model(**inputs).logits[:, :-1][keep]
    gold = targets[keep]
    loss = F.cross_entropy(logits.float(), gold)
    with torch.no_grad():
        correct = int((logits.argmax(-1) == gold).sum())
    return loss, correct, int(gold.numel())


def _attention(base: str, config: TrainingConfig) -> dict[str, str]:
    """``from_pretrained``'s attention choice: packed rows of the plain architectures (no sliding window) attend
    example by example (:mod:`studio.engine.packed_attention`); everything else keeps transformers' default."""
    from transformers import AutoConfig

    if not config.packing:
        return {}
    model_config = AutoConfig.from_pretrained(base)
    if model_config.model_type not in _PLAIN_HEAD_MODEL_TYPES or getattr(model_config, "sliding_window", None):
        return {}
    return {"attn_implementation": packed_attention.register()}


def packed_examples_per_step(base: str, examples: Sequence[Mapping[str, Any]], config: TrainingConfig) -> float:
    """With ``config.packing``: the examples an optimizer step of :func:`train` takes on average (the examples
    over an epoch's steps), packed as :func:`train` packs them (its tokenizer, encoding and shared start), for
    :func:`~studio.engine.hyperparameters.resolve_config`'s "auto" rate. Tokenizes ``examples`` (chat examples)
    once more. Raises :class:`~studio.engine.errors.TrainingDataError` as :func:`train` would."""
    from transformers import AutoTokenizer

    train_set = encode_examples(AutoTokenizer.from_pretrained(base), examples, max_length=config.max_length)
    shared = shared_prefix(train_set) if _attention(base, config) else 0
    steps = math.ceil(len(epoch_units(train_set, config, 0, shared=shared)) / config.batch_size)
    return len(train_set) / max(steps, 1)


def _evaluate(
    model: Any,
    units: Sequence[Unit],
    config: TrainingConfig,
    pad_id: int,
    accelerator: Any,
    share_prefix: bool,
) -> tuple[float, float]:
    """(mean loss, token accuracy) over the trained tokens of ``units`` (examples, or packed rows: the same
    figures), ``config.batch_size`` units per forward."""
    import torch

    total_loss = 0.0
    correct = tokens = 0
    model.eval()
    with torch.no_grad():
        for start in range(0, len(units), config.batch_size):
            chunk = units[start : start + config.batch_size]
            with accelerator.autocast():
                tensors = unit_tensors(chunk, pad_id, accelerator.device, share_prefix=share_prefix)
                loss, ok, n = _loss_and_accuracy(model, *tensors)
            total_loss += loss.item() * n
            correct += ok
            tokens += n
    model.train()
    return total_loss / max(tokens, 1), correct / max(tokens, 1)


def _save_adapter(accelerator: Any, model: Any, folder: Path) -> None:
    """The LoRA adapter of the (prepared) model into ``folder``; every process takes part (a sharded model is
    gathered), the main one writes."""
    state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        accelerator.unwrap_model(model).save_pretrained(folder, state_dict=state)


def _save_resume(
    resume_dir: Path, accelerator: Any, model: Any, optimizer: Any, scheduler: Any, state: dict[str, Any]
) -> None:
    """Atomically replace the resume state (adapter + optimizer + scheduler + counters); main process only
    writes."""
    import torch

    tmp = resume_dir.with_name(resume_dir.name + ".tmp")
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
    _save_adapter(accelerator, model, tmp / "adapter")
    if not accelerator.is_main_process:
        return
    torch.save({"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), **state}, tmp / "state.pt")
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


def make_accelerator(autocast: Any) -> Any:
    """The run's ``accelerate.Accelerator``: what ``accelerate launch`` configured (processes, mixed precision,
    gradient accumulation via ``ACCELERATE_GRADIENT_ACCUMULATION_STEPS``), else one process with our precision
    (:func:`select_device`). ``split_batches``: the scheduler steps once per optimizer step, as on one process."""
    from accelerate import Accelerator
    from accelerate.utils import DataLoaderConfiguration

    launched = os.environ.get("ACCELERATE_MIXED_PRECISION")
    precision = launched or ("bf16" if autocast is not None and "bfloat16" in str(autocast) else "no")
    return Accelerator(mixed_precision=precision, dataloader_config=DataLoaderConfiguration(split_batches=True))


def train(
    *,
    base: str,
    train_examples: Sequence[Mapping[str, Any]],
    valid_examples: Sequence[Mapping[str, Any]] | None,
    config: TrainingConfig,
    job_dir: Path,
    callbacks: TrainingCallbacks | None = None,
) -> TrainingResult:
    """Train a LoRA adapter on ``base`` (a local model folder or hub id); checkpoints under ``job_dir``.

    Every process of an ``accelerate launch`` runs this with the same arguments; only the main one calls
    ``callbacks`` (its ``control`` answer is shared with the others) and writes files.
    """
    import torch
    from accelerate.utils import broadcast_object_list
    from peft import LoraConfig, PeftModel, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    callbacks = callbacks or TrainingCallbacks()
    quiet_transformers()
    set_threads()
    _, autocast = select_device()
    accelerator = make_accelerator(autocast)
    device = accelerator.device
    main = accelerator.is_main_process
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
    # Packing: ``batch_size`` counts packed rows (as TRL's), and the validation set is packed the same way. Rows
    # hold the examples' common start once when they attend example by example (our attention reads such rows).
    attention = _attention(base, config)
    share_prefix = bool(attention)
    shared = shared_prefix(train_set) if share_prefix else 0
    steps_per_epoch = math.ceil(len(epoch_units(train_set, config, 0, shared=shared)) / config.batch_size)
    valid_shared = shared_prefix(valid_set) if share_prefix else 0
    valid_units: list[Unit] = list(
        pack_rows(valid_set, config.max_length, shared=valid_shared) if config.packing else valid_set
    )
    total_steps = steps_per_epoch * config.n_epochs
    warmup = max(1, round(total_steps * config.warmup_ratio)) if config.warmup_ratio > 0 else 0

    model: Any = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32, **attention)
    model.config.use_cache = False
    resume_dir = job_dir / "resume"
    saved: dict[str, Any] | None = None
    if (resume_dir / "state.pt").exists():
        model = PeftModel.from_pretrained(model, str(resume_dir / "adapter"), is_trainable=True)
        saved = torch.load(resume_dir / "state.pt", map_location="cpu", weights_only=False)
    else:
        lora = LoraConfig(
            r=config.lora_rank,
            lora_alpha=config.lora_alpha,  # type: ignore[arg-type]  # peft annotates int; floats work and are ours
            lora_dropout=config.lora_dropout,
            target_modules="all-linear",
            task_type="CAUSAL_LM",
        )
        model = get_peft_model(model, lora)
    model.train()
    optimizer = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=config.learning_rate, weight_decay=0.0
    )

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
        if main:
            callbacks.on_message(f"Resumed from step {step}/{total_steps}")
    model, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)
    accumulation = accelerator.gradient_accumulation_steps
    processes = accelerator.num_processes

    def save_progress() -> None:
        state = {"step": step, "trained_tokens": trained_tokens}
        _save_resume(resume_dir, accelerator, model, optimizer, scheduler, state)
        if main:
            (resume_dir / "progress.json").write_text(json.dumps({"step": step}))
        accelerator.wait_for_everyone()

    def save_adapter(folder: Path) -> None:
        with atomic_folder(folder) if main else _nothing() as partial:  # all or nothing: a crash leaves no half
            _save_adapter(accelerator, model, partial)
        accelerator.wait_for_everyone()

    eval_every = max(1, total_steps // 10)
    valid_cursor = 0
    history: list[dict[str, Any]] = []
    units: list[Unit] = []
    units_epoch = -1
    while step < total_steps:
        signal = callbacks.control() if main else "continue"
        if processes > 1:
            signal = broadcast_object_list([signal])[0]
        if signal != "continue":
            if signal == "cancel":
                return TrainingResult("cancelled", step, total_steps, trained_tokens)
            save_progress()
            return TrainingResult("paused" if signal == "pause" else "suspended", step, total_steps, trained_tokens)
        epoch, index = divmod(step, steps_per_epoch)
        if epoch != units_epoch:
            units, units_epoch = epoch_units(train_set, config, epoch, shared=shared), epoch
        batch = units[index * config.batch_size : (index + 1) * config.batch_size]
        examples = unit_examples(batch)
        step_tokens = sum(e.trained_tokens for e in examples)
        chunks = micro_batches(batch, processes * accumulation)
        started = time.perf_counter()
        loss_sum = torch.zeros((), device=device)
        counts = torch.zeros(2, dtype=torch.long, device=device)  # correct predictions, trained tokens
        for k in range(accumulation):
            chunk = chunks[accelerator.process_index * accumulation + k]
            share = 1.0
            if not chunk:  # fewer examples than micro-batches: a no-op pass keeps the processes in step
                chunk, share = batch[:1], 0.0
            with accelerator.accumulate(model):
                with accelerator.autocast():
                    tensors = unit_tensors(chunk, pad_id, device, share_prefix=share_prefix)
                    loss, correct, count = _loss_and_accuracy(model, *tensors)
                # This micro-batch's share of the step's mean loss; accelerate divides by the accumulation
                # steps and DDP averages over processes, which the factor undoes.
                accelerator.backward(loss * (share * count * accumulation * processes / max(step_tokens, 1)))
                loss_sum += loss.detach().float() * (share * count)
                counts += torch.tensor([correct, count], device=device) * int(share)
                if accelerator.sync_gradients:
                    accelerator.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
        if processes > 1:
            loss_sum, counts = accelerator.reduce(loss_sum, "sum"), accelerator.reduce(counts, "sum")
        step += 1
        trained_tokens += sum(len(e.input_ids) for e in examples)
        metrics: dict[str, Any] = {
            "step": step,
            "train_loss": loss_sum.item() / max(int(counts[1]), 1),
            "train_mean_token_accuracy": int(counts[0]) / max(int(counts[1]), 1),
            "total_steps": total_steps,
            "learning_rate": scheduler.get_last_lr()[0],
            "step_seconds": time.perf_counter() - started,
        }
        if valid_units and (step % eval_every == 0 or step == total_steps):
            chunk = valid_units[valid_cursor : valid_cursor + config.batch_size] or valid_units[: config.batch_size]
            valid_cursor = (valid_cursor + config.batch_size) % len(valid_units)
            metrics["valid_loss"], metrics["valid_mean_token_accuracy"] = _evaluate(
                model, chunk, config, pad_id, accelerator, share_prefix
            )
        history.append(metrics)
        if main:
            callbacks.on_metrics(metrics)
        if step % steps_per_epoch == 0 or step == total_steps:
            checkpoint_metrics = {k: metrics[k] for k in ("step", "train_loss", "train_mean_token_accuracy")}
            checkpoint_metrics.update(
                {k: metrics[k] for k in ("valid_loss", "valid_mean_token_accuracy") if k in metrics}
            )
            if valid_set:
                full_loss, full_acc = _evaluate(model, valid_units, config, pad_id, accelerator, share_prefix)
                checkpoint_metrics["full_valid_loss"] = full_loss
                checkpoint_metrics["full_valid_mean_token_accuracy"] = full_acc
            adapter_dir = job_dir / "checkpoints" / f"step-{step}"
            save_adapter(adapter_dir)
            if main:
                callbacks.on_checkpoint(step, adapter_dir, checkpoint_metrics)
            if step < total_steps:
                save_progress()
    final_dir = job_dir / "final"
    save_adapter(final_dir)
    return TrainingResult("succeeded", step, total_steps, trained_tokens, final_dir, history)


@contextlib.contextmanager
def _nothing() -> Iterator[Path]:
    """Stands in for :func:`atomic_folder` on the processes that do not write."""
    yield Path(os.devnull)
