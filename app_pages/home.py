"""Home: what the studio does, the four steps, which datasets are in the workspace."""

import pandas as pd
import streamlit as st

from studio.storage.workspace import Workspace, seed_samples
from ui.frame import page, page_path

tr = page("home")
st.write(tr("home.tagline"))

st.subheader(tr("home.steps"))
for name in ("dataset", "cost", "train", "playground"):
    left, right = st.columns([4, 1])
    left.markdown(tr(f"home.step_{name}"))
    right.page_link(page_path(name), label=tr("home.open_page", page=tr(f"frame.nav_{name}")))

workspace = Workspace()
st.subheader(tr("home.datasets"))
datasets = workspace.datasets()
if datasets:
    st.dataframe(
        pd.DataFrame(
            {
                tr("home.col_name"): [d.name for d in datasets],
                tr("home.col_source"): [d.source_name for d in datasets],
                tr("home.col_format"): [d.format for d in datasets],
                tr("home.col_versions"): [len(workspace.versions(d.id)) for d in datasets],
            }
        ),
        hide_index=True,
    )
else:
    st.info(tr("home.no_datasets"))
if st.button(tr("home.load_samples"), key="load_samples"):
    added = seed_samples(workspace)
    st.success(tr("home.samples_loaded", n=len(added)))
    st.rerun()
st.caption(tr("home.workspace_at", path=workspace.path))
st.caption(tr("home.wind_down"))
