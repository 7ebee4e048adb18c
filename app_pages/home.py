"""Home: what the studio does, the four steps, which datasets are in the workspace."""

import streamlit as st

from studio.storage.workspace import Workspace, missing_samples, seed_samples
from ui.frame import page, page_path
from ui.markdown import escape_markdown

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
if datasets:  # one row per dataset; its name opens it on the Dataset page (the URL a refresh reopens)
    widths = [3, 3, 2, 1]
    for column, name in zip(st.columns(widths), ("name", "source", "format", "versions"), strict=True):
        column.caption(tr(f"home.col_{name}"))
    for d in datasets:
        cells = st.columns(widths, vertical_alignment="center")
        link = {"dataset": str(d.id), "version": str(d.head_version_id)}
        label = escape_markdown(d.name)  # names are data: shown as typed, never as markdown
        cells[0].page_link(page_path("dataset"), label=label, icon=":material/table_edit:", query_params=link)
        for cell, value in zip(cells[1:], (d.source_name, d.format, len(workspace.versions(d.id))), strict=True):
            cell.text(str(value))
else:
    st.info(tr("home.no_datasets"))
if missing_samples(workspace) and st.button(tr("home.load_samples"), key="load_samples"):  # none left: no button
    added = seed_samples(workspace)
    st.success(tr.plural("home.samples_loaded", len(added)))
    st.rerun()
st.caption(tr("home.workspace_at", path=workspace.path))
st.caption(tr("home.wind_down"))
