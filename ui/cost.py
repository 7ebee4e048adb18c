"""The Cost page's panels: the settings sidebar (kept for Train), the scan with a progress bar, the metrics, the
charts, the break-even calculator, the problem table and the moderation check."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

import pandas as pd
import streamlit as st

from studio.cost.estimate import (
    CostEstimate,
    break_even,
    break_even_chart,
    cost_by_epochs,
    cost_epochs_chart,
    format_duration,
    token_histogram_chart,
)
from studio.cost.prices import LOCAL_MODEL, PriceTable
from studio.cost.problems import dataset_link, problem_counts, problem_groups
from studio.cost.sources import check_frame
from studio.cost.validation import ValidationReport, validate_bytes
from studio.data.frame import Example, iter_examples
from studio.editing.editor import DatasetEditor
from studio.i18n import Translator
from studio.providers.train_settings import TrainSettings
from ui import keys
from ui.frame import page_path
from ui.settings import hyperparameter_inputs

_SCAN = "_cost_scan"


def settings_sidebar(prices: PriceTable, tr: Translator) -> TrainSettings:
    """The hyperparameter widgets, started from (and written back to) the settings kept for the Train page."""
    models = [*prices.model_names, LOCAL_MODEL]
    saved = TrainSettings.from_dict(st.session_state.get(keys.TRAIN_SETTINGS))
    # Widget keys vanish when the user leaves the page: start them from the settings kept for Train.
    defaults = {
        "cost_model": saved.model,
        "cost_seed": saved.seed,
        "cost_suffix": saved.suffix,
        "cost_budget": saved.budget_usd or 0.0,
    }
    for key, value in defaults.items():
        if key != "cost_model" or value in models:
            st.session_state.setdefault(key, value)
    with st.sidebar:
        st.subheader(tr("cost.settings"))
        model = st.selectbox(
            tr("cost.model"),
            models,
            key="cost_model",
            help=tr("cost.model_help"),
            format_func=lambda m: tr("cost.local_engine") if m == LOCAL_MODEL else m,
        )
        st.caption(tr("cost.model_note", date=prices.openai_new_jobs_until))
        epochs, batch_size, lr = hyperparameter_inputs(saved, tr, prefix="cost")
        seed = st.number_input(tr("cost.seed"), 0, 2**31 - 1, key="cost_seed", help=tr("cost.seed_help"))
        suffix = st.text_input(tr("cost.suffix"), max_chars=64, key="cost_suffix", help=tr("cost.suffix_help"))
        budget = st.number_input(tr("cost.budget"), 0.0, step=10.0, key="cost_budget", help=tr("cost.budget_help"))
        st.caption(tr("cost.saved"))
    settings = replace(  # the Train page's advanced options (LoRA, packing...) are kept
        saved,
        model=model,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate_multiplier=lr,
        seed=None if seed is None else int(seed),
        suffix=suffix.strip(),
        budget_usd=float(budget) or None,
    )
    st.session_state[keys.TRAIN_SETTINGS] = settings.to_dict()
    return settings


def scanned(
    source: object, key: tuple, scan: Callable[[Callable[[float], None]], ValidationReport], tr: Translator
) -> ValidationReport:
    """``scan(progress)`` with a progress bar, once per ``source`` (compared by identity) and ``key``."""
    cached = st.session_state.get(_SCAN)
    if cached and cached[0] is source and cached[1] == key:
        return cached[2]
    bar = st.progress(0.0, text=tr("cost.counting"))

    def progress(fraction: float) -> None:
        bar.progress(fraction, text=tr("cost.counting"))

    report = scan(progress)
    bar.empty()
    st.session_state[_SCAN] = (source, key, report)
    return report


def scan_frame(frame: pd.DataFrame, model: str, tr: Translator) -> ValidationReport:
    """:func:`scanned` over an open dataset: findings at the source line/row and example id, as the CLI reports
    them (:func:`studio.cost.sources.check_frame`)."""
    return scanned(frame, (model,), lambda progress: check_frame(frame, model=model, on_progress=progress), tr)


def frame_examples(frame: pd.DataFrame) -> tuple[None, Iterator[Example]]:
    """What :func:`moderation_panel` checks for an open dataset: rows in frame order (None), its examples."""
    return None, iter_examples(frame)


def scan_file(data: bytes, key: tuple, model: str, tr: Translator) -> ValidationReport:
    """:func:`scanned` over a JSONL file's bytes, once per ``key`` (e.g. name, upload id, model)."""
    return scanned(None, key, lambda progress: validate_bytes(data, model=model, on_progress=progress), tr)


def metrics(estimate: CostEstimate, tr: Translator) -> None:
    """Examples, billed tokens, epochs, dollars (or training time on the local engine), examples over the limit."""
    cols = st.columns(5)
    cols[0].metric(tr("cost.metric_examples"), f"{estimate.rows:,}")
    cols[1].metric(tr("cost.metric_tokens"), f"{estimate.billed_tokens:,}")
    cols[2].metric(tr("cost.metric_epochs"), estimate.epochs)
    if estimate.training_seconds is not None:  # set for the local engine only
        cols[3].metric(
            tr("cost.metric_time"), format_duration(estimate.training_seconds), tr("cost.free"), delta_color="off"
        )
    else:
        cols[3].metric(tr("cost.metric_usd"), f"${estimate.usd:,.2f}")
    cols[4].metric(tr("cost.metric_over"), f"{estimate.over_limit:,}" if estimate.limit else tr("cost.limit_unknown"))


def _axes(tr: Translator) -> dict[str, str]:
    return {name: tr(f"cost.axis_{name}") for name in ("tokens", "examples", "epochs", "usd", "model", "month")}


def charts(report: ValidationReport, estimate: CostEstimate, prices: PriceTable, tr: Translator) -> None:
    """Token histogram (with the model's limit) beside cost per epoch count."""
    left, right = st.columns(2)
    with left:
        st.subheader(tr("cost.histogram"))
        st.altair_chart(token_histogram_chart(report.tokens, limit=estimate.limit, labels=_axes(tr)), width="stretch")
        if estimate.limit:
            st.caption(tr("cost.histogram_note", limit=f"{estimate.limit:,}"))
    with right:
        st.subheader(tr("cost.cost_chart"))
        st.altair_chart(
            cost_epochs_chart(cost_by_epochs(report.tokens, prices=prices), labels=_axes(tr)), width="stretch"
        )
        st.caption(tr("cost.tokens_note", encoding=report.encoding))


def break_even_panel(model: str, estimate: CostEstimate, prices: PriceTable, tr: Translator) -> None:
    """When a shorter prompt on the fine-tuned model pays back its training."""
    with st.expander(tr("cost.break_even")):
        st.caption(tr("cost.break_even_intro"))
        if estimate.local:
            st.info(tr("cost.break_even_local"))
            return
        c1, c2, c3, c4 = st.columns(4)
        long_prompt = c1.number_input(tr("cost.base_prompt"), 0, value=2_000, step=100, key="cost_long")
        short_prompt = c2.number_input(tr("cost.tuned_prompt"), 0, value=200, step=50, key="cost_short")
        answer = c3.number_input(tr("cost.answer"), 0, value=300, step=50, key="cost_answer")
        requests = c4.number_input(tr("cost.requests"), 0, value=100_000, step=10_000, key="cost_requests")
        result = break_even(
            model=model,
            base_prompt_tokens=long_prompt,
            tuned_prompt_tokens=short_prompt,
            answer_tokens=answer,
            requests_per_month=requests,
            training_usd=estimate.usd,
            prices=prices,
        )
        st.write(tr("cost.monthly", base=f"{result.base_monthly_usd:,.2f}", tuned=f"{result.tuned_monthly_usd:,.2f}"))
        if result.payback_month is None:
            st.warning(tr("cost.never"))
        else:
            st.success(tr("cost.payback", month=result.payback_month))
        options = {"base": tr("cost.option_base"), "fine_tuned": tr("cost.option_tuned")}
        st.altair_chart(break_even_chart(result, labels={**_axes(tr), "options": options}), width="stretch")


def problems_panel(report: ValidationReport, *, editor: DatasetEditor | None, tr: Translator) -> None:
    """The findings grouped by check, errors first; with an open dataset, each group's examples open on the
    Dataset page (in this tab, filtered to them, with a chip that clears the filter)."""
    st.subheader(tr("cost.problems"))
    if report.findings.empty:
        st.success(tr("cost.no_problems"))
        return
    st.write(tr("cost.problem_counts", **problem_counts(report)))
    groups = problem_groups(report)
    st.dataframe(
        groups.drop(columns="ids"),
        hide_index=True,
        width="stretch",
        column_config={
            "severity": tr("cost.col_severity"),
            "key": tr("cost.col_key"),
            "count": tr("cost.col_count"),
            "rows": tr("cost.col_row"),
            "message": tr("cost.col_message"),
        },
    )
    linked = [i for i in range(len(groups)) if groups["ids"].iloc[i]]
    if editor is None or not linked:
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox(
        tr("cost.open_group"),
        linked,
        format_func=lambda i: f"{groups['severity'].iloc[i]} · {groups['key'].iloc[i]} ({groups['count'].iloc[i]})",
        key="cost_open_group",
    )
    if right.button(tr("cost.open_row"), key="cost_open_rows"):
        link = dataset_link(
            groups["ids"].iloc[chosen], dataset_id=editor.dataset_id, version_id=editor.info.head_version_id
        )
        st.switch_page(page_path("dataset"), query_params=link)


def moderation_panel(examples: Callable[[], tuple[Any, Any]], tr: Translator) -> None:
    """On demand: OpenAI's moderation endpoint with a key, else the offline word list. ``examples()`` gives the
    rows (None: file order) and the examples to check."""
    with st.expander(tr("cost.moderation")):
        st.caption(tr("cost.moderation_intro"))
        if not st.button(tr("cost.moderation_run"), key="cost_moderate"):
            return
        from studio.providers.profiles import Profile, api_key_for, make_client
        from studio.quality.moderation import example_texts, moderate

        profile = Profile(kind="openai")
        key = api_key_for(profile)
        client = make_client(profile, api_key=key) if key else None
        rows, found = examples()
        bar = st.progress(0.0)
        outcome = moderate(example_texts(found), rows=rows, client=client, on_progress=bar.progress)
        bar.empty()
        st.info(tr(f"cost.moderation_{outcome.source}", flagged=outcome.flagged, rows=outcome.rows))
        flagged: pd.DataFrame = outcome.results[outcome.results["flagged"]]
        st.dataframe(flagged, hide_index=True, width="stretch")
