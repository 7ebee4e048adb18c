"""Every number the Playground and Train tables show reads with its unit (st.column_config formats)."""

import pandas as pd

from studio.i18n import Translator
from studio.playground.metrics import aggregate, score_rows, side_by_side
from ui.playground import metric_axis, number_columns
from ui.train import checkpoint_columns


def _formats(config):
    return {column: spec["type_config"]["format"] for column, spec in config.items()}


def test_every_number_of_the_playground_summary_has_a_unit():
    results = pd.DataFrame(
        {
            "run_id": [1, 1],
            "row_index": [0, 0],
            "target": ["base", "tuned"],
            "prompt": ["Hi"] * 2,
            "reference": ["Hello"] * 2,
            "answer": ["Hello", "Hi there"],
            "error": [None, None],
            "tokens_in": [3, 3],
            "tokens_out": [1, 2],
            "latency_s": [0.41, 1.2],
            "cost": [0.000012, 0.0],
        }
    )
    scored = score_rows(results)
    summary = aggregate(scored, ["base", "tuned"])
    formats = _formats(number_columns(summary.columns, Translator("en")))
    numeric = [c for c in summary.columns if pd.api.types.is_numeric_dtype(summary[c]) or summary[c].isna().all()]
    assert set(numeric) <= set(formats), set(numeric) - set(formats)  # nothing left as a raw float
    assert formats["exact_match"] == "percent" and formats["similarity"] == "%.2f / 1"
    assert formats["latency_p95"] == "%.2f s" and formats["cost"] == "$%.6f" and formats["tokens_out"] == "%.0f tokens"
    table = side_by_side(scored, ["base", "tuned"])
    per_answer = _formats(number_columns(table.columns, Translator("es")))
    assert per_answer == {"base · similarity": "%.2f / 1", "tuned · similarity": "%.2f / 1"}
    assert formats["length"] == "%.0f characters"
    assert (
        metric_axis("exact_match", Translator("en")) == (".0%", "exact_match")
        and metric_axis("latency_p50", Translator("en"))[1] == "latency_p50 (s)"
    )


def test_checkpoint_metrics_read_as_percentages_and_losses():
    columns = ["step", "model", "train_loss", "train_mean_token_accuracy", "full_valid_loss"]
    assert _formats(checkpoint_columns(columns, Translator("en"))) == {
        "step": "%d",
        "train_loss": "%.3f",
        "train_mean_token_accuracy": "percent",
        "full_valid_loss": "%.3f",
    }


def test_number_formats_follow_the_translated_headers():
    """The column_config keys are the headers as shown, so the formats still apply after Spanish renames them."""
    es = Translator("es")
    columns = ["step", "model", "train_loss", "train_mean_token_accuracy", "full_valid_loss"]
    shown = es.columns(pd.DataFrame(columns=columns)).columns
    assert set(checkpoint_columns(columns, es)) == set(shown) - {es.label("columns", "model")}
    assert es.label("columns", "train_loss") != "train_loss"  # really renamed in Spanish
    assert "(s)" in metric_axis("latency_p50", es)[1] and "latency_p50" not in metric_axis("latency_p50", es)[1]
