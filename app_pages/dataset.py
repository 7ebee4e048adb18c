"""Dataset: open, filter live, fix in the grid, undo, save versions, export with splits."""

import streamlit as st
from st_aggrid import AgGrid

from studio.cost.bpe import warm_encoding
from studio.editing.editor import DatasetEditor
from studio.editing.grid import DUPLICATE_MODES, ViewSpec, grid_page, page_count
from studio.editing.ops import DeleteRows
from studio.editing.session import DatasetSession
from studio.editing.turn_edits import SCOPE_ROLES, TURN_PICKS
from studio.quality.rules import RULES
from studio.storage.workspace import Workspace
from ui import keys
from ui.aggrid import aggrid_arguments
from ui.dataset import actions_panel, export_panel, history_panel, open_panel
from ui.frame import attempt, page

tr = page("dataset")
warm_encoding()  # the grid's token counts need it: built while the user picks a dataset
if keys.DATASET not in st.session_state:
    st.session_state[keys.DATASET] = DatasetSession(Workspace())
session: DatasetSession = st.session_state[keys.DATASET]
opened = open_panel(session, tr)
if opened is None:
    st.info(tr("dataset.nothing_open"))
    st.stop()
editor: DatasetEditor = opened  # not None from here on, in the functions below too

session.flags()
counts = session.rule_counts()

with st.sidebar:
    st.header(tr("dataset.filters"))
    regex = st.text_input(tr("dataset.regex"), key="regex", live="200ms")
    fields = tuple(
        st.multiselect(
            tr("dataset.regex_fields"),
            SCOPE_ROLES,
            default=list(SCOPE_ROLES),
            key="fields",
            format_func=lambda r: tr(f"dataset.role_{r}"),
        )
    )
    turns = st.radio(
        tr("dataset.regex_turns"),
        TURN_PICKS,
        key="regex_turns",
        horizontal=True,
        format_func=lambda t: tr(f"dataset.turns_{t}"),
    )
    ignore_case = st.checkbox(tr("dataset.ignore_case"), value=True, key="ignore_case")
    mode = st.radio(
        tr("dataset.duplicates"),
        DUPLICATE_MODES,
        key="dup_mode",
        horizontal=True,
        format_func=lambda m: tr(f"dataset.dup_{m}"),
    )
    threshold = st.slider(tr("dataset.similarity"), 0.5, 1.0, 0.8, 0.05, key="threshold", disabled=mode != "near")
    st.caption(tr("dataset.rules"))
    chosen_rules = tuple(
        k for k in counts if st.checkbox(f"{RULES[k].description(tr.lang)} ({counts[k]})", key=f"rule_{k}")
    )
    if st.button(tr("dataset.recheck"), key="recheck"):
        session.flags(recheck=True)
    jump = tuple(int(i) for i in st.query_params.get_all("id") if i.isdigit())  # links from the Cost page
    if jump and st.button(f"× id {', '.join(map(str, jump))}", key="clear_jump"):
        st.query_params.clear()
        st.rerun()

spec = ViewSpec(
    regex=regex,
    fields=fields or SCOPE_ROLES,
    turns=turns,
    ignore_case=ignore_case,
    duplicates=mode,
    rules=chosen_rules,
    ids=jump,
)
positions, problem = session.rows(spec, threshold)
if problem:
    st.error(problem)
st.markdown(f"**{tr('dataset.rows_shown', n=len(positions), m=len(editor.frame))}**")


def on_grid(response: object) -> None:
    """Runs before the rerun, so the grid is redrawn from data that already holds the persisted edit."""
    event = attempt(session.grid_event, getattr(response, "raw_data", None), st.session_state.get("grid_token"))
    if event is not None and event.kind == "select":
        st.session_state.update(grid_token=event.token, selected_ids=event.ids)
    elif event is not None:  # the edit is persisted
        st.session_state.update(
            grid_token=event.token, last_saved=tr("dataset.saved_edit", id=event.id, field=event.field)
        )


pages = page_count(len(positions), 100)
grid_page_number = st.number_input(tr("dataset.page", pages=pages), 1, pages, 1, key=f"page-{hash(spec)}")


@st.fragment
def grid_view() -> None:
    """The grid alone: an edit or a selection reruns just this part (the edit is already persisted)."""
    if st.session_state.get("last_saved"):  # above the grid: shown as soon as the edit is stored
        st.caption("✅ " + st.session_state["last_saved"])
    rows = grid_page(
        editor.frame,
        positions,
        page=grid_page_number,
        page_size=100,
        flags=session.checks.flags,
        rule_keys=list(counts),
    )
    AgGrid(rows, key=f"grid-{editor.dataset_id}", callback=on_grid, **aggrid_arguments())
    selected = st.session_state.get("selected_ids", ())
    if selected and st.button(tr("dataset.delete_selected", n=len(selected)), key="delete_selected"):
        attempt(editor.apply, DeleteRows(ids=tuple(selected)))
        st.session_state["selected_ids"] = ()
        st.rerun(scope="app")


grid_view()
actions_panel(editor, counts, threshold, tr)
history_panel(session, tr)
export_panel(session, tr)
