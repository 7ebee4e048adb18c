"""Train: launch a fine-tuning job on the local engine, OpenAI, Azure OpenAI or a compatible server, and watch it."""

import streamlit as st

from studio.providers.job_status import job_choice, jobs_table
from studio.providers.jobs import list_jobs
from studio.providers.train_settings import TrainSettings
from studio.storage.workspace import Workspace
from ui import keys
from ui.frame import kept_choice, page
from ui.train import job_detail, launch_panel, provider_sidebar, provider_status, refresh_every

tr = page("train")
workspace = Workspace()
profile = provider_sidebar(tr)
provider_status(profile, tr)

with st.expander(tr("train.launch"), expanded=not list_jobs(workspace)):
    launch_panel(workspace, profile, TrainSettings.from_dict(st.session_state.get(keys.TRAIN_SETTINGS)), tr)

st.subheader(tr("train.jobs"))
records = list_jobs(workspace)
if not records:
    st.info(tr("train.no_jobs"))
    st.stop()


def jobs_overview() -> None:
    """The jobs table, redrawn every few seconds while a job is unfinished (job_detail refreshes statuses)."""
    st.dataframe(tr.columns(jobs_table(list_jobs(workspace), lang=tr.lang)), hide_index=True)


active = [every for r in records if (every := refresh_every(r.status)) is not None]  # none: an idle tab costs nothing
st.fragment(jobs_overview, run_every=min(active, default=None))()
ids = [r.id for r in records]
current = st.session_state.get(keys.TRAIN_JOB)  # a job launched above (or picked before) is the one shown
by_id = {r.id: r for r in records}
picked = st.selectbox(
    tr("train.pick_job"),
    ids,
    index=ids.index(current) if current in ids else 0,
    format_func=lambda i: job_choice(by_id[i], tr.lang),
    key=kept_choice(f"train_pick-{current}"),
)
st.session_state[keys.TRAIN_JOB] = picked
job_detail(workspace, picked, tr)
