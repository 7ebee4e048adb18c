"""Home: what the studio does, which datasets are in the workspace, which providers are reachable."""

from pathlib import Path

import pandas as pd
import streamlit as st

from studio.i18n import LANGUAGE_NAMES, LANGUAGES, translator
from studio.providers.profiles import openai_key_present, probe_engine
from studio.storage.workspace import Workspace, seed_samples

st.set_page_config(page_title="Fine-Tuning Studio", page_icon="🛠️", layout="wide")
lang = st.sidebar.radio("Language · Idioma", LANGUAGES, format_func=LANGUAGE_NAMES.get,
                        index=LANGUAGES.index(st.session_state.get("lang", "en")), horizontal=True)
st.session_state["lang"] = lang
tr = translator(lang)

st.title(tr("home.title"))
st.write(tr("home.tagline"))

st.subheader(tr("home.steps"))
PAGES = (("pages/1_Dataset.py", "step_dataset"), ("pages/2_Cost.py", "step_cost"),
         ("pages/3_Train.py", "step_train"), ("pages/4_Playground.py", "step_playground"))
for page, step in PAGES:
    left, right = st.columns([4, 1])
    left.markdown(tr(f"home.{step}"))
    if (Path(__file__).parent / page).exists():
        right.page_link(page, label=tr("home.open_page", page=Path(page).stem.split("_", 1)[1]))

workspace = Workspace()
st.subheader(tr("home.datasets"))
datasets = workspace.datasets()
if datasets:
    st.dataframe(pd.DataFrame({
        tr("home.col_name"): [d.name for d in datasets],
        tr("home.col_source"): [d.source_name for d in datasets],
        tr("home.col_format"): [d.format for d in datasets],
        tr("home.col_versions"): [len(workspace.versions(d.id)) for d in datasets],
    }), hide_index=True)
else:
    st.info(tr("home.no_datasets"))
if st.button(tr("home.load_samples"), key="load_samples"):
    added = seed_samples(workspace)
    st.success(tr("home.samples_loaded", n=len(added)))
    st.rerun()
st.caption(tr("home.workspace_at", path=workspace.path))

st.subheader(tr("home.providers"))
engine = probe_engine()
st.write(("🟢 " + tr("home.engine_up", detail=engine.detail)) if engine.reachable
         else ("⚪ " + tr("home.engine_down", detail=engine.detail)))
try:
    secrets = dict(st.secrets)
except FileNotFoundError:  # no .streamlit/secrets.toml
    secrets = {}
st.write(("🟢 " + tr("home.openai_found")) if openai_key_present(secrets)
         else ("⚪ " + tr("home.openai_missing")))
st.caption(tr("home.wind_down"))
