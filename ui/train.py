"""The Train page's panels: provider and key (sidebar), launch a job, and one job's live detail."""

from __future__ import annotations

from typing import Any

import altair as alt
import streamlit as st

from studio.cost.estimate import estimate_cost
from studio.cost.prices import LOCAL_MODEL
from studio.errors import StudioError
from studio.i18n import Translator
from studio.playground.compare import Target, usage_snippets
from studio.providers.job_status import checkpoints_table, compare_targets, events_table, metrics_long, status_label
from studio.providers.jobs import (
    TERMINAL,
    checkpoints,
    control_job,
    events,
    get_job,
    launch_job,
    metrics_frame,
    refresh_job,
    result_file,
)
from studio.providers.profiles import PROVIDER_KINDS, Profile, api_key_for, ensure_engine, make_client
from studio.providers.train_settings import TrainSettings, base_model
from studio.providers.training_data import TrainingData, prepare_training_data
from studio.storage.workspace import Workspace
from ui import keys
from ui.frame import page_path, secrets, show_errors

_PREPARED = "_train_prepared"
_KEY = "train_api_key"


def provider_sidebar(tr: Translator) -> Profile:
    """Provider, endpoint, Azure version and deployment, and the API key field (kept in the session only)."""
    with st.sidebar:
        kind = st.radio(
            tr("train.provider"), PROVIDER_KINDS, key="train_provider", format_func=lambda k: tr(f"train.kind_{k}")
        )
        base_url = (
            st.text_input(tr("train.endpoint"), key="train_base_url") if kind in ("azure", "compatible") else None
        )
        api_version = (
            st.text_input(tr("train.api_version"), "2024-10-21", key="train_api_version") if kind == "azure" else None
        )
        deployment = st.text_input(tr("train.deployment"), key="train_deployment") if kind == "azure" else None
        if kind != "local":
            st.text_input(tr("train.api_key"), type="password", key=_KEY)
    return Profile(kind=kind, base_url=base_url or None, api_version=api_version, deployment=deployment or None)


def api_key(profile: Profile) -> str | None:
    """The key for ``profile``: typed in this session, else the environment, else Streamlit secrets."""
    return api_key_for(profile, typed=st.session_state.get(_KEY), secrets=secrets())


def client_for(profile: Profile) -> Any:
    """An SDK client for ``profile`` (no SDK retries: studio.providers.jobs retries, visibly)."""
    return make_client(profile, api_key=api_key(profile), max_retries=0)


def provider_status(profile: Profile, tr: Translator) -> None:
    """Start the local engine when it is the provider and not running; warn when a cloud provider has no key."""
    if profile.kind == "local":
        try:
            engine, started = ensure_engine()
            st.caption(tr("train.engine_started" if started else "train.engine_running", detail=engine.detail))
        except StudioError as exc:
            st.error(tr("train.engine_failed", error=exc))
    elif not api_key(profile):
        st.warning(tr("train.key_missing", provider=tr(f"train.kind_{profile.kind}")))


def prepared(workspace: Workspace, training: int, validation: int | None, model: str) -> TrainingData:
    """:func:`~studio.providers.training_data.prepare_training_data`, once per (workspace, versions, model): a
    rerun (any widget) reuses it, since versions never change (100k rows took 7.5 s to export and validate)."""
    key = (str(workspace.path), training, validation, model)
    kept = st.session_state.get(_PREPARED)
    if kept is None or kept[0] != key:
        kept = (key, prepare_training_data(workspace, training, validation, model=model))
        st.session_state[_PREPARED] = kept
    return kept[1]


def launch_panel(workspace: Workspace, profile: Profile, settings: TrainSettings, tr: Translator) -> None:
    """Pick the versions and base model, validate, estimate, check the budget, launch."""
    datasets = workspace.datasets()
    if not datasets:
        st.info(tr("train.no_datasets"))
        return
    dataset = st.selectbox(tr("train.dataset"), datasets, format_func=lambda d: d.name, key="train_dataset")
    versions = workspace.versions(dataset.id)
    left, right = st.columns(2)
    train_version = left.selectbox(
        tr("train.train_version"),
        versions,
        index=len(versions) - 1,
        format_func=lambda v: f"{v.name} ({v.rows})",
        key="train_version",
    )
    valid_version = right.selectbox(
        tr("train.valid_version"),
        [None, *versions],
        key="valid_version",
        format_func=lambda v: tr("train.none") if v is None else f"{v.name} ({v.rows})",
    )
    model = left.text_input(
        tr("train.model"),
        base_model(profile.kind, settings.model, local_model=LOCAL_MODEL),
        key=f"train_model_{profile.kind}",
    )
    suffix = right.text_input(tr("train.suffix"), settings.suffix, max_chars=64, key="train_suffix")
    st.caption(
        tr(
            "train.settings",
            epochs=settings.epochs,
            batch=settings.batch_size,
            lr=settings.learning_rate_multiplier,
            seed=settings.seed,
        )
    )
    data = prepared(workspace, train_version.id, valid_version.id if valid_version else None, model)
    if data.report.ok:
        st.success(tr("train.valid_ok", rows=data.report.rows, tokens=int(data.report.tokens.sum())))
    else:
        st.error(tr("train.valid_errors"))
        st.dataframe(data.report.findings.head(50), hide_index=True)
    estimate = None
    try:
        estimate = estimate_cost(data.report.tokens, model=model, epochs=settings.epochs)
        st.write(
            tr(
                "train.estimate",
                usd=f"{estimate.usd:.2f}",
                epochs=estimate.epochs,
                tokens=f"{estimate.billed_tokens:,}",
            )
        )
    except StudioError as exc:  # no price for this model: the job can still be launched
        st.caption(str(exc))
    confirmed = True
    if estimate and settings.over_budget(estimate.usd):
        st.warning(tr("train.over_budget", usd=f"{estimate.usd:.2f}", budget=f"{settings.budget_usd:.2f}"))
        confirmed = st.checkbox(tr("train.confirm_budget"), key="train_confirm_budget")
    if st.button(tr("train.launch_button"), disabled=not (data.report.ok and confirmed), key="train_launch"):
        bar = st.progress(0.0)
        with show_errors():
            record = launch_job(
                workspace,
                client_for(profile),
                profile,
                model=model,
                training=data.training,
                validation=data.validation,
                settings=settings.to_dict(),
                suffix=suffix or None,
                dataset_version_id=train_version.id,
                estimate_usd=estimate.usd if estimate else None,
                on_progress=lambda name, share: bar.progress(share, text=tr("train.uploading", name=name)),
            )
            st.session_state[keys.TRAIN_JOB] = record.id
            st.success(tr("train.launched", job=record.job_id, status=record.status))


REFRESH_S = 3.0


def refresh_every(status: str) -> float | None:
    """Seconds between the job view's own reruns: every few seconds while the job can still change by itself
    (validating, queued, running); never once it has ended or is paused, so an open tab then costs nothing."""
    return None if status in (*TERMINAL, "paused") else REFRESH_S


def job_detail(workspace: Workspace, record_id: int, tr: Translator) -> None:
    """Status, events, charts and controls of one job; reruns alone every few seconds while the job is active."""
    every = refresh_every(get_job(workspace, record_id).status)
    st.fragment(_job_detail, run_every=every)(workspace, record_id, tr, every)


def _job_detail(workspace: Workspace, record_id: int, tr: Translator, every: float | None) -> None:
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
    st.markdown(f"**{status_label(record.status)}** · `{record.job_id or '—'}`")
    if record.error:
        st.error(tr("train.job_error", error=record.error))
    if record.trained_tokens:
        st.caption(
            tr(
                "train.trained_tokens",
                tokens=f"{record.trained_tokens:,}",
                estimate="—" if record.estimate_usd is None else f"${record.estimate_usd:.2f}",
            )
        )
    metrics = metrics_frame(job_events)
    st.markdown(f"**{tr('train.charts')}**")
    if metrics.empty:
        st.caption(tr("train.no_metrics"))
    else:
        st.altair_chart(
            alt.Chart(metrics_long(metrics))
            .mark_line(point=True)
            .encode(x="step:Q", y="value:Q", color="metric:N")
            .properties(height=220)
            .facet(column="kind:N")
            .resolve_scale(y="independent")
        )
    # Three buttons in four columns: the last column stays empty.
    for column, action in zip(st.columns(4), ("cancel", "pause", "resume"), strict=False):
        if column.button(tr(f"train.{action}"), key=f"job_{action}", disabled=record.status in TERMINAL):
            with show_errors():
                control_job(workspace, client, record, action)
    with st.expander(tr("train.events")):
        st.dataframe(events_table(job_events), hide_index=True)
    if record.job_id and record.status in TERMINAL:
        found = checkpoints(client, record.job_id)
        if found:
            st.markdown(f"**{tr('train.checkpoints')}**")
            st.dataframe(checkpoints_table(found), hide_index=True)
            if st.button(tr("train.compare"), key="compare_checkpoints"):
                st.session_state[keys.PLAYGROUND_TARGETS] = compare_targets(record, job_profile.kind, found)
                st.switch_page(page_path("playground"))
        data = result_file(client, client.fine_tuning.jobs.retrieve(record.job_id))
        if data:
            st.download_button(tr("train.result_file"), data, f"{record.job_id}-results.csv", key="result_file")
    if record.fine_tuned_model:
        st.markdown(f"**{tr('train.use_model')}**")
        for language, code in usage_snippets(Target("model", job_profile, record.fine_tuned_model)).items():
            st.code(code, language="bash" if language == "curl" else "python")
    if refresh_every(get_job(workspace, record_id).status) != every:
        st.rerun()  # the job ended, paused or resumed: the whole page decides again whether to keep refreshing
