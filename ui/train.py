"""The Train page's panels: provider and key (sidebar), launch a job, and one job's live detail."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from studio.cost.estimate import estimate_cost, format_duration, format_usd, usd_amount
from studio.cost.format_checks import MIN_EXAMPLES
from studio.cost.prices import LOCAL_MODEL
from studio.errors import EngineUnavailableError, StudioError
from studio.i18n import Translator
from studio.playground.compare import Target
from studio.providers.job_events import event_text
from studio.providers.job_status import (
    checkpoints_table,
    compare_targets,
    events_table,
    job_progress,
    metrics_long,
    status_label,
)
from studio.providers.jobs import (
    EXPORT_FORMATS,
    TERMINAL,
    checkpoints,
    control_job,
    events,
    export_model,
    get_job,
    job_metadata,
    job_request,
    launch_job,
    metrics_frame,
    refresh_job,
    result_file,
)
from studio.providers.profiles import PROVIDER_KINDS, Profile, api_key_for, ensure_engine, make_client
from studio.providers.train_settings import (
    ENGINE_KINDS,
    ENGINE_OPTIONS,
    TrainSettings,
    apply_preset,
    base_model,
    preset_names,
    save_preset,
)
from studio.providers.training_data import TrainingData, default_versions, prepare_training_data
from studio.quality.splits import version_split
from studio.storage.workspace import Workspace
from ui import keys
from ui.cost import NO_VALUE, findings_shown
from ui.frame import kept_choice, page_path, secrets, show_errors
from ui.playground import usage_code
from ui.settings import hyperparameter_inputs

_PREPARED = "_train_prepared"
_KEY = "train_api_key"


def provider_sidebar(tr: Translator) -> Profile:
    """Provider, endpoint, Azure version and deployment, and the API key field (kept in the session only)."""
    with st.sidebar:
        kind = st.radio(
            tr("train.provider"),
            PROVIDER_KINDS,
            key=kept_choice("train_provider"),
            format_func=lambda k: tr(f"train.kind_{k}"),
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
            st.caption(tr("train.engine_started" if started else "train.engine_running", detail=engine.shown(tr.lang)))
        except EngineUnavailableError as exc:
            st.error(tr("train.engine_failed", error=exc.shown(tr.lang)))
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
    ids = [d.id for d in datasets]
    opened = st.session_state.get(keys.DATASET)  # the dataset open on the Dataset page comes first
    open_id = opened.editor.dataset_id if opened is not None and opened.editor is not None else None
    dataset = st.selectbox(
        tr("train.dataset"),
        datasets,
        index=ids.index(open_id) if open_id in ids else 0,
        format_func=lambda d: d.name,
        key=f"train_dataset-{open_id}",
    )
    versions = workspace.versions(dataset.id)
    version_ids = [v.id for v in versions]
    # Never a test split, nor a validation split the engine would refuse (too few examples: said below).
    train_id, valid_id, too_small = default_versions(versions, dataset.head_version_id)
    left, right = st.columns(2)
    train_version = left.selectbox(
        tr("train.train_version"),
        versions,
        index=version_ids.index(train_id),
        format_func=lambda v: f"{v.name} ({v.rows})",
        key=f"train_version-{dataset.id}-{train_id}",
    )
    valid_choices = [None, *versions]
    valid_version = right.selectbox(
        tr("train.valid_version"),
        valid_choices,
        index=0 if valid_id is None else version_ids.index(valid_id) + 1,
        key=kept_choice(f"valid_version-{dataset.id}-{valid_id}"),
        format_func=lambda v: tr("train.none") if v is None else f"{v.name} ({v.rows})",
    )
    if too_small is not None and valid_version is None:
        right.caption(
            tr.plural(
                "train.valid_too_small", too_small.rows, name=too_small.name, rows=too_small.rows, minimum=MIN_EXAMPLES
            )
        )
    if (version_split(train_version.name) or ("",))[0] == "test":
        st.warning(tr("train.test_split_chosen"))
    model = left.text_input(
        tr("train.model"),
        base_model(profile.kind, settings.model, local_model=LOCAL_MODEL),
        key=f"train_model_{profile.kind}",
    )
    suffix = right.text_input(tr("train.suffix"), settings.suffix, max_chars=64, key="train_suffix")
    epochs, batch, lr = hyperparameter_inputs(settings, tr, prefix="train", container=st.columns(3)[0])
    settings = replace(settings, epochs=epochs, batch_size=batch, learning_rate_multiplier=lr)
    settings = advanced_panel(workspace, profile, settings, tr)
    st.session_state[keys.TRAIN_SETTINGS] = settings.to_dict()  # kept for the next visit and the Cost page
    with st.expander(tr("train.preview")):
        st.caption(tr("train.preview_note"))
        st.json(
            job_request(
                profile,
                model=model,
                training_file="<training file id>",
                validation_file="<validation file id>" if valid_version else None,
                settings=settings.to_dict(),
                suffix=suffix or None,
                metadata=job_metadata(workspace, train_version.id),
            )
        )
    data = prepared(workspace, train_version.id, valid_version.id if valid_version else None, model)
    if data.report.ok:
        st.success(tr("train.valid_ok", rows=f"{data.report.rows:,}", tokens=f"{int(data.report.tokens.sum()):,}"))
    else:
        st.error(tr("train.valid_errors"))
        st.dataframe(tr.columns(findings_shown(data.report.findings.head(50), tr)), hide_index=True)
    if data.validation_report is not None and not data.validation_report.ok and valid_version is not None:
        st.error(tr("train.validation_file_errors", name=valid_version.name))
        st.dataframe(tr.columns(findings_shown(data.validation_report.findings.head(50), tr)), hide_index=True)
    estimate = None
    if profile.kind == "local":  # the local engine has no price: it costs this machine's time
        st.caption(tr("train.local_free"))
    else:
        try:
            estimate = estimate_cost(data.report.tokens, model=model, epochs=settings.epochs)
            st.write(
                tr.plural(
                    "train.estimate",
                    estimate.epochs,
                    usd=usd_amount(estimate.usd),
                    tokens=f"{estimate.billed_tokens:,}",
                )
            )
        except StudioError as exc:  # no price for this model: the job can still be launched
            st.caption(str(exc))
    confirmed = True
    validation_ok = data.validation_report is None or data.validation_report.ok
    if estimate and settings.over_budget(estimate.usd):
        st.warning(tr("train.over_budget", usd=usd_amount(estimate.usd), budget=usd_amount(settings.budget_usd or 0)))
        confirmed = st.checkbox(tr("train.confirm_budget"), key="train_confirm_budget")
    if st.button(
        tr("train.launch_button"), disabled=not (data.report.ok and validation_ok and confirmed), key="train_launch"
    ):
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


_OPTION_STEPS = {"lora_rank": 1, "lora_alpha": 1.0, "lora_dropout": 0.05, "max_length": 64, "warmup_ratio": 0.05}
_SAVED_PRESET = "_train_saved_preset"
_ENGINE_DEFAULTS = {"lora_rank": 16, "lora_alpha": 32, "lora_dropout": 0.0, "max_length": 1024, "warmup_ratio": 0.1}


def advanced_panel(workspace: Workspace, profile: Profile, settings: TrainSettings, tr: Translator) -> TrainSettings:
    """ "Advanced": named presets (apply, save) and the studio engine's options (LoRA rank/alpha/dropout, max
    length, warm-up, packing; empty = the engine's default). Returns the settings to launch with (the caller keeps
    them under :data:`ui.keys.TRAIN_SETTINGS`)."""
    with st.expander(tr("train.advanced")):
        names = preset_names(workspace)
        if saved := st.session_state.pop(_SAVED_PRESET, None):  # before the box: it shows the preset just saved
            st.session_state["train_preset"] = saved
            st.toast(tr("train.preset_saved", name=saved))
        left, right = st.columns([3, 1])
        chosen = left.selectbox(
            tr("train.preset"), [None, *names], key="train_preset", format_func=lambda n: n or NO_VALUE
        )
        if right.button(tr("train.apply_preset"), disabled=chosen is None, key="train_apply_preset") and chosen:
            with show_errors():
                settings = apply_preset(workspace, chosen, settings)
                for key in (*ENGINE_OPTIONS, "packing"):  # widgets take their values from their keys
                    st.session_state[f"train_{key}"] = getattr(settings, key)
                st.toast(tr("train.preset_applied", name=chosen))
        if profile.kind in ENGINE_KINDS:
            st.caption(tr("train.engine_options"))
            columns = st.columns(3)
            values: dict[str, Any] = {}
            for column, (key, (kind, low, high)) in zip(columns * 2, ENGINE_OPTIONS.items(), strict=False):
                st.session_state.setdefault(f"train_{key}", getattr(settings, key))
                values[key] = column.number_input(
                    tr(f"train.{key}"),
                    min_value=kind(low),
                    max_value=kind(high),
                    step=kind(_OPTION_STEPS[key]),
                    value=None,
                    placeholder=tr("train.engine_default", value=_ENGINE_DEFAULTS[key]),
                    key=f"train_{key}",
                )
            st.session_state.setdefault("train_packing", settings.packing)
            packing = st.checkbox(tr("train.packing"), key="train_packing", help=tr("train.packing_help"))
            settings = TrainSettings.from_dict({**settings.to_dict(), **values, "packing": packing})
        else:
            st.caption(tr("train.engine_only"))
        left, right = st.columns([3, 1])
        name = left.text_input(tr("train.preset_name"), max_chars=64, key="train_preset_name")
        if right.button(tr("train.save_preset"), disabled=not name.strip(), key="train_save_preset"):
            with show_errors():
                save_preset(workspace, name, settings)
                st.session_state[_SAVED_PRESET] = name.strip()
                st.rerun()
    return settings


def checkpoint_columns(columns: Any, tr: Translator) -> dict[str, Any]:
    """``column_config`` for the checkpoints table: accuracies as percentages, losses to 3 decimals, steps whole;
    keyed by the headers as shown (:meth:`Translator.columns`)."""
    config: dict[str, Any] = {tr.label("columns", "step"): st.column_config.NumberColumn(format="%d")}
    for column in columns:
        if "accuracy" in column:
            config[tr.label("columns", column)] = st.column_config.NumberColumn(format="percent")
        elif "loss" in column:
            config[tr.label("columns", column)] = st.column_config.NumberColumn(format="%.3f")
    return config


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
    st.markdown(f"**{status_label(record.status, tr.lang)}** · `{record.job_id or '—'}`")
    if record.error:
        st.error(tr("train.job_error", error=event_text(record.error, tr.lang)))
    progress = job_progress(job_events)
    if progress is not None and record.status not in TERMINAL:
        eta = "—" if progress.eta_seconds is None else format_duration(progress.eta_seconds)
        st.progress(progress.share, text=tr("train.progress", step=progress.step, total=progress.total_steps, eta=eta))
    if record.trained_tokens:
        tokens = f"{record.trained_tokens:,}"
        if record.estimate_usd is None:  # a provider with no price (the local engine is free): no estimate to show
            st.caption(tr("train.trained_tokens_only", tokens=tokens))
        else:
            st.caption(tr("train.trained_tokens", tokens=tokens, estimate=format_usd(record.estimate_usd)))
    metrics = metrics_frame(job_events)
    st.markdown(f"**{tr('train.charts')}**")
    if metrics.empty:
        st.caption(tr("train.no_metrics"))
    else:
        st.altair_chart(metrics_chart(metrics, tr))
    # Three buttons in four columns: the last column stays empty.
    for column, action in zip(st.columns(4), ("cancel", "pause", "resume"), strict=False):
        if column.button(tr(f"train.{action}"), key=f"job_{action}", disabled=record.status in TERMINAL):
            with show_errors():
                control_job(workspace, client, record, action)
    with st.expander(tr("train.events")):
        st.dataframe(tr.columns(events_table(job_events, tr.lang)), hide_index=True)
    if record.job_id and record.status in TERMINAL:
        found = checkpoints(client, record.job_id)
        if found:
            st.markdown(f"**{tr('train.checkpoints')}**")
            table = checkpoints_table(found)
            st.dataframe(tr.columns(table), hide_index=True, column_config=checkpoint_columns(table.columns, tr))
            if st.button(tr("train.compare"), key="compare_checkpoints"):
                st.session_state[keys.PLAYGROUND_TARGETS] = compare_targets(
                    record, job_profile.kind, found, lang=tr.lang
                )
                st.switch_page(page_path("playground"))
        data = result_file(client, client.fine_tuning.jobs.retrieve(record.job_id))
        if data:
            st.download_button(tr("train.result_file"), data, f"{record.job_id}-results.csv", key="result_file")
    if record.fine_tuned_model:
        st.markdown(f"**{tr('train.use_model')}**")
        usage_code(Target("model", job_profile, record.fine_tuned_model), tr)
        if job_profile.kind == "local":
            export_panel(client, record.fine_tuned_model, tr)
    if refresh_every(get_job(workspace, record_id).status) != every:
        st.rerun()  # the job ended, paused or resumed: the whole page decides again whether to keep refreshing


def metrics_chart(metrics: pd.DataFrame, tr: Translator) -> alt.FacetChart:
    """Loss and token accuracy by step (:func:`~studio.providers.jobs.metrics_frame`), one facet per kind. Steps
    are whole numbers: the x axis ticks only those (never "1.2", "1.4" between two steps of a short job)."""
    return (
        alt.Chart(shown_labels(metrics_long(metrics), tr, "metric", "kind"))
        .mark_line(point=True)
        .encode(
            x=alt.X("step:Q", title=tr("train.axis_step"), axis=alt.Axis(format="d", tickMinStep=1)),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("metric:N", title=None, legend=alt.Legend(labelLimit=0, orient="bottom")),
        )
        .properties(height=220)
        .facet(column=alt.Column("kind:N", title=None))
        .resolve_scale(y="independent")
    )


def shown_labels(frame: pd.DataFrame, tr: Translator, *columns: str) -> pd.DataFrame:
    """``frame`` with the values of ``columns`` (metric names, chart facets) as ``tr`` shows them."""
    return frame.assign(**{c: frame[c].map(lambda v: tr.label("columns", v)) for c in columns})


def export_panel(client: Any, model: str, tr: Translator) -> None:
    """Export a local fine-tune (merged Hugging Face folder, LoRA adapter or GGUF) on the engine's machine."""
    st.markdown(f"**{tr('train.export')}**")
    left, right = st.columns([3, 1])
    fmt = left.selectbox(
        tr("train.export_format"),
        EXPORT_FORMATS,
        format_func=lambda f: tr(f"train.export_{f}"),
        key=kept_choice("export_format"),
    )
    done_key = f"_export_{model}_{fmt}"
    if right.button(tr("train.export_button"), key="export_button"):
        with show_errors(), st.spinner(tr("train.export_running")):
            st.session_state[done_key] = export_model(client, model, fmt)
    done = st.session_state.get(done_key)
    if done:
        st.success(tr("train.exported", path=done["path"], files=", ".join(done["files"])))
