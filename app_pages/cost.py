"""Cost: validate the chat format, count tokens exactly, price the training job and keep its settings."""

from collections.abc import Callable
from functools import partial
from pathlib import Path

import streamlit as st

from studio.cost.estimate import estimate_cost, usd_amount
from studio.cost.prices import load_prices
from studio.cost.problems import source_unit
from ui.cost import (
    ModerationInput,
    break_even_panel,
    charts,
    file_examples,
    frame_examples,
    metrics,
    moderation_panel,
    problems_panel,
    scan_file,
    scan_frame,
    settings_sidebar,
)
from ui.frame import page, show_errors
from ui.open_dataset import dataset_picker, link_notice

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "style_demo.jsonl"

tr = page("cost")
st.caption(tr("cost.intro"))

with show_errors():
    prices = load_prices()
    settings = settings_sidebar(prices, tr)
    model = settings.model
    assert model is not None  # the sidebar's model menu always has a choice
    editor = dataset_picker(tr, key="cost")  # the dataset open on every page; none: a file or the sample
    link_notice(tr)  # a stale URL's version, offered (ui/open_dataset.py)
    examples: Callable[[], ModerationInput]  # what the moderation check reads, once asked to
    unit = "line"  # what the source's rows count (line, item, row)
    source: tuple[object, ...]  # what the moderation result belongs to

    if editor is not None:
        label = editor.info.name
        report = scan_frame(editor.frame, model, tr)
        examples = partial(frame_examples, editor.frame)
        unit, source = source_unit(editor.info.format), ("dataset", editor.dataset_id, editor.head_revision)
    else:
        st.info(tr("cost.upload"))
        upload = st.file_uploader(tr("cost.upload_label"), type=["jsonl"], key="cost_upload")
        if upload is None and not SAMPLE.exists():
            st.warning(tr("cost.no_data"))
            st.stop()
        data, label = (upload.getvalue(), upload.name) if upload else (SAMPLE.read_bytes(), SAMPLE.name)
        if upload is None:
            st.caption(tr("cost.sample", name=SAMPLE.name))
        version = upload.file_id if upload else SAMPLE.stat().st_mtime
        report = scan_file(data, (label, version, model), model, tr)
        examples = partial(file_examples, data)
        source = ("file", label, version)
    st.markdown(tr.plural("cost.dataset", report.rows, label=label, rows=f"{report.rows:,}"))

    estimate = estimate_cost(report.tokens, model=model, epochs=settings.epochs, prices=prices)
    metrics(estimate, tr)
    if estimate.epochs_auto:
        st.caption(tr("cost.auto_note"))
    st.caption(tr("cost.prices_note", as_of=prices.as_of, source=prices.source))
    if report.approximate:
        st.warning(tr("cost.approximate"))
    if settings.over_budget(estimate.usd):
        st.warning(tr("cost.over_budget", usd=usd_amount(estimate.usd), budget=f"{settings.budget_usd:,.2f}"))

    charts(report, estimate, prices, tr)
    break_even_panel(model, estimate, prices, tr)
    problems_panel(report, editor=editor, unit=unit, tr=tr)  # a file's rows have no Dataset page to open on
    moderation_panel(examples, source, tr, editor=editor, unit=unit)
