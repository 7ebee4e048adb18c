"""The hyperparameters a user picks on the Cost page and launches with on the Train page.

They travel between the pages as a plain dict (``TrainSettings.to_dict()``), the one that
:func:`studio.providers.jobs.launch_job` takes as ``settings``. Names follow OpenAI's fine-tuning API
(``n_epochs`` is ``epochs`` here, as the Cost page labels it).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

Auto = Literal["auto"]
BATCH_SIZES: tuple[Auto | int, ...] = ("auto", 1, 2, 4, 8, 16, 32, 64, 128, 256)
LR_MULTIPLIERS: tuple[Auto | float, ...] = ("auto", 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
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

    @classmethod
    def from_dict(cls, saved: Mapping[str, Any] | None) -> TrainSettings:
        """Settings from a kept dict; a missing or unusable value (e.g. a batch size no menu offers) is the
        default, so an old session never breaks a page."""
        saved = saved or {}
        epochs = saved.get("epochs")
        return cls(
            model=saved.get("model"),
            epochs=int(epochs) if isinstance(epochs, int) and epochs >= 1 else "auto",
            batch_size=_choice(saved.get("batch_size"), BATCH_SIZES),
            learning_rate_multiplier=_choice(saved.get("learning_rate_multiplier"), LR_MULTIPLIERS),
            seed=saved.get("seed") if isinstance(saved.get("seed"), int) else None,
            suffix=str(saved.get("suffix") or ""),
            budget_usd=float(saved["budget_usd"]) if saved.get("budget_usd") else None,
        )

    def to_dict(self) -> dict[str, Any]:
        """The dict kept in the session and passed to :func:`~studio.providers.jobs.launch_job`."""
        return asdict(self)

    def over_budget(self, usd: float | None) -> bool:
        """Whether an estimate of ``usd`` dollars exceeds the budget (never, without a budget or an estimate)."""
        return bool(self.budget_usd and usd is not None and usd > self.budget_usd)


def _choice(value: Any, choices: tuple[Any, ...]) -> Any:
    return value if value in choices else "auto"


def base_model(kind: str, chosen: str | None, *, local_model: str) -> str:
    """The model a job on provider ``kind`` starts from: the one chosen on the Cost page, except that the local
    engine (or the Cost page's ``local_model`` pseudo-model, or nothing chosen) means :data:`LOCAL_BASE`."""
    return LOCAL_BASE if kind == "local" or chosen in (None, local_model) else chosen
