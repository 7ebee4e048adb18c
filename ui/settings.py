"""The hyperparameter widgets the Cost sidebar and the Train page share (epochs, batch size, learning-rate
multiplier), started from the settings kept under :data:`ui.keys.TRAIN_SETTINGS` so both pages show one value."""

from __future__ import annotations

from typing import Any, Literal

import streamlit as st

from studio.i18n import Translator
from studio.providers.train_settings import BATCH_SIZES, LR_MULTIPLIERS, TrainSettings, menu
from ui.frame import kept_choice


def hyperparameter_inputs(
    saved: TrainSettings, tr: Translator, *, prefix: str, container: Any = None
) -> tuple[Literal["auto"] | int, Literal["auto"] | int, Literal["auto"] | float]:
    """Draw epochs (auto or a number), batch size and learning-rate multiplier in ``container`` (the page by
    default) under widget keys ``{prefix}_epochs_mode``, ``{prefix}_epochs``, ``{prefix}_batch``, ``{prefix}_lr``;
    returns ``(epochs, batch_size, learning_rate_multiplier)``. Widget keys vanish when the user leaves a page,
    so each starts from ``saved`` (the value the other page chose)."""
    manual = saved.epochs != "auto"
    defaults = {
        f"{prefix}_epochs_mode": "manual" if manual else "auto",
        f"{prefix}_epochs": saved.epochs if manual else 3,
        f"{prefix}_batch": saved.batch_size,
        f"{prefix}_lr": saved.learning_rate_multiplier,
    }
    for key, value in defaults.items():
        st.session_state.setdefault(key, value)
    where = container or st
    mode = where.radio(
        tr("cost.epochs_mode"),
        ["auto", "manual"],
        key=kept_choice(f"{prefix}_epochs_mode"),
        horizontal=True,
        format_func=lambda m: tr(f"cost.epochs_{m}"),
        help=tr("cost.epochs_help"),
    )
    epochs: Literal["auto"] | int = (
        "auto" if mode == "auto" else int(where.number_input(tr("cost.epochs_value"), 1, 50, key=f"{prefix}_epochs"))
    )
    batches = menu(BATCH_SIZES, st.session_state[f"{prefix}_batch"])  # a preset's batch size 3 stays 3
    batch = where.selectbox(tr("cost.batch_size"), batches, key=f"{prefix}_batch", help=tr("cost.batch_help"))
    rates = menu(LR_MULTIPLIERS, st.session_state[f"{prefix}_lr"])
    lr = where.selectbox(tr("cost.lr"), rates, key=f"{prefix}_lr", help=tr("cost.lr_help"))
    return epochs, batch, lr
