"""Training cost, the epochs heuristic and the prompt-engineering vs fine-tuning break-even.

Billed training tokens = Σ min(limit, tokens of example) × epochs, priced per 1M tokens from
:mod:`studio.cost.prices`; validation files are free. ``"auto"`` epochs follow OpenAI's published heuristic
(:func:`auto_epochs`), which is a heuristic: the job may still choose differently. The local engine costs $0 and
gets an estimated training time instead.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from studio.core.training import auto_epochs
from studio.cost.prices import PriceTable, load_prices
from studio.errors import PricingError

if TYPE_CHECKING:
    import altair as alt
    import pandas as pd

Epochs = int | Literal["auto"]
BREAK_EVEN_OPTIONS = ("base", "fine_tuned")


@dataclass(frozen=True)
class CostEstimate:
    """What one training job would bill (or, for the local engine, how long it would take)."""

    model: str
    rows: int
    epochs: int
    epochs_auto: bool
    tokens_per_epoch: int  # after truncation to the per-example limit
    billed_tokens: int
    usd: float
    over_limit: int  # examples longer than the limit (truncated); 0 when the limit is not published
    limit: int | None
    price_per_million: float
    local: bool = False
    training_seconds: float | None = None  # local engine only, from the table's tokens-per-second figure


def _counts(token_counts: Iterable[int]) -> np.ndarray:
    counts = np.asarray(token_counts if isinstance(token_counts, np.ndarray) else list(token_counts), dtype=np.int64)
    if counts.ndim != 1:
        raise ValueError(f"token_counts must be one number per example, got shape {counts.shape}")
    if len(counts) and counts.min() < 0:
        raise ValueError(f"token counts cannot be negative, got {int(counts.min())}")
    return counts


def _epochs(epochs: Epochs, rows: int) -> int:
    if epochs == "auto":
        return auto_epochs(rows)
    if isinstance(epochs, bool) or not isinstance(epochs, int | np.integer) or not 1 <= epochs <= 50:
        raise ValueError(f"epochs must be 'auto' or a whole number from 1 to 50, got {epochs!r}")
    return int(epochs)


def estimate_cost(
    token_counts: Iterable[int],
    *,
    model: str,
    epochs: Epochs = "auto",
    prices: PriceTable | None = None,
) -> CostEstimate:
    """Cost of fine-tuning ``model`` on examples with these token counts (training file only)."""
    counts = _counts(token_counts)
    if not len(counts):
        raise PricingError("no examples to estimate: the training file is empty")
    table = prices or load_prices()
    model_prices = table.prices_for(model)
    limit = table.limit_for(model)
    n_epochs = _epochs(epochs, len(counts))
    per_epoch = int(np.minimum(counts, limit).sum()) if limit is not None else int(counts.sum())
    billed = per_epoch * n_epochs
    price = float(model_prices.training or 0.0)
    return CostEstimate(
        model=model,
        rows=len(counts),
        epochs=n_epochs,
        epochs_auto=isinstance(epochs, str),
        tokens_per_epoch=per_epoch,
        billed_tokens=billed,
        usd=billed * price / 1_000_000,
        over_limit=int((counts > limit).sum()) if limit is not None else 0,
        limit=limit,
        price_per_million=price,
        local=model_prices.local,
        training_seconds=billed / table.local_tokens_per_second if model_prices.local else None,
    )


def cost_by_epochs(
    token_counts: Iterable[int],
    *,
    models: Sequence[str] | None = None,
    epochs: Iterable[int] = range(1, 11),
    prices: PriceTable | None = None,
) -> pd.DataFrame:
    """Training cost of every model (default: all priced OpenAI models) at each epoch count: model, epochs, usd."""
    import pandas as pd  # here, not at the top: `studio estimate` needs no pandas

    counts = _counts(token_counts)
    table = prices or load_prices()
    rows = [
        (model, n, estimate_cost(counts, model=model, epochs=n, prices=table).usd)
        for model in (models or table.model_names)
        for n in epochs
    ]
    return pd.DataFrame(rows, columns=["model", "epochs", "usd"])


@dataclass(frozen=True)
class BreakEven:
    """Monthly inference cost of a long prompt on the base model vs a short one on the fine-tuned model."""

    model: str
    base_monthly_usd: float
    tuned_monthly_usd: float
    training_usd: float
    payback_month: int | None  # first month whose cumulative cost favours fine-tuning; None: never
    months: pd.DataFrame = field(repr=False, compare=False)  # month, option ("base"/"fine_tuned"), cumulative usd

    @property
    def monthly_saving_usd(self) -> float:
        return self.base_monthly_usd - self.tuned_monthly_usd


def _per_request(
    prompt: float, answer: float, *, input: float, cached: float | None, output: float, cached_fraction: float
) -> float:
    cached_price = input if cached is None else cached
    return (prompt * ((1 - cached_fraction) * input + cached_fraction * cached_price) + answer * output) / 1e6


def break_even(
    *,
    model: str,
    base_prompt_tokens: int,
    tuned_prompt_tokens: int,
    answer_tokens: int,
    requests_per_month: int,
    training_usd: float,
    cached_fraction: float = 0.0,
    months: int = 24,
    prices: PriceTable | None = None,
) -> BreakEven:
    """When fine-tuning pays back: training cost vs the monthly saving of a shorter prompt.

    ``base_prompt_tokens`` is the long prompt (instructions + few-shot examples) sent to the base model,
    ``tuned_prompt_tokens`` the short one sent to the fine-tuned model; ``cached_fraction`` of each prompt is
    billed at the cached-input price (prompt caching).
    """
    import pandas as pd

    values = {
        "base_prompt_tokens": base_prompt_tokens,
        "tuned_prompt_tokens": tuned_prompt_tokens,
        "answer_tokens": answer_tokens,
        "requests_per_month": requests_per_month,
        "training_usd": training_usd,
    }
    for name, value in values.items():
        if value < 0:
            raise ValueError(f"{name} cannot be negative, got {value}")
    if not 0 <= cached_fraction <= 1:
        raise ValueError(f"cached_fraction must be between 0 and 1, got {cached_fraction}")
    if months < 1:
        raise ValueError(f"months must be at least 1, got {months}")
    p = (prices or load_prices()).prices_for(model)
    if p.local:
        raise PricingError(f"{model} runs on the local engine: there is no per-token inference price to compare")
    if p.input is None or p.output is None or p.base_input is None or p.base_output is None:
        raise PricingError(f"the price table has no inference prices for {model}")
    base = requests_per_month * _per_request(
        base_prompt_tokens,
        answer_tokens,
        input=p.base_input,
        cached=p.base_cached_input,
        output=p.base_output,
        cached_fraction=cached_fraction,
    )
    tuned = requests_per_month * _per_request(
        tuned_prompt_tokens,
        answer_tokens,
        input=p.input,
        cached=p.cached_input,
        output=p.output,
        cached_fraction=cached_fraction,
    )
    saving = base - tuned
    payback = max(1, math.ceil(training_usd / saving - 1e-9)) if saving > 0 else None
    month = np.arange(0, months + 1)
    frame = pd.DataFrame(
        {
            "month": np.concatenate([month, month]),
            "option": ["base"] * len(month) + ["fine_tuned"] * len(month),
            "usd": np.concatenate([month * base, training_usd + month * tuned]),
        }
    )
    return BreakEven(
        model=model,
        base_monthly_usd=base,
        tuned_monthly_usd=tuned,
        training_usd=training_usd,
        payback_month=payback,
        months=frame,
    )


def usd_amount(usd: float) -> str:
    """A dollar amount at the precision it deserves, without the sign: "1,234.56", "0.12"; below a cent, two
    significant digits ("0.0012") so a small job does not read as free; "0" for nothing."""
    if usd == 0:
        return "0"
    if abs(usd) < 0.01:
        return f"{usd:.2g}" if abs(usd) >= 1e-4 else f"{usd:.6f}".rstrip("0")
    return f"{usd:,.2f}"


def format_usd(usd: float) -> str:
    """:func:`usd_amount` with its sign: "$1,234.56", "$0.0012", "$0"."""
    return f"${usd_amount(usd)}"


def format_duration(seconds: float) -> str:
    """ "45 s", "12 min", "3.5 h": a training-time estimate at the precision it deserves."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


# --- charts (Altair specs; the page only displays them) -----------------------------------------------------


def token_histogram(token_counts: Iterable[int], *, bins: int = 40) -> pd.DataFrame:
    """Binned token lengths (start, stop, examples), so charts never embed one value per example."""
    import pandas as pd

    counts = _counts(token_counts)
    if not len(counts):
        return pd.DataFrame({"start": [], "stop": [], "examples": []})
    top = int(counts.max()) + 1
    edges = np.unique(np.linspace(int(counts.min()), top, bins + 1).round().astype(np.int64))
    if len(edges) < 2:
        edges = np.array([int(counts.min()), top])
    hist, edges = np.histogram(counts, bins=edges)
    return pd.DataFrame({"start": edges[:-1], "stop": edges[1:], "examples": hist})


def token_histogram_chart(token_counts: Iterable[int], *, limit: int | None, labels: Mapping[str, str]) -> alt.Chart:
    """Histogram of tokens per example; a red rule at ``limit`` when the limit is near the data."""
    import altair as alt
    import pandas as pd

    binned = token_histogram(token_counts)
    bars = (
        alt.Chart(binned)
        .mark_bar()
        .encode(
            x=alt.X("start:Q", title=labels["tokens"]),
            x2="stop:Q",
            # Counts of examples: whole numbers from zero (Vega-Lite's default "nice" domain went below zero).
            y=alt.Y(
                "examples:Q",
                title=labels["examples"],
                scale=alt.Scale(domainMin=0, nice=True),
                axis=alt.Axis(format="d", tickMinStep=1),
            ),
            tooltip=["start", "stop", "examples"],
        )
    )
    if limit is None or not len(binned) or limit > 2 * int(binned["stop"].max()):
        return bars
    rule = alt.Chart(pd.DataFrame({"limit": [limit]})).mark_rule(color="red", strokeDash=[4, 4]).encode(x="limit:Q")
    return bars + rule


def cost_epochs_chart(frame: pd.DataFrame, *, labels: Mapping[str, str]) -> alt.Chart:
    """Lines of training cost vs epochs, one per model (from :func:`cost_by_epochs`)."""
    import altair as alt

    return (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=alt.X("epochs:Q", title=labels["epochs"]),
            y=alt.Y("usd:Q", title=labels["usd"], axis=alt.Axis(format="$,.2f")),
            color=alt.Color("model:N", title=labels["model"], legend=alt.Legend(labelLimit=0)),
            # Models with the same price draw the same line: a dash pattern each keeps both visible.
            strokeDash=alt.StrokeDash("model:N", legend=None),
            tooltip=["model", "epochs", alt.Tooltip("usd:Q", format="$,.2f")],
        )
    )


def break_even_chart(result: BreakEven, *, labels: Mapping[str, Any]) -> alt.Chart:
    """Cumulative cost per month of both options, with a rule at the payback month."""
    import altair as alt
    import pandas as pd

    frame = result.months.assign(option=result.months["option"].map(labels["options"]))
    lines = (
        alt.Chart(frame)
        .mark_line()
        .encode(
            x=alt.X("month:Q", title=labels["month"]),
            y=alt.Y("usd:Q", title=labels["usd"]),
            color=alt.Color("option:N", title=None),
            tooltip=["month", "option", alt.Tooltip("usd:Q", format="$,.2f")],
        )
    )
    if result.payback_month is None or result.payback_month > int(result.months["month"].max()):
        return lines
    rule = alt.Chart(pd.DataFrame({"month": [result.payback_month]})).mark_rule(strokeDash=[4, 4]).encode(x="month:Q")
    return lines + rule
