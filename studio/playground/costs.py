"""What one Playground answer cost: the price table's inference prices, $0 on the local engine."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from studio.playground.targets import Target

if TYPE_CHECKING:
    from studio.cost.prices import PriceTable

PriceMap = Mapping[str, tuple[float, float]]  # model → (USD per 1M input tokens, per 1M output tokens)


def cost_of(
    target: Target, tokens_in: int | None, tokens_out: int | None, *, prices: PriceMap | None = None
) -> float | None:
    """USD for one answer: $0 on the local engine; fine-tuned ids priced as fine-tuned inference of their base.

    ``prices`` overrides the table (exact model ids). None when a price or a token count is unknown.
    """
    if target.profile.kind == "local":
        return 0.0
    if tokens_in is None or tokens_out is None:
        return None
    if prices is not None:
        if target.model not in prices:
            return None
        per_in, per_out = prices[target.model]
    else:
        table_in, table_out = _table_prices(target.model)
        if table_in is None or table_out is None:
            return None
        per_in, per_out = table_in, table_out
    return (tokens_in * per_in + tokens_out * per_out) / 1e6


def _table_prices(model: str) -> tuple[float | None, float | None]:
    try:
        from studio.cost.prices import PricingError
    except ImportError:  # pricing.py not present: cost unknown
        return None, None
    try:
        entry = _price_table().prices_for(model)
    except PricingError:
        return None, None
    if model.startswith("ft:") or entry.local:
        return entry.input, entry.output
    return (
        entry.base_input if entry.base_input is not None else entry.input,
        entry.base_output if entry.base_output is not None else entry.output,
    )


_PRICES: list[Any] = []


def _price_table() -> PriceTable:
    if not _PRICES:
        from studio.cost.prices import load_prices

        _PRICES.append(load_prices())
    return _PRICES[0]
