"""Dataset: open, filter live, fix in the grid, undo, save versions, export with splits."""

import numpy as np
import streamlit as st
from st_aggrid import AgGrid

from studio.cost.bpe import warm_encoding
from studio.editing.editor import DatasetEditor
from studio.editing.grid import grid_page, page_count
from studio.editing.ops import DeleteRows
from studio.editing.session import DatasetSession
from studio.errors import ConflictError, StudioError
from studio.storage.workspace import Workspace
from ui import keys
from ui.aggrid import aggrid_arguments, grid_key
from ui.conversation import conversation_panel
from ui.dataset import actions_panel, export_panel, filters_sidebar, history_panel, open_panel, opening_places
from ui.frame import attempt, page
from ui.open_dataset import follow_link, link_notice

tr = page("dataset")
if keys.DATASET not in st.session_state:
    st.session_state[keys.DATASET] = DatasetSession(Workspace())
session: DatasetSession = st.session_state[keys.DATASET]
follow_link(session)  # a refresh or a Cost link names the dataset and version to open (before the panel folds)
# else decode the one a user most likely opens (the longest step), then build what the grid's token counts need
session.prefetch_newest(then=warm_encoding)
link_notice(tr)  # the URL named a version that is no longer the current one: offered, never checked out unasked
opened = open_panel(session, tr)
if opened is None and session.opening is not None:  # picked, still decoding: the grid's places first
    opening_places(session, tr)
if opened is None:
    st.info(tr("dataset.nothing_open"))
    st.stop()
editor: DatasetEditor = opened  # not None from here on, in the functions below too

session.flags()
counts = session.rule_counts()

spec, threshold = filters_sidebar(session, counts, tr)
positions, problem = session.rows(spec, threshold)
if problem:
    st.error(problem)
if capped := session.near_capped():
    st.caption(capped.note_in(tr.lang))
if notice := st.session_state.pop("grid_notice", None):  # an edit another session's edit refused
    st.warning(notice)
st.markdown(f"**{tr('dataset.rows_shown', n=len(positions), m=len(editor.frame))}**")


def on_grid(response: object) -> None:
    """Runs before the rerun, so the grid is redrawn from data that already holds the persisted edit."""
    version, raw = editor.version, getattr(response, "raw_data", None)
    try:
        event = session.grid_event(raw, st.session_state.get("grid_token"))
    except ConflictError as exc:  # another session changed that cell: nothing saved, the stored rows shown
        event = None
        st.session_state.update(grid_token=(raw or {}).get("token"), last_saved=None, grid_notice=str(exc))
    except StudioError as exc:
        event = None
        st.error(str(exc))
    if event is not None and event.kind == "select":
        st.session_state.update(grid_token=event.token, selected_ids=event.ids)
    elif event is not None:  # the edit is persisted
        # worded when shown, in the language of that moment
        st.session_state.update(
            grid_token=event.token,
            last_saved=("dataset.saved_edit", {"id": event.id, "field": event.field}, editor.merged),
        )
    st.session_state["reload_page"] = editor.version != version  # other sessions' edits came in: redraw it all


pages = page_count(len(positions), 100)
grid_page_number = st.number_input(tr("dataset.page", pages=pages), 1, pages, 1, key=f"page-{hash(spec)}")


@st.fragment
def grid_view() -> None:
    """The grid and the selected row's conversation: an edit or a selection reruns just this part (the edit is
    already persisted)."""
    if st.session_state.pop("reload_page", False):  # another session moved the head: redraw the whole page
        st.rerun(scope="app")
    if st.session_state.get("last_saved"):  # above the grid: shown as soon as the edit is stored
        key, values, merged = st.session_state["last_saved"]  # (locale key, its values, edits merged)
        values = {**values, "field": tr.label("columns", values["field"])} if "field" in values else values
        more = f" {tr.plural('dataset.merged_edits', merged)}" if merged else ""
        st.caption("✅ " + tr(key, **values) + more)
    flags = session.checks.flags
    rows = editor.memo(  # a selection reruns this fragment: the page is built again only after a change
        ("grid", grid_page_number, hash(positions.tobytes()), id(flags), tr.lang),
        lambda: grid_page(
            editor.frame,
            positions,
            page=grid_page_number,
            page_size=100,
            flags=flags,
            rule_keys=list(counts),
            lang=tr.lang,
        ),
    )
    shown_as = aggrid_arguments(
        headers={c: tr.label("columns", c) for c in rows.columns},
        flag_labels={k: tr.label("rules", k) for k in counts},
        no_rows=tr("dataset.grid_no_rows"),
    )
    AgGrid(rows.copy(), key=grid_key(editor.dataset_id), callback=on_grid, **shown_as)
    selected = editor.frame["id"].to_numpy()[positions]  # of the rows selected, those the filter still shows
    selected = tuple(int(i) for i in selected[np.isin(selected, st.session_state.get("selected_ids", ()))])
    if selected and st.button(tr.plural("dataset.selected_delete", len(selected)), key="delete_selected"):
        attempt(editor.apply, DeleteRows(ids=tuple(selected)))
        st.session_state["selected_ids"] = ()
        st.rerun(scope="app")
    if len(selected) == 1:  # in the fragment: selecting a row opens its conversation without rerunning the page
        conversation_panel(session, int(selected[0]), tr)


grid_view()
actions_panel(session, counts, positions, threshold, tr)
history_panel(session, tr)
export_panel(session, tr)
session.warm_search()  # drawn: the live filter's first search then finds the turn view built
