"""Train: launch a fine-tuning job on the local engine, OpenAI, Azure OpenAI or a compatible server, and watch it."""

import altair as alt
import pandas as pd
import streamlit as st

from studio.playground.compare import Target, usage_snippets
from studio.cost.estimate import estimate_cost
from studio.errors import StudioError
from studio.i18n import LANGUAGE_NAMES, LANGUAGES, translator
from studio.data.io import export_bytes
from studio.providers.jobs import (TERMINAL, checkpoints, control_job, events, get_job, launch_job, list_jobs, metrics_frame,
                         refresh_job, result_file)
from studio.cost.prices import LOCAL_MODEL
from studio.providers.profiles import PROVIDER_KINDS, Profile, api_key_for, ensure_engine, make_client
from studio.cost.validation import validate_bytes
from studio.storage.workspace import Workspace

LOCAL_BASE = "smollm2-135m-instruct"
BADGES = {"succeeded": "🟢", "failed": "🔴", "cancelled": "⚫", "running": "🔵", "paused": "🟡",
          "not_started": "🔴", "uploading": "⚪", "validating_files": "⚪", "queued": "⚪"}

st.set_page_config(page_title="Train · Fine-Tuning Studio", page_icon="🏋️", layout="wide")
lang = st.sidebar.radio("Language · Idioma", LANGUAGES, format_func=LANGUAGE_NAMES.get,
                        index=LANGUAGES.index(st.session_state.get("lang", "en")), horizontal=True)
st.session_state["lang"] = lang
tr = translator(lang)
st.title(tr("train.title"))
workspace = Workspace()
try:
    secrets = dict(st.secrets)
except FileNotFoundError:  # no .streamlit/secrets.toml
    secrets = {}

with st.sidebar:
    kind = st.radio(tr("train.provider"), PROVIDER_KINDS, key="train_provider",
                    format_func=lambda k: tr(f"train.kind_{k}"))
    base_url = st.text_input(tr("train.endpoint"), key="train_base_url") if kind in ("azure", "compatible") else None
    api_version = st.text_input(tr("train.api_version"), "2024-10-21", key="train_api_version") \
        if kind == "azure" else None
    deployment = st.text_input(tr("train.deployment"), key="train_deployment") if kind == "azure" else None
    typed_key = st.text_input(tr("train.api_key"), type="password", key="train_api_key") if kind != "local" else None
profile = Profile(kind=kind, base_url=base_url or None, api_version=api_version, deployment=deployment or None)


def client_for(profile: Profile):
    """An SDK client for ``profile`` with the key from this session, the environment or secrets."""
    key = api_key_for(profile, typed=st.session_state.get("train_api_key"), secrets=secrets)
    return make_client(profile, api_key=key, max_retries=0)  # studio.providers.jobs retries, visibly


if kind == "local":
    try:
        engine, started = ensure_engine()
        st.caption(tr("train.engine_started" if started else "train.engine_running", detail=engine.detail))
    except StudioError as exc:
        st.error(tr("train.engine_failed", error=exc))
elif not api_key_for(profile, typed=typed_key, secrets=secrets):
    st.warning(tr("train.key_missing", provider=tr(f"train.kind_{kind}")))

settings = dict(st.session_state.get("train_settings") or {})
with st.expander(tr("train.launch"), expanded=not list_jobs(workspace)):
    datasets = workspace.datasets()
    if not datasets:
        st.info(tr("train.no_datasets"))
    else:
        dataset = st.selectbox(tr("train.dataset"), datasets, format_func=lambda d: d.name, key="train_dataset")
        versions = workspace.versions(dataset.id)
        left, right = st.columns(2)
        train_version = left.selectbox(tr("train.train_version"), versions, index=len(versions) - 1,
                                       format_func=lambda v: f"{v.name} ({v.rows})", key="train_version")
        valid_version = right.selectbox(tr("train.valid_version"), [None, *versions], key="valid_version",
                                        format_func=lambda v: tr("train.none") if v is None else f"{v.name} ({v.rows})")
        chosen = settings.get("model")
        default_model = LOCAL_BASE if kind == "local" or chosen in (None, LOCAL_MODEL) else chosen
        model = left.text_input(tr("train.model"), default_model, key=f"train_model_{kind}")
        suffix = right.text_input(tr("train.suffix"), settings.get("suffix") or "", max_chars=64, key="train_suffix")
        st.caption(tr("train.settings", epochs=settings.get("epochs", "auto"), batch=settings.get("batch_size", "auto"),
                      lr=settings.get("learning_rate_multiplier", "auto"), seed=settings.get("seed")))
        training = export_bytes(workspace.load_version(train_version.id), to="openai-chat")
        validation = (export_bytes(workspace.load_version(valid_version.id), to="openai-chat")
                      if valid_version else None)
        report = validate_bytes(training, model=model)
        if report.ok:
            st.success(tr("train.valid_ok", rows=report.rows, tokens=int(report.tokens.sum())))
        else:
            st.error(tr("train.valid_errors"))
            st.dataframe(report.findings.head(50), hide_index=True)
        estimate = None
        try:
            estimate = estimate_cost(report.tokens, model=model, epochs=settings.get("epochs", "auto"))
            st.write(tr("train.estimate", usd=f"{estimate.usd:.2f}", epochs=estimate.epochs,
                        tokens=f"{estimate.billed_tokens:,}"))
        except StudioError as exc:
            st.caption(str(exc))
        budget = float(settings.get("budget_usd") or 0)
        confirmed = True
        if estimate and budget and estimate.usd > budget:
            st.warning(tr("train.over_budget", usd=f"{estimate.usd:.2f}", budget=f"{budget:.2f}"))
            confirmed = st.checkbox(tr("train.confirm_budget"), key="train_confirm_budget")
        if st.button(tr("train.launch_button"), disabled=not (report.ok and confirmed), key="train_launch"):
            bar = st.progress(0.0)
            try:
                record = launch_job(workspace, client_for(profile), profile, model=model, training=training,
                                    validation=validation, settings=settings, suffix=suffix or None,
                                    dataset_version_id=train_version.id, estimate_usd=estimate and estimate.usd,
                                    on_progress=lambda name, share: bar.progress(
                                        share, text=tr("train.uploading", name=name)))
                st.session_state["train_job"] = record.id
                st.success(tr("train.launched", job=record.job_id, status=record.status))
            except StudioError as exc:
                st.error(str(exc))

st.subheader(tr("train.jobs"))
records = list_jobs(workspace)
if not records:
    st.info(tr("train.no_jobs"))
    st.stop()
st.dataframe(pd.DataFrame({
    tr("train.status"): [f"{BADGES.get(r.status, '⚪')} {r.status}" for r in records],
    "job": [r.job_id or "—" for r in records], "provider": [r.provider for r in records],
    "model": [r.fine_tuned_model or r.model for r in records]}), hide_index=True)
ids = [r.id for r in records]
current = st.session_state.get("train_job")
picked = st.selectbox(tr("train.pick_job"), ids, index=ids.index(current) if current in ids else 0,
                      format_func=lambda i: next(f"{r.job_id or '—'} · {r.model} · {r.status}"
                                                 for r in records if r.id == i), key="train_pick")


@st.fragment(run_every=3)
def job_detail(record_id: int) -> None:
    """Status, events, charts and controls of one job; reruns alone every few seconds."""
    record = get_job(workspace, record_id)
    job_profile = Profile(**record.profile)
    try:
        client = client_for(job_profile)
        if record.job_id and record.status not in TERMINAL:
            record = refresh_job(workspace, client, record)
        job_events = events(client, record.job_id) if record.job_id else []
    except StudioError as exc:
        st.warning(tr("train.refresh_error", error=exc))
        return
    st.markdown(f"**{BADGES.get(record.status, '⚪')} {record.status}** · `{record.job_id or '—'}`")
    if record.error:
        st.error(tr("train.job_error", error=record.error))
    if record.trained_tokens:
        st.caption(tr("train.trained_tokens", tokens=f"{record.trained_tokens:,}",
                      estimate="—" if record.estimate_usd is None else f"${record.estimate_usd:.2f}"))
    metrics = metrics_frame(job_events)
    st.markdown(f"**{tr('train.charts')}**")
    if metrics.empty:
        st.caption(tr("train.no_metrics"))
    else:
        long = metrics.melt("step", var_name="metric", value_name="value").dropna()
        long["kind"] = long["metric"].str.contains("accuracy").map({True: "accuracy", False: "loss"})
        chart = alt.Chart(long).mark_line(point=True).encode(x="step:Q", y="value:Q", color="metric:N").properties(
            height=220).facet(column="kind:N").resolve_scale(y="independent")
        st.altair_chart(chart)
    buttons = st.columns(4)
    for column, action in zip(buttons, ("cancel", "pause", "resume")):
        if column.button(tr(f"train.{action}"), key=f"job_{action}", disabled=record.status in TERMINAL):
            try:
                control_job(workspace, client, record, action)
            except StudioError as exc:
                st.error(str(exc))
    with st.expander(tr("train.events")):
        st.dataframe(pd.DataFrame([{"created_at": e.created_at, "level": e.level, "message": e.message}
                                   for e in job_events]), hide_index=True)
    if record.job_id and record.status in TERMINAL:
        found = checkpoints(client, record.job_id)
        if found:
            st.markdown(f"**{tr('train.checkpoints')}**")
            st.dataframe(pd.DataFrame([{"step": c.step_number, "model": c.fine_tuned_model_checkpoint,
                                        **(c.metrics.model_dump() if c.metrics else {})} for c in found]),
                         hide_index=True)
            if st.button(tr("train.compare"), key="compare_checkpoints"):
                st.session_state["playground_targets"] = [
                    {"name": "base", "kind": job_profile.kind, "model": record.model},
                    *({"name": f"step {c.step_number}", "kind": job_profile.kind,
                       "model": c.fine_tuned_model_checkpoint} for c in found[-3:])]
                st.switch_page("pages/4_Playground.py")
        job = client.fine_tuning.jobs.retrieve(record.job_id)
        data = result_file(client, job)
        if data:
            st.download_button(tr("train.result_file"), data, f"{record.job_id}-results.csv", key="result_file")
    if record.fine_tuned_model:
        st.markdown(f"**{tr('train.use_model')}**")
        for language, code in usage_snippets(Target("model", job_profile, record.fine_tuned_model)).items():
            st.code(code, language="bash" if language == "curl" else "python")


job_detail(picked)
