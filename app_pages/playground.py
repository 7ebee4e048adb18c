"""Playground: 2-4 targets side by side on one prompt, a test set, or blind A/B votes."""

import streamlit as st

from studio.errors import StudioError
from studio.playground import compare
from studio.providers.profiles import PROVIDER_KINDS, Profile, ProviderKind, engine_url
from studio.storage.workspace import SAMPLE_DIR, Workspace
from ui import keys
from ui.frame import page
from ui.playground import preset_widgets
from ui.playground_tabs import chat_tab, set_tab, vote_panel

SAMPLE = SAMPLE_DIR / "style_demo_test.jsonl"


@st.cache_data(ttl=30, show_spinner=False)
def models_for(kind: ProviderKind, url: str | None, _key: str | None) -> list[str]:
    """The models a target's provider lists (none for Azure, or when it cannot be reached)."""
    try:
        return compare.list_models(Profile(kind, base_url=url), api_key=_key) if kind != "azure" else []
    except StudioError:
        return []


tr = page("playground")
st.caption(tr("playground.intro"))
workspace = Workspace()

# -- targets and parameters (sidebar) --------------------------------------------------------------------
side = st.sidebar
api_key = side.text_input(tr("playground.api_key"), type="password", key="pg_api_key") or None
st.session_state.update(preset_widgets(st.session_state.pop(keys.PLAYGROUND_TARGETS, None) or []))
rows = []
count = side.number_input(tr("playground.target_count"), compare.MIN_TARGETS, compare.MAX_TARGETS, key="pg_count")
for i in range(int(count)):
    box = side.expander(tr("playground.target", n=i + 1), expanded=i < 2)
    kind = box.selectbox(tr("playground.provider"), PROVIDER_KINDS, key=f"pg_kind_{i}")
    url = box.text_input(tr("playground.endpoint"), key=f"pg_url_{i}") if kind in ("compatible", "azure") else None
    listed = models_for(kind, url or (engine_url() if kind == "local" else None), api_key)
    # Defaults go into session state before the widgets (no value=/index=): the Train page presets these keys, and
    # a widget with both logs Streamlit's "default value ... set via the Session State API" warning.
    if listed:
        st.session_state.setdefault(f"pg_model_{i}", listed[compare.default_model_index(listed, i)])
    default_name = tr(("playground.name_base", "playground.name_tuned")[i]) if i < 2 else None
    st.session_state.setdefault(f"pg_name_{i}", default_name or tr("playground.name_default", n=i + 1))
    model = (
        box.selectbox(tr("playground.model"), listed, key=f"pg_model_{i}", accept_new_options=True)
        if listed
        else box.text_input(tr("playground.model"), key=f"pg_model_text_{i}")
    )
    name = box.text_input(tr("playground.name"), key=f"pg_name_{i}")
    rows.append((name, kind, model or "", url))
try:
    targets, target_error = compare.targets_from_form(rows), None
except StudioError as exc:
    targets, target_error = [], str(exc)
    st.error(target_error)
side.subheader(tr("playground.params"))
params = compare.Params(
    system_prompt=side.text_area(tr("playground.system_prompt"), key="pg_system"),
    temperature=side.slider(tr("playground.temperature"), 0.0, 2.0, 0.0, 0.1, key="pg_temperature"),
    top_p=side.slider(tr("playground.top_p"), 0.05, 1.0, 1.0, 0.05, key="pg_top_p"),
    max_tokens=int(side.number_input(tr("playground.max_tokens"), 1, 32768, 256, key="pg_max_tokens")),
    seed=side.number_input(tr("playground.seed"), value=None, step=1, key="pg_seed"),
)

single, test_set, blind = st.tabs([tr("playground.tab_single"), tr("playground.tab_set"), tr("playground.tab_ab")])
with single:
    chat_tab(targets, params, api_key, disabled=bool(target_error), tr=tr)
with test_set:
    set_tab(workspace, targets, params, api_key, SAMPLE, disabled=bool(target_error), tr=tr)
with blind:
    vote_panel(workspace, tr)
