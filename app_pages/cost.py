"""Cost: validate the chat format, count tokens exactly, price the training job and keep its settings."""

from pathlib import Path

import streamlit as st

from studio.cost.estimate import estimate_cost
from studio.cost.prices import load_prices
from studio.cost.validation import check_examples, jsonl_examples, validate_bytes
from studio.data.frame import iter_examples
from ui import keys
from ui.cost import break_even_panel, charts, metrics, moderation_panel, problems_panel, scanned, settings_sidebar
from ui.frame import page, show_errors

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "style_demo.jsonl"

tr = page("cost")
st.caption(tr("cost.intro"))

with show_errors():
    prices = load_prices()
    settings = settings_sidebar(prices, tr)
    model = settings.model
    opened = st.session_state.get(keys.DATASET)  # the Dataset page's DatasetSession
    editor = opened.editor if opened is not None else None
    frame = editor.frame if editor is not None else None

    if frame is not None:
        label, data = editor.info.name, None
        report = scanned(frame, (model,), lambda progress: check_examples(
            list(iter_examples(frame)), model=model, ids=frame["id"].tolist(), on_progress=progress), tr)
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
        report = scanned(None, (label, version, model),
                         lambda progress: validate_bytes(data, model=model, on_progress=progress), tr)
    st.markdown(tr("cost.dataset", label=label, rows=f"{report.rows:,}"))

    estimate = estimate_cost(report.tokens, model=model, epochs=settings.epochs, prices=prices)
    metrics(estimate, tr)
    if estimate.epochs_auto:
        st.caption(tr("cost.auto_note"))
    st.caption(tr("cost.prices_note", as_of=prices.as_of, source=prices.source))
    if report.approximate:
        st.warning(tr("cost.approximate"))
    if settings.over_budget(estimate.usd):
        st.warning(tr("cost.over_budget", usd=f"{estimate.usd:,.2f}", budget=f"{settings.budget_usd:,.2f}"))

    charts(report, estimate, prices, tr)
    break_even_panel(model, estimate, prices, tr)
    # Rows of the open dataset link to the Dataset page (its URL path); a file's rows have nowhere to go.
    problems_panel(report, link_to="Dataset" if frame is not None else None, tr=tr)
    moderation_panel(lambda: (None, iter_examples(frame)) if frame is not None else jsonl_examples(data), tr)
