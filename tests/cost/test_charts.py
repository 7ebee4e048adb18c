"""The Cost page's charts: counts never drawn below zero, models with equal prices still told apart."""

import pandas as pd

from studio.cost.estimate import cost_epochs_chart, token_histogram_chart

LABELS = {"tokens": "tokens", "examples": "examples", "epochs": "epochs", "usd": "USD", "model": "model"}


def test_the_token_histogram_counts_whole_examples_from_zero():
    spec = token_histogram_chart([12, 12, 13, 40], limit=None, labels=LABELS).to_dict()
    y = spec["encoding"]["y"]
    assert y["scale"]["domainMin"] == 0 and y["axis"]["format"] == "d"


def test_models_with_the_same_price_get_their_own_dash_pattern_and_full_legend_labels():
    frame = pd.DataFrame(
        {
            "model": ["gpt-a", "gpt-a", "gpt-b-with-a-long-name", "gpt-b-with-a-long-name"],
            "epochs": [1, 2, 1, 2],
            "usd": [1.0, 2.0, 1.0, 2.0],
        }
    )
    encoding = cost_epochs_chart(frame, labels=LABELS).to_dict()["encoding"]
    assert encoding["strokeDash"]["field"] == "model"
    assert encoding["color"]["legend"]["labelLimit"] == 0
