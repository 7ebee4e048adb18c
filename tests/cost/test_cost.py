"""Cost arithmetic, the auto-epochs heuristic and the inference break-even, table-driven."""

import pytest

from studio.cost.estimate import (
    auto_epochs,
    break_even,
    cost_by_epochs,
    estimate_cost,
    format_duration,
    token_histogram,
)
from studio.cost.prices import load_prices
from studio.errors import PricingError


@pytest.mark.parametrize(
    "n,epochs",
    [
        (1, 25),
        (3, 25),
        (4, 25),
        (5, 20),
        (10, 10),
        (33, 3),
        (34, 3),
        (50, 3),
        (8_333, 3),
        (8_334, 2),
        (12_500, 2),
        (12_501, 1),
        (30_000, 1),
        (1_000_000, 1),
    ],
)
def test_auto_epochs_follows_the_published_heuristic(n, epochs):
    assert auto_epochs(n) == epochs


def test_auto_epochs_needs_examples():
    with pytest.raises(ValueError, match="n=0"):
        auto_epochs(0)


@pytest.mark.parametrize(
    "counts,model,epochs,billed,usd,over",
    [
        # Σ min(limit, tokens) × epochs × price / 1M; gpt-4o-mini: limit 65,536, $3.00
        ([100, 200, 70_000], "gpt-4o-mini", 2, (100 + 200 + 65_536) * 2, (100 + 200 + 65_536) * 2 * 3.00 / 1e6, 1),
        # gpt-4.1: limit 65,536 (it was missing from the table, so nothing was truncated); $25.00
        ([100, 200, 70_000], "gpt-4.1", 1, 100 + 200 + 65_536, (100 + 200 + 65_536) * 25.00 / 1e6, 1),
        ([1_000] * 20, "gpt-3.5-turbo-0125", "auto", 20_000 * 5, 100_000 * 8.00 / 1e6, 0),
        ([1_000] * 20, "gpt-4.1-nano", 3, 60_000, 60_000 * 1.50 / 1e6, 0),
    ],
)
def test_estimate_cost(counts, model, epochs, billed, usd, over):
    estimate = estimate_cost(counts, model=model, epochs=epochs)
    assert (estimate.billed_tokens, estimate.over_limit, estimate.rows) == (billed, over, len(counts))
    assert estimate.usd == pytest.approx(usd)
    assert estimate.epochs_auto == (epochs == "auto") and not estimate.local


def test_local_engine_is_free_with_a_time_estimate():
    estimate = estimate_cost([1_000] * 100, model="local", epochs=3)
    assert estimate.usd == 0 and estimate.local
    assert estimate.training_seconds == pytest.approx(300_000 / load_prices().local_tokens_per_second)


@pytest.mark.parametrize(
    "counts,epochs,error",
    [
        ([], "auto", PricingError),
        ([10], 0, ValueError),
        ([10], 2.5, ValueError),
        ([10], "3", ValueError),
        ([-1], 1, ValueError),
    ],
)
def test_bad_inputs_are_refused(counts, epochs, error):
    with pytest.raises(error):
        estimate_cost(counts, model="gpt-4o", epochs=epochs)


def test_cost_by_epochs_covers_every_model_and_grows_with_epochs():
    frame = cost_by_epochs([500] * 40, epochs=range(1, 4))
    assert set(frame["model"]) == set(load_prices().model_names)
    mini = frame[frame["model"] == "gpt-4o-mini"]["usd"].tolist()
    assert mini == pytest.approx([20_000 * k * 3.00 / 1e6 for k in (1, 2, 3)])


# gpt-4o-mini: base 0.15 in / 0.60 out, fine-tuned 0.30 in / 1.20 out; 100,000 requests, 100-token answers.
@pytest.mark.parametrize(
    "base_prompt,tuned_prompt,training,cached,base,tuned,payback",
    [
        (2_000, 200, 50.0, 0.0, 36.0, 18.0, 3),  # 1e5 × (2000×.15 + 100×.6)/1e6 vs 1e5 × (200×.3 + 100×1.2)/1e6
        (2_000, 200, 0.0, 0.0, 36.0, 18.0, 1),
        (2_000, 200, 36.0, 0.0, 36.0, 18.0, 2),
        (300, 300, 10.0, 0.0, 10.5, 21.0, None),  # the fine-tuned model costs more per token: never pays back
        (2_000, 200, 50.0, 1.0, 21.0, 15.0, 9),  # fully cached prompts: 0.075 and 0.15 per 1M
    ],
)
def test_break_even(base_prompt, tuned_prompt, training, cached, base, tuned, payback):
    result = break_even(
        model="gpt-4o-mini",
        base_prompt_tokens=base_prompt,
        tuned_prompt_tokens=tuned_prompt,
        answer_tokens=100,
        requests_per_month=100_000,
        training_usd=training,
        cached_fraction=cached,
    )
    assert (result.base_monthly_usd, result.tuned_monthly_usd) == (pytest.approx(base), pytest.approx(tuned))
    assert result.payback_month == payback
    month = result.months[result.months["month"] == 2].set_index("option")["usd"]
    assert month["base"] == pytest.approx(2 * base) and month["fine_tuned"] == pytest.approx(training + 2 * tuned)


def test_break_even_refuses_the_local_engine_and_bad_numbers():
    with pytest.raises(PricingError, match="local engine"):
        break_even(
            model="local",
            base_prompt_tokens=1,
            tuned_prompt_tokens=1,
            answer_tokens=1,
            requests_per_month=1,
            training_usd=0,
        )
    with pytest.raises(ValueError, match="requests_per_month cannot be negative"):
        break_even(
            model="gpt-4o",
            base_prompt_tokens=1,
            tuned_prompt_tokens=1,
            answer_tokens=1,
            requests_per_month=-1,
            training_usd=0,
        )


def test_histogram_bins_every_example():
    counts = [5, 5, 6, 100, 2_000]
    binned = token_histogram(counts)
    assert binned["examples"].sum() == len(counts)
    assert binned["start"].min() == 5 and binned["stop"].max() == 2_001


@pytest.mark.parametrize("seconds,text", [(45, "45 s"), (600, "10 min"), (4 * 3600, "4.0 h")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_dollars_read_at_the_precision_they_deserve():
    from studio.cost.estimate import format_usd, usd_amount

    assert [format_usd(x) for x in (0, 0.0012, 0.000012, 0.05, 1234.567)] == [
        "$0",
        "$0.0012",  # a small job is not "$0.00"
        "$0.000012",
        "$0.05",
        "$1,234.57",
    ]
    assert usd_amount(12.5) == "12.50"
