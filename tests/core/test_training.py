"""One auto-epochs rule: the Cost page's estimate and the engine's job agree for every training-set size."""

import numpy as np

from studio.cost.estimate import estimate_cost
from studio.cost.prices import load_prices
from studio.engine.hyperparameters import resolve_config


def test_the_cost_page_and_the_engine_choose_the_same_auto_epochs_for_1_to_30000_examples():
    prices = load_prices()
    disagree = []
    for n in range(1, 30_001):
        page = estimate_cost(np.ones(n, dtype=np.int64), model="gpt-4o-mini-2024-07-18", prices=prices).epochs
        engine = resolve_config({"n_epochs": "auto"}, n_examples=n, seed=0).n_epochs
        if page != engine:
            disagree.append((n, page, engine))
    assert disagree == []


def test_twelve_examples_train_eight_epochs_as_the_cost_page_says():
    # Before there was one rule the Cost page said 8 and the engine trained 9 (it rounded 100/12 up).
    assert resolve_config({}, n_examples=12, seed=0).n_epochs == 8
