"""The dated price table: training and inference prices (USD per 1M tokens) and per-example token limits.

The default table ships as ``studio/cost/prices.toml``; a TOML file of the same layout, given as ``path`` or through
``$STUDIO_PRICES``, overrides it field by field. Model names match exactly or as a dated snapshot
("gpt-4o-2024-08-06" → "gpt-4o", "ft:gpt-4o-mini-2024-07-18:org::id" → "gpt-4o-mini"); the longest key wins.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from studio.cost.tokens import is_local_model
from studio.errors import LoadError, PricingError

PRICES_ENV = "STUDIO_PRICES"
LOCAL_MODEL = "local"
_PRICE_FIELDS = ("training", "input", "cached_input", "output", "base_input", "base_cached_input", "base_output")
_TOP_KEYS = {"as_of", "source", "currency", "openai_new_jobs_until", "models", "limits", "local"}


@dataclass(frozen=True)
class ModelPrices:
    """USD per 1M tokens for one model; None where the price is not offered."""

    model: str
    training: float | None = None
    input: float | None = None
    cached_input: float | None = None
    output: float | None = None
    base_input: float | None = None
    base_cached_input: float | None = None
    base_output: float | None = None
    local: bool = False


@dataclass(frozen=True)
class PriceTable:
    """Prices and limits as of a date, with their source."""

    as_of: str
    source: str
    currency: str
    models: Mapping[str, ModelPrices]
    limits: Mapping[str, int]
    local_tokens_per_second: float
    openai_new_jobs_until: str
    limit_sources: Mapping[str, str] = field(default_factory=dict)  # limit key → where its figure was published

    @property
    def model_names(self) -> tuple[str, ...]:
        """OpenAI models with a training price, in table order."""
        return tuple(name for name, prices in self.models.items() if prices.training is not None)

    def prices_for(self, model: str) -> ModelPrices:
        """Prices of ``model`` (a snapshot or ``ft:`` name resolves to its base); the local engine is free."""
        if is_local_model(model):
            return ModelPrices(model=model, training=0.0, input=0.0, cached_input=0.0, output=0.0, local=True)
        key = _match(model, self.models)
        if key is None:
            known = ", ".join(self.models)
            raise PricingError(f"no price for model {model!r} in the table of {self.as_of}; known: {known}")
        return self.models[key]

    def limit_for(self, model: str) -> int | None:
        """Most tokens trained on per example for ``model``; None when OpenAI has not published one."""
        if is_local_model(model):
            return None
        key = _match(model, self.limits)
        return None if key is None else self.limits[key]

    def limit_source(self, model: str) -> str | None:
        """Where :meth:`limit_for`'s figure for ``model`` was published (document, URL, date); None without one."""
        key = None if is_local_model(model) else _match(model, self.limits)
        return None if key is None else self.limit_sources.get(key)


def _base(model: str) -> str:
    model = model.strip()
    return model[3:].split(":", 1)[0] if model.startswith("ft:") else model


def _match(model: str, table: Mapping[str, Any]) -> str | None:
    base = _base(model)
    keys = [key for key in table if base == key or base.startswith(key + "-")]
    return max(keys, key=len) if keys else None


def _number(value: Any, *, path: str, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise LoadError(f"expected a non-negative number, got {value!r}", path=path, field=field)
    return float(value)


def _read(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise LoadError("price file not found", path=path) from None
    except tomllib.TOMLDecodeError as exc:
        raise LoadError(f"not valid TOML: {exc}", path=path) from None


def _merge(table: dict[str, Any], override: Mapping[str, Any], *, path: str) -> None:
    unknown = set(override) - _TOP_KEYS
    if unknown:
        raise LoadError(f"unknown key; expected one of {', '.join(sorted(_TOP_KEYS))}", path=path, field=min(unknown))
    for key in ("as_of", "source", "currency", "openai_new_jobs_until"):
        if key in override:
            table[key] = str(override[key])
    for model, entry in override.get("models", {}).items():
        if not isinstance(entry, Mapping):
            raise LoadError("expected a table of prices", path=path, field=f"models.{model}")
        bad = set(entry) - set(_PRICE_FIELDS)
        if bad:
            raise LoadError(
                f"unknown price; expected {', '.join(_PRICE_FIELDS)}", path=path, field=f"models.{model}.{min(bad)}"
            )
        current = table["models"].setdefault(model, {})
        for name, value in entry.items():
            current[name] = _number(value, path=path, field=f"models.{model}.{name}")
    for model, value in override.get("limits", {}).items():
        source = None
        if isinstance(value, Mapping):
            bad = set(value) - {"tokens", "source"}
            if bad or "tokens" not in value:
                raise LoadError(
                    "expected tokens (and an optional source)",
                    path=path,
                    field=f"limits.{model}" + (f".{min(bad)}" if bad else ""),
                )
            value, source = value["tokens"], value.get("source")
        number = _number(value, path=path, field=f"limits.{model}")
        if number != int(number) or number < 1:
            raise LoadError(
                f"expected a positive whole number of tokens, got {value!r}", path=path, field=f"limits.{model}"
            )
        table["limits"][model] = int(number)
        # A new figure without a source must not keep the old figure's source.
        table["limit_sources"][model] = str(source) if source is not None else f"{path} (override)"
    if "tokens_per_second" in override.get("local", {}):
        speed = _number(override["local"]["tokens_per_second"], path=path, field="local.tokens_per_second")
        if speed <= 0:
            raise LoadError("expected a positive speed", path=path, field="local.tokens_per_second")
        table["local"]["tokens_per_second"] = speed


def load_prices(path: str | Path | None = None) -> PriceTable:
    """The default price table, overridden by ``path`` or, without it, by the file named in ``$STUDIO_PRICES``."""
    table: dict[str, Any] = {"models": {}, "limits": {}, "limit_sources": {}, "local": {}}
    default = resources.files("studio.cost").joinpath("prices.toml")
    with default.open("rb") as handle:
        _merge(table, tomllib.load(handle), path="prices.toml")
    override = path if path is not None else os.environ.get(PRICES_ENV) or None
    if override is not None:
        override_path = Path(override)
        _merge(table, _read(override_path), path=str(override_path))
    names = {f.name for f in fields(ModelPrices)}
    models = {
        model: ModelPrices(model=model, **{k: v for k, v in entry.items() if k in names})
        for model, entry in table["models"].items()
    }
    return PriceTable(
        as_of=table["as_of"],
        source=table["source"],
        currency=table.get("currency", "USD"),
        models=MappingProxyType(models),
        limits=MappingProxyType(dict(table["limits"])),
        limit_sources=MappingProxyType(dict(table["limit_sources"])),
        local_tokens_per_second=float(table["local"].get("tokens_per_second", 1500)),
        openai_new_jobs_until=table.get("openai_new_jobs_until", ""),
    )
