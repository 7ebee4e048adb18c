"""Cost: validate the chat format, count tokens exactly, price the training job and keep its settings."""

from pathlib import Path

import streamlit as st

from studio.cost.estimate import (break_even, break_even_chart, cost_by_epochs, cost_epochs_chart, estimate_cost,
                         format_duration, token_histogram_chart)
from studio.data.frame import iter_examples
from studio.errors import StudioError
from studio.i18n import LANGUAGE_NAMES, LANGUAGES, translator
from studio.cost.prices import LOCAL_MODEL, load_prices
from studio.cost.validation import check_examples, jsonl_examples, validate_bytes

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "style_demo.jsonl"
BATCH_SIZES = ["auto", 1, 2, 4, 8, 16, 32, 64, 128, 256]
LR_MULTIPLIERS = ["auto", 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0]

st.set_page_config(page_title="Cost · Fine-Tuning Studio", page_icon="💲", layout="wide")
lang = st.sidebar.radio("Language · Idioma", LANGUAGES, format_func=LANGUAGE_NAMES.get,
                        index=LANGUAGES.index(st.session_state.get("lang", "en")), horizontal=True)
st.session_state["lang"] = lang
tr = translator(lang)
st.title(tr("cost.title"))
st.caption(tr("cost.intro"))


def scanned(source: object, key: tuple, run) -> object:
    """The validation report of ``source`` (compared by identity) and ``key``, computed once, with a progress bar."""
    cached = st.session_state.get("_cost_scan")
    if cached and cached[0] is source and cached[1] == key:
        return cached[2]
    bar = st.progress(0.0, text=tr("cost.counting"))
    report = run(lambda fraction: bar.progress(fraction, text=tr("cost.counting")))
    bar.empty()
    st.session_state["_cost_scan"] = (source, key, report)
    return report


try:
    prices = load_prices()
    saved = st.session_state.get("train_settings", {})
    models = [*prices.model_names, LOCAL_MODEL]
    opened = st.session_state.get("dataset")  # the Dataset page's DatasetSession
    editor = opened.editor if opened is not None else None
    frame = editor.frame if editor is not None else None

    # Widget keys vanish when the user leaves the page: start them from the settings kept for Train.
    manual = isinstance(saved.get("epochs"), int)
    defaults = {"cost_model": saved.get("model"), "cost_epochs_mode": "manual" if manual else "auto",
                "cost_epochs": saved["epochs"] if manual else 3, "cost_batch": saved.get("batch_size"),
                "cost_lr": saved.get("learning_rate_multiplier"), "cost_seed": saved.get("seed"),
                "cost_suffix": saved.get("suffix") or "", "cost_budget": float(saved.get("budget_usd") or 0.0)}
    choices = {"cost_model": models, "cost_batch": BATCH_SIZES, "cost_lr": LR_MULTIPLIERS}
    for key, value in defaults.items():
        if key not in choices or value in choices[key]:
            st.session_state.setdefault(key, value)

    with st.sidebar:
        st.subheader(tr("cost.settings"))
        model = st.selectbox(tr("cost.model"), models, key="cost_model", help=tr("cost.model_help"),
                             format_func=lambda m: tr("cost.local_engine") if m == LOCAL_MODEL else m)
        st.caption(tr("cost.model_note", date=prices.openai_new_jobs_until))
        mode = st.radio(tr("cost.epochs_mode"), ["auto", "manual"], key="cost_epochs_mode", horizontal=True,
                        format_func=lambda m: tr(f"cost.epochs_{m}"), help=tr("cost.epochs_help"))
        epochs = "auto" if mode == "auto" else st.number_input(tr("cost.epochs_value"), 1, 50, key="cost_epochs")
        batch_size = st.selectbox(tr("cost.batch_size"), BATCH_SIZES, key="cost_batch", help=tr("cost.batch_help"))
        lr = st.selectbox(tr("cost.lr"), LR_MULTIPLIERS, key="cost_lr", help=tr("cost.lr_help"))
        seed = st.number_input(tr("cost.seed"), 0, 2**31 - 1, key="cost_seed", help=tr("cost.seed_help"))
        suffix = st.text_input(tr("cost.suffix"), max_chars=64, key="cost_suffix", help=tr("cost.suffix_help"))
        budget = st.number_input(tr("cost.budget"), 0.0, step=10.0, key="cost_budget", help=tr("cost.budget_help"))
    st.session_state["train_settings"] = {
        "model": model, "epochs": epochs if epochs == "auto" else int(epochs), "batch_size": batch_size,
        "learning_rate_multiplier": lr, "seed": None if seed is None else int(seed), "suffix": suffix.strip(),
        "budget_usd": float(budget) or None,
    }
    st.sidebar.caption(tr("cost.saved"))

    if frame is not None:
        label = editor.info.name
        report = scanned(frame, (model,),
                         lambda progress: check_examples(list(iter_examples(frame)), model=model,
                                                         ids=frame["id"].tolist(), on_progress=progress))
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
                         lambda progress: validate_bytes(data, model=model, on_progress=progress))
    st.markdown(tr("cost.dataset", label=label, rows=f"{report.rows:,}"))

    estimate = estimate_cost(report.tokens, model=model, epochs=epochs, prices=prices)
    cols = st.columns(5)
    cols[0].metric(tr("cost.metric_examples"), f"{estimate.rows:,}")
    cols[1].metric(tr("cost.metric_tokens"), f"{estimate.billed_tokens:,}")
    cols[2].metric(tr("cost.metric_epochs"), estimate.epochs)
    if estimate.local:
        cols[3].metric(tr("cost.metric_time"), format_duration(estimate.training_seconds), tr("cost.free"),
                       delta_color="off")
    else:
        cols[3].metric(tr("cost.metric_usd"), f"${estimate.usd:,.2f}")
    over = f"{estimate.over_limit:,}" if estimate.limit else tr("cost.limit_unknown")
    cols[4].metric(tr("cost.metric_over"), over)
    if estimate.epochs_auto:
        st.caption(tr("cost.auto_note"))
    st.caption(tr("cost.prices_note", as_of=prices.as_of, source=prices.source))
    if report.approximate:
        st.warning(tr("cost.approximate"))
    if budget and estimate.usd > budget:
        st.warning(tr("cost.over_budget", usd=f"{estimate.usd:,.2f}", budget=f"{budget:,.2f}"))

    axes = {name: tr(f"cost.axis_{name}") for name in ("tokens", "examples", "epochs", "usd", "model", "month")}
    left, right = st.columns(2)
    with left:
        st.subheader(tr("cost.histogram"))
        st.altair_chart(token_histogram_chart(report.tokens, limit=estimate.limit, labels=axes), width="stretch")
        if estimate.limit:
            st.caption(tr("cost.histogram_note", limit=f"{estimate.limit:,}"))
    with right:
        st.subheader(tr("cost.cost_chart"))
        st.altair_chart(cost_epochs_chart(cost_by_epochs(report.tokens, prices=prices), labels=axes),
                        width="stretch")
        st.caption(tr("cost.tokens_note", encoding=report.encoding))

    with st.expander(tr("cost.break_even")):
        st.caption(tr("cost.break_even_intro"))
        if estimate.local:
            st.info(tr("cost.break_even_local"))
        else:
            c1, c2, c3, c4 = st.columns(4)
            long_prompt = c1.number_input(tr("cost.base_prompt"), 0, value=2_000, step=100, key="cost_long")
            short_prompt = c2.number_input(tr("cost.tuned_prompt"), 0, value=200, step=50, key="cost_short")
            answer = c3.number_input(tr("cost.answer"), 0, value=300, step=50, key="cost_answer")
            requests = c4.number_input(tr("cost.requests"), 0, value=100_000, step=10_000, key="cost_requests")
            result = break_even(model=model, base_prompt_tokens=long_prompt, tuned_prompt_tokens=short_prompt,
                                answer_tokens=answer, requests_per_month=requests, training_usd=estimate.usd,
                                prices=prices)
            st.write(tr("cost.monthly", base=f"{result.base_monthly_usd:,.2f}",
                        tuned=f"{result.tuned_monthly_usd:,.2f}"))
            if result.payback_month is None:
                st.warning(tr("cost.never"))
            else:
                st.success(tr("cost.payback", month=result.payback_month))
            options = {"base": tr("cost.option_base"), "fine_tuned": tr("cost.option_tuned")}
            st.altair_chart(break_even_chart(result, labels={**axes, "options": options}), width="stretch")

    st.subheader(tr("cost.problems"))
    findings = report.findings
    if findings.empty:
        st.success(tr("cost.no_problems"))
    else:
        st.write(tr("cost.problem_counts", errors=sum(report.errors.values()),
                    warnings=sum(report.warnings.values()), advice=sum(report.advice.values())))
        if frame is not None:  # rows of the loaded dataset: link each one to the Dataset page
            findings = findings.assign(open="Dataset?row=" + findings["row"].astype("string")
                                       + "&id=" + findings["id"].astype("string"))
        st.dataframe(findings, hide_index=True, width="stretch", column_config={
            "row": tr("cost.col_row"), "id": tr("cost.col_id"), "severity": tr("cost.col_severity"),
            "key": tr("cost.col_key"), "message": tr("cost.col_message"),
            "open": st.column_config.LinkColumn(tr("cost.open_row"), display_text=tr("cost.open_row")),
        })

    with st.expander(tr("cost.moderation")):
        st.caption(tr("cost.moderation_intro"))
        if st.button(tr("cost.moderation_run"), key="cost_moderate"):
            from studio.quality.moderation import example_texts, moderate
            from studio.providers.profiles import Profile, api_key_for, make_client

            profile = Profile(kind="openai")
            key = api_key_for(profile)
            client = make_client(profile, api_key=key) if key else None
            rows, examples = (None, iter_examples(frame)) if frame is not None else jsonl_examples(data)
            bar = st.progress(0.0)
            outcome = moderate(example_texts(examples), rows=rows, client=client, on_progress=bar.progress)
            bar.empty()
            st.info(tr(f"cost.moderation_{outcome.source}", flagged=outcome.flagged, rows=outcome.rows))
            st.dataframe(outcome.results[outcome.results["flagged"]], hide_index=True, width="stretch")
except StudioError as exc:
    st.error(str(exc))
