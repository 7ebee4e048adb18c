"""Fine-tuning hyperparameters: what a job may ask for, and the concrete config of one run.

OpenAI's three (``n_epochs``, ``batch_size``, ``learning_rate_multiplier``, each a number or ``"auto"``) plus the
engine's LoRA settings. Learning rate: ``BASE_LEARNING_RATE × learning_rate_multiplier``; the "auto" multiplier is
:data:`AUTO_LEARNING_RATE_MULTIPLIER`, calibrated so that small style sets do no harm (see :func:`resolve_config`).
Epochs, "auto": OpenAI's heuristic (:func:`studio.core.training.auto_epochs`): 3, raised so that small files see
~100 examples (at most 25 epochs), lowered so that large ones see at most ~25,000 (at least 1). Batch size,
"auto": 4 (or the number of examples if smaller).

``packing`` (default false) packs the training set, once per epoch, into rows of up to ``max_length`` tokens (best
fit decreasing, as TRL's ``SFTConfig(packing=True)``), with no attention across examples and no example cut
(see :func:`studio.engine.training_batches.epoch_units`); each example's tokens weigh in the loss as unpacked. Then
``batch_size`` counts packed rows, as in TRL, and "auto" is :data:`AUTO_PACKED_BATCH_SIZE` row: a step sees many
more tokens, so an epoch takes fewer steps and the per-step cost is paid less often. The "auto" multiplier then
grows with the examples a step takes (:func:`packed_multiplier`): the same examples in a quarter of the steps
otherwise teach next to nothing.

A long "auto" run's rate is lowered (:func:`long_run_factor`): past :data:`FULL_RATE_EXAMPLE_PASSES` example
passes (epochs × examples) the forgetting of general English grows with every further step, as 500 chats over 3
epochs at the full rate showed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from studio.core.training import auto_epochs
from studio.engine.errors import HyperparameterError

BASE_LEARNING_RATE = 1e-3
"""Peak learning rate of LoRA adapters for ``learning_rate_multiplier`` = 1."""
AUTO_LEARNING_RATE_MULTIPLIER = 0.2
"""The multiplier "auto" means: a peak rate of 2e-4 (see :func:`resolve_config` for the measurements)."""
AUTO_BATCH_SIZE = 4
AUTO_PACKED_BATCH_SIZE = 1
"""Rows per step when packing: one row of ``max_length`` (1,024) tokens holds ~15 style-demo chats (their common
24-token start once), 4 times the examples of an "auto" padded step (see :func:`resolve_config`)."""
PACKED_MULTIPLIER_MAX = 4.0
"""With packing, "auto" multiplies :data:`AUTO_LEARNING_RATE_MULTIPLIER` by the examples a step takes over the
:data:`AUTO_BATCH_SIZE` of a padded step, at least 1 and at most this (a peak rate of 8e-4; see
:func:`packed_multiplier`)."""
FULL_RATE_EXAMPLE_PASSES = 400
"""Example passes (epochs × training examples) an "auto" run takes at the full calibrated rate; past them the rate
falls as the square root (:func:`long_run_factor`). Every measured small set is within: 10 chats × 10 epochs = 100,
16 × 6 = 96, 60 × 2 = 120."""
LONG_RUN_FACTOR_MIN = 0.25
"""The lowest :func:`long_run_factor`: an "auto" padded rate never falls below 5e-5 (reached at 6,400 passes)."""
DEFAULT_LORA_RANK = 16
DEFAULT_LORA_ALPHA = 32
DEFAULT_LORA_DROPOUT = 0.0
DEFAULT_MAX_LENGTH = 1024
DEFAULT_WARMUP_RATIO = 0.1
DEFAULT_PACKING = False

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
_BOOLEAN = {"packing"}
"""Engine extensions that are true or false (``packing``: the training set is packed into shared rows)."""
_AUTO_ALLOWED = {"n_epochs", "batch_size", "learning_rate_multiplier"}
_EXCLUSIVE_LOW = {"learning_rate_multiplier", "lora_alpha"}


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
    packing: bool = DEFAULT_PACKING

    @property
    def learning_rate(self) -> float:
        return BASE_LEARNING_RATE * self.learning_rate_multiplier


def validate_hyperparameters(values: Mapping[str, Any] | None, *, param: str = "hyperparameters") -> dict[str, Any]:
    """Checked copy of requested hyperparameters (numbers, or "auto" where OpenAI allows it).

    Raises :class:`HyperparameterError` whose ``param`` is ``"{param}.{key}"`` for an unknown key, a wrong type or
    a value out of range; ``None`` values are dropped (the default applies).
    """
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise HyperparameterError(f"{param} must be an object, got {values!r}", param=param)
    out: dict[str, Any] = {}
    for key, value in values.items():
        where = f"{param}.{key}"
        if key not in _HYPERPARAMETER_RANGES and key not in _BOOLEAN:
            known = ", ".join([*_HYPERPARAMETER_RANGES, *_BOOLEAN])
            raise HyperparameterError(f"Unknown hyperparameter {key!r} (known: {known})", param=where)
        if value is None:
            continue
        if key in _BOOLEAN:
            if not isinstance(value, bool):
                raise HyperparameterError(f"{where} must be true or false, got {value!r}", param=where)
            out[key] = value
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
            raise HyperparameterError(f"{where} must be {expected}{auto}, got {value!r}", param=where)
        too_low = value <= low if key in _EXCLUSIVE_LOW else value < low
        if too_low or value > high or (isinstance(value, float) and math.isnan(value)):
            bound = f"> {low:g}" if key in _EXCLUSIVE_LOW else f">= {low:g}"
            raise HyperparameterError(f"{where} must be {bound} and <= {high:g}, got {value!r}", param=where)
        out[key] = value
    return out


def packed_multiplier(examples_per_step: float) -> float:
    """The "auto" learning-rate multiplier of a packed run whose steps take ``examples_per_step`` examples on
    average: :data:`AUTO_LEARNING_RATE_MULTIPLIER` scaled linearly with the examples a step takes against a padded
    "auto" step's :data:`AUTO_BATCH_SIZE` (the linear scaling rule, Goyal et al. 2017), within 1 and
    :data:`PACKED_MULTIPLIER_MAX` times.

    Why: packed rows hold ~15 style-demo chats, so an epoch takes a quarter of the steps, and at the padded rate
    the 16-chat style check (6 epochs, one row each: 6 steps) answered 0 of 12 unseen prompts in the style.
    Measured with ``bench/calibration.py``'s scoring (README, "Calibrating the auto settings"): 10 chats in one
    row, 0.5: 11 of 12 styled, held-out perplexity 0.96× the base's; 16 chats, 0.8: 12 of 12, 0.96×; 60 chats
    (15 a row), 0.75: 12 of 12, 0.96×. Packed runs of 500 chats are not measured (CPU), so the cap stays at the measured
    0.8; a long run's rate is lowered further by :func:`long_run_factor`.
    """
    scale = min(max(examples_per_step / AUTO_BATCH_SIZE, 1.0), PACKED_MULTIPLIER_MAX)
    return AUTO_LEARNING_RATE_MULTIPLIER * scale


def long_run_factor(example_passes: float) -> float:
    """What an "auto" learning-rate multiplier is scaled by for a run of ``example_passes`` (epochs × training
    examples): 1 up to :data:`FULL_RATE_EXAMPLE_PASSES`, then ``sqrt(FULL_RATE_EXAMPLE_PASSES / example_passes)``,
    never below :data:`LONG_RUN_FACTOR_MIN`. Packed or padded alike: it counts examples, not steps.

    Why: the held-out perplexity of a LoRA fine-tune climbs with the updates it takes, not with the set's size
    (LoRA forgets in proportion to how far it trains; Biderman et al. 2024, "LoRA Learns Less and Forgets Less").
    Measured with ``bench/calibration.py`` (README, "Calibrating the auto settings"): 500 generated style chats,
    3 epochs (1,500 passes, 375 steps) at the full 2e-4 reached 1.11×, 1.50× and 1.57× the base's perplexity after
    epochs 1, 2 and 3, past the 1.5× goal, with the style learned after the first; the square root keeps a long
    run's summed rate near what the first of those epochs took (1,500 passes: 0.52, a peak of 1.03e-4).
    """
    if example_passes <= FULL_RATE_EXAMPLE_PASSES:
        return 1.0
    return max(math.sqrt(FULL_RATE_EXAMPLE_PASSES / example_passes), LONG_RUN_FACTOR_MIN)


def resolve_config(
    hyperparameters: Mapping[str, Any], *, n_examples: int, seed: int, examples_per_step: float | None = None
) -> TrainingConfig:
    """Concrete config: "auto" and missing values replaced by the engine's defaults for this file.

    ``examples_per_step``: with ``packing``, the examples a step takes on average (the trainer's
    :func:`~studio.engine.trainer.packed_examples_per_step`); an "auto" multiplier is then
    :func:`packed_multiplier` of it. Without it (or without packing) "auto" is the padded rate.

    Explicit values are kept as given. "auto" (or missing): epochs by OpenAI's heuristic (the Cost page's figure),
    batch size 4 (fewer for tinier files; with ``packing``, 1 packed row), learning-rate multiplier
    :data:`AUTO_LEARNING_RATE_MULTIPLIER` (0.2, a peak rate of 2e-4), times :func:`long_run_factor` of the run's
    example passes (1 for the small sets below).

    Why 0.2 (it was 1, a peak of 1e-3): measured by ``bench/calibration.py`` (bench group ``calibration``; the
    table is README's "Calibrating the auto settings") with SmolLM2-135M-Instruct and the engine's trainer on the
    first 10, 16 and 60 chats of the pirate style demo. Full "auto" on 16 chats (6 epochs) at 1e-3 memorised the
    set and raised the perplexity of a held-out general English text (``sample_data/heldout_english.txt``) to
    1.23× the base's, climbing every epoch; at 2e-4 it stays at 0.95-0.96× on 10, 16 and 60 chats while 11, 9 and
    12 of 12 unseen prompts are still answered in the style. An explicit multiplier (1 = the old rate) is used as
    given; the long-run factor applies to "auto" only.
    """
    values = {k: v for k, v in hyperparameters.items() if v != "auto"}
    n_epochs = int(values.pop("n_epochs", auto_epochs(n_examples)))
    auto_batch = AUTO_PACKED_BATCH_SIZE if values.get("packing") else max(1, min(AUTO_BATCH_SIZE, n_examples))
    batch_size = int(values.pop("batch_size", auto_batch))
    auto_multiplier = AUTO_LEARNING_RATE_MULTIPLIER
    if values.get("packing") and examples_per_step:
        auto_multiplier = packed_multiplier(examples_per_step)
    auto_multiplier *= long_run_factor(n_epochs * n_examples)
    multiplier = float(values.pop("learning_rate_multiplier", auto_multiplier))
    return TrainingConfig(
        n_epochs=n_epochs, batch_size=batch_size, learning_rate_multiplier=multiplier, seed=seed, **values
    )
