"""The hyperparameters a user picks on the Cost page and launches with on the Train page, and named presets.

They travel between the pages as a plain dict (``TrainSettings.to_dict()``), the one that
:func:`studio.providers.jobs.launch_job` takes as ``settings``. Names follow OpenAI's fine-tuning API
(``n_epochs`` is ``epochs`` here, as the Cost page labels it); the studio engine's own options
(:data:`ENGINE_OPTIONS`: LoRA rank/alpha/dropout, max length, warm-up, packing) keep the engine's names and are
sent only to engines (local or compatible), never to OpenAI or Azure, which refuse unknown hyperparameters.
Presets are kept in the workspace (table ``train_presets``), by name.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from studio.errors import StudioError

if TYPE_CHECKING:
    from studio.storage.workspace import Workspace

Auto = Literal["auto"]
BATCH_SIZES: tuple[Auto | int, ...] = ("auto", 1, 2, 4, 8, 16, 32, 64, 128, 256)
LR_MULTIPLIERS: tuple[Auto | float, ...] = ("auto", 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
ENGINE_OPTIONS: dict[str, tuple[type, float, float]] = {
    "lora_rank": (int, 1, 256),
    "lora_alpha": (float, 0.001, 4096.0),
    "lora_dropout": (float, 0.0, 0.9),
    "max_length": (int, 16, 131072),
    "warmup_ratio": (float, 0.0, 0.5),
}
"""The studio engine's numeric options (kind, low, high), as its hyperparameter check allows them; ``None``
means the engine's default (rank 16, alpha 32, dropout 0, 1,024 tokens, 10 % warm-up). Plus ``packing``."""
ENGINE_KINDS = ("local", "compatible")
"""Providers that get the engine's options (a compatible server may be another studio engine)."""
LOCAL_BASE = "smollm2-135m-instruct"
"""The base model a local-engine job starts from unless the user types another."""


@dataclass(frozen=True)
class TrainSettings:
    """One job's settings. ``epochs``, ``batch_size`` and ``learning_rate_multiplier`` are ``"auto"`` or a number;
    ``budget_usd`` None means no budget; ``suffix`` is the fine-tuned model name's suffix ("" for none)."""

    model: str | None = None
    epochs: Auto | int = "auto"
    batch_size: Auto | int = "auto"
    learning_rate_multiplier: Auto | float = "auto"
    seed: int | None = None
    suffix: str = ""
    budget_usd: float | None = None
    lora_rank: int | None = None
    lora_alpha: float | None = None
    lora_dropout: float | None = None
    max_length: int | None = None
    warmup_ratio: float | None = None
    packing: bool = False

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any] | None) -> TrainSettings:
        """Settings from a kept dict; a missing or unusable value (out of the job's range, or of the wrong type)
        is the default, so an old session never breaks a page. A value in range that no menu offers (batch size
        3, from ``studio train --batch-size 3 --save-preset``) is kept: :func:`menu` adds it to the menu."""
        saved = saved or {}
        epochs = saved.get("epochs")
        return cls(
            model=saved.get("model"),
            epochs=int(epochs) if isinstance(epochs, int) and epochs >= 1 else "auto",
            batch_size=_kept(saved.get("batch_size"), int, 1, 256),
            learning_rate_multiplier=_kept(saved.get("learning_rate_multiplier"), float, 0.0, 10.0),
            seed=saved.get("seed") if isinstance(saved.get("seed"), int) else None,
            suffix=str(saved.get("suffix") or ""),
            budget_usd=float(saved["budget_usd"]) if saved.get("budget_usd") else None,
            packing=saved.get("packing") is True,
            **{key: _option(key, saved.get(key)) for key in ENGINE_OPTIONS},
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict kept in the session and passed to :func:`~studio.providers.jobs.launch_job`."""
        return asdict(self)

    def engine_options(self) -> dict[str, Any]:
        """The engine options that are set (not the engine's default), by the engine's names."""
        out: dict[str, Any] = {k: getattr(self, k) for k in ENGINE_OPTIONS if getattr(self, k) is not None}
        if self.packing:
            out["packing"] = True
        return out

    def over_budget(self, usd: float | None) -> bool:
        """Whether an estimate of ``usd`` dollars exceeds the budget (never, without a budget or an estimate)."""
        return bool(self.budget_usd and usd is not None and usd > self.budget_usd)


def _kept(value: Any, kind: type, low: float, high: float) -> Any:
    """``value`` when it is "auto" or a ``kind`` number in (``low``, ``high``] (ints: [``low``, ``high``]), else
    "auto"; the ranges are the engine's (:mod:`studio.engine.hyperparameters`), OpenAI's of the same kind."""
    if value == "auto" or isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
        return "auto"
    if kind is int:
        return int(value) if float(value).is_integer() and low <= value <= high else "auto"
    return float(value) if low < value <= high else "auto"


def menu(choices: tuple[Any, ...], value: Any) -> tuple[Any, ...]:
    """``choices`` (a menu: "auto", then numbers) with ``value`` in its place among them when it is not one."""
    if value in choices:
        return choices
    return ("auto", *sorted([c for c in choices if c != "auto"] + [value]))


def _option(key: str, value: Any) -> Any:
    """An engine option in range, or None (the engine's default) for anything else."""
    kind, low, high = ENGINE_OPTIONS[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        return None
    if kind is int:
        return int(value) if float(value).is_integer() else None
    return float(value)


# -- presets --------------------------------------------------------------------------------------------------

PRESET_FIELDS = ("epochs", "batch_size", "learning_rate_multiplier", "seed", *ENGINE_OPTIONS, "packing")
"""What a preset keeps: the hyperparameters, not the model, suffix or budget of one launch."""


def save_preset(workspace: Workspace, name: str, settings: TrainSettings) -> dict[str, Any] | None:
    """Keep ``settings``' hyperparameters (:data:`PRESET_FIELDS`) as preset ``name``, replacing one of that name;
    returns what the replaced preset held (None when it is new), so a caller can say what it overwrote.
    Raises :class:`StudioError` for a blank name or one over 64 characters."""
    name = name.strip()
    if not name or len(name) > 64:
        raise StudioError(f"a preset name must have 1 to 64 characters, got {len(name)}")
    kept = {key: value for key, value in settings.to_dict().items() if key in PRESET_FIELDS}
    with workspace.transaction() as db:
        row = db.execute("SELECT settings FROM train_presets WHERE name = ?", (name,)).fetchone()
        db.execute(
            "INSERT INTO train_presets(name, settings, updated_at) VALUES (?, ?, ?) ON CONFLICT(name) DO UPDATE"
            " SET settings = excluded.settings, updated_at = excluded.updated_at",
            (name, json.dumps(kept), time.time()),
        )
    return None if row is None else json.loads(row[0])


def preset_names(workspace: Workspace) -> list[str]:
    """The workspace's preset names, alphabetically."""
    with workspace.connect() as db:
        return [row[0] for row in db.execute("SELECT name FROM train_presets ORDER BY name COLLATE NOCASE")]


def apply_preset(workspace: Workspace, name: str, settings: TrainSettings) -> TrainSettings:
    """``settings`` with preset ``name``'s hyperparameters (model, suffix and budget kept); a value the preset
    holds but this studio no longer accepts falls back to its default (:meth:`TrainSettings.from_dict`).
    Raises :class:`StudioError` when there is no such preset."""
    with workspace.connect() as db:
        row = db.execute("SELECT settings FROM train_presets WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise StudioError(f"no training preset named {name!r}")
    loaded = TrainSettings.from_dict(json.loads(row[0]))
    return replace(settings, **{key: getattr(loaded, key) for key in PRESET_FIELDS})


def delete_preset(workspace: Workspace, name: str) -> bool:
    """Forget preset ``name``; False when there was none."""
    with workspace.transaction() as db:
        return db.execute("DELETE FROM train_presets WHERE name = ?", (name,)).rowcount > 0


def base_model(kind: str, chosen: str | None, *, local_model: str) -> str:
    """The model a job on provider ``kind`` starts from: the one chosen on the Cost page, except that the local
    engine (or the Cost page's ``local_model`` pseudo-model, or nothing chosen) means :data:`LOCAL_BASE`."""
    return LOCAL_BASE if kind == "local" or chosen in (None, local_model) else chosen
