"""The Cost page's panels: the settings sidebar (kept for Train), the scan with a progress bar, the metrics, the
charts, the break-even calculator, the problem table and the moderation check."""

from __future__ import annotations

import io
import itertools
from collections.abc import Callable, Iterable
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
    format_usd,
    token_histogram_chart,
)
from studio.cost.messages import finding_message
from studio.cost.prices import LOCAL_MODEL, PriceTable
from studio.cost.problems import check_details, dataset_link, flagged_examples, problem_counts, problem_groups
from studio.cost.sources import check_frame, with_line_ids
from studio.cost.validation import ValidationReport, jsonl_examples, validate_bytes
from studio.data.frame import iter_examples
from studio.editing.editor import DatasetEditor
from studio.i18n import Translator
from studio.providers.train_settings import TrainSettings
from ui import keys
from ui.frame import kept_choice, page_path
from ui.settings import hyperparameter_inputs

NO_VALUE = "—"  # what a table cell or a choice shows for "none" (a file-level finding's row, no preset)
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
            key=kept_choice("cost_model"),
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


# What moderation checks: (source rows or None for 1, 2, ...; the examples; their example ids, None for a line
# that is not an example).
ModerationInput = tuple[list[int] | None, Iterable[Any], list[int | None]]


def frame_examples(frame: pd.DataFrame) -> ModerationInput:
    """What :func:`moderation_panel` checks for an open dataset: its source rows, examples and ids."""
    rows = [int(r) for r in frame["source_row"]] if "source_row" in frame.columns else None
    return rows, iter_examples(frame), [int(i) for i in frame["id"]]


def file_examples(data: bytes) -> ModerationInput:
    """What :func:`moderation_panel` checks for a JSONL file: its lines, their examples and ids (the loader's:
    lines that hold JSON, counted from 0)."""
    lines, examples = jsonl_examples(data)
    counter = itertools.count()
    return lines, examples, [None if e is None else next(counter) for e in examples]


def scan_file(data: bytes, key: tuple, model: str, tr: Translator) -> ValidationReport:
    """:func:`scanned` over a JSONL file's bytes, once per ``key`` (e.g. name, upload id, model); findings at the
    file's line and example id, as the CLI reports them."""

    def scan(progress: Callable[[float], None]) -> ValidationReport:
        report = validate_bytes(data, model=model, on_progress=progress)
        return report.with_findings(with_line_ids(report.findings, io.BytesIO(data)))

    return scanned(None, key, scan, tr)


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
        cols[3].metric(tr("cost.metric_usd"), format_usd(estimate.usd))
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


def findings_shown(findings: pd.DataFrame, tr: Translator) -> pd.DataFrame:
    """``findings`` (a report's, or :func:`~studio.cost.problems.problem_groups`) with ``severity``, ``key`` (the
    check) and ``message`` written in ``tr``'s language: the data keeps its English, the table shows this copy."""
    shown = findings.assign(
        severity=[tr(f"cost.severity_{s}") for s in findings["severity"]],
        key=[tr.label("cost", f"check_{k}") for k in findings["key"]],
        message=[finding_message(m, tr.lang) for m in findings["message"]],
    )
    for column in ("row", "id"):  # a finding about the whole file has neither: "—", not the table's "None"
        if column in shown and shown[column].isna().any():
            shown[column] = [NO_VALUE if pd.isna(v) else str(v) for v in shown[column]]
    return shown


def problems_panel(
    report: ValidationReport, *, editor: DatasetEditor | None, unit: str = "line", tr: Translator
) -> None:
    """The findings grouped by check, errors first; below, the examples of one check, each with its own detail (a
    check such as ``invalid_tool_calls`` says something different about each example); with an open dataset, that
    check's examples open on the Dataset page (in this tab, filtered to them, with a chip that clears the filter)."""
    st.subheader(tr("cost.problems"))
    if report.findings.empty:
        st.success(tr("cost.no_problems"))
        return
    counts = problem_counts(report)  # each count agrees with its noun: "1 warning", "1 aviso"
    st.write(tr("cost.problem_counts", **{k: tr.plural(f"cost.{k}_count", n) for k, n in counts.items()}))
    groups = problem_groups(report, unit=unit, lang=tr.lang)
    shown = findings_shown(groups, tr)
    shown["message"] = [  # the first finding's detail is not every example's: say so
        tr("cost.detail_first", message=m, n=n) if n > 1 else m
        for m, n in zip(shown["message"], shown["details"], strict=True)
    ]
    st.dataframe(
        shown.drop(columns=["ids", "details"]),
        hide_index=True,
        width="stretch",
        column_config={
            "severity": tr("cost.col_severity"),
            "key": tr("cost.col_key"),
            "count": tr("cost.col_count"),
            "rows": tr("cost.col_where"),
            "message": tr("cost.col_message"),
        },
    )
    located = [i for i in range(len(groups)) if groups["rows"].iloc[i]]  # a finding about the whole file has none
    if not located:
        return
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    chosen = left.selectbox(
        tr("cost.open_group"),
        located,
        format_func=lambda i: f"{shown['severity'].iloc[i]} · {shown['key'].iloc[i]} ({shown['count'].iloc[i]})",
        key="cost_open_group",
    )
    details = check_details(
        report, groups["severity"].iloc[chosen], groups["key"].iloc[chosen], unit=unit, lang=tr.lang
    )
    st.dataframe(
        findings_detail_shown(details, tr),
        hide_index=True,
        width="stretch",
        column_config={"where": tr("cost.col_where"), "message": tr("cost.col_message")},
        key="cost_check_details",
    )
    if len(details) < groups["count"].iloc[chosen]:
        st.caption(tr("cost.details_first", n=f"{len(details):,}", total=f"{groups['count'].iloc[chosen]:,}"))
    if editor is not None and groups["ids"].iloc[chosen] and right.button(tr("cost.open_row"), key="cost_open_rows"):
        link = dataset_link(
            groups["ids"].iloc[chosen], dataset_id=editor.dataset_id, version_id=editor.info.head_version_id
        )
        st.switch_page(page_path("dataset"), query_params=link)


def findings_detail_shown(details: pd.DataFrame, tr: Translator) -> pd.DataFrame:
    """:func:`~studio.cost.problems.check_details` with each message written in ``tr``'s language."""
    return details.assign(message=[finding_message(m, tr.lang) for m in details["message"]])


_MODERATION = "_cost_moderation"  # the last check's result: {"key", "source", "rows", "flagged", "table"}


def moderation_panel(
    examples: Callable[[], ModerationInput],
    key: tuple,
    tr: Translator,
    *,
    editor: DatasetEditor | None = None,
    unit: str = "line",
) -> None:
    """On demand: OpenAI's moderation endpoint with a key, else the offline word list. ``examples()`` gives what
    to check; the result stays (for this ``key``: the dataset revision or the file) until the data changes, and
    names each flagged example (id, source line, categories), which open on the Dataset page with an ``editor``."""
    kept = st.session_state.get(_MODERATION)
    if kept is not None and kept["key"] != key:
        kept = st.session_state[_MODERATION] = None
    with st.expander(tr("cost.moderation"), expanded=kept is not None):
        st.caption(tr("cost.moderation_intro"))
        if st.button(tr("cost.moderation_run"), key="cost_moderate"):
            kept = st.session_state[_MODERATION] = _moderate(examples, key, unit, tr.lang)
        if kept is None:
            return
        st.info(tr(f"cost.moderation_{kept['source']}", flagged=kept["flagged"], rows=kept["rows"]))
        if not kept["flagged"]:
            st.success(tr("cost.moderation_none", rows=f"{kept['rows']:,}"))
            return
        table: pd.DataFrame = kept["table"]
        st.dataframe(
            table.assign(categories=[_category_shown(c, tr) for c in table["categories"]]),
            hide_index=True,
            width="stretch",
            column_config={
                "id": st.column_config.NumberColumn(tr("cost.col_id"), format="%d"),
                "where": tr("cost.col_where"),
                "categories": tr("cost.col_categories"),
            },
        )
        ids = [int(i) for i in table["id"].dropna()]
        if (
            editor is not None
            and ids
            and st.button(tr.plural("cost.moderation_open", len(ids)), key="cost_open_flagged")
        ):
            link = dataset_link(ids, dataset_id=editor.dataset_id, version_id=editor.info.head_version_id)
            st.switch_page(page_path("dataset"), query_params=link)


def _moderate(examples: Callable[[], ModerationInput], key: tuple, unit: str, lang: str) -> dict[str, Any]:
    from studio.providers.profiles import Profile, api_key_for, make_client
    from studio.quality.moderation import example_texts, moderate

    profile = Profile(kind="openai")
    api_key = api_key_for(profile)
    client = make_client(profile, api_key=api_key) if api_key else None
    rows, found, ids = examples()
    bar = st.progress(0.0)
    outcome = moderate(example_texts(found), rows=rows, client=client, on_progress=bar.progress)
    bar.empty()
    return {
        "key": key,
        "source": outcome.source,
        "rows": outcome.rows,
        "flagged": outcome.flagged,
        "table": flagged_examples(outcome.results, ids, unit=unit, lang=lang),
    }


_BLOCKLIST = "blocklist:"


def _category_shown(category: str, tr: Translator) -> str:
    """A moderation category as shown: the offline check's ``blocklist: word`` names the rule in the page's language
    (the word is data); OpenAI's categories (``harassment``, ``violence/graphic``…) are the API's own names."""
    if category.startswith(_BLOCKLIST):
        return f"{tr.label('rules', 'blocklist')}:{category[len(_BLOCKLIST) :]}"
    return category
