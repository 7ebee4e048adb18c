"""The Train page's loss chart: steps are whole numbers, so its x axis never ticks between two steps."""

from __future__ import annotations

import pandas as pd

from studio.i18n import translator
from ui.train import metrics_chart


def test_a_three_step_job_is_drawn_on_whole_steps_in_the_pages_language():
    metrics = pd.DataFrame(
        {"step": [1, 2, 3], "train_loss": [2.0, 1.5, 1.2], "train_mean_token_accuracy": [0.1, 0.2, 0.3]}
    )
    spec = metrics_chart(metrics, translator("es")).to_dict()
    x = spec["spec"]["encoding"]["x"]
    assert x["axis"]["format"] == "d"
    assert x["axis"]["tickMinStep"] == 1
    assert x["title"] == "paso"
