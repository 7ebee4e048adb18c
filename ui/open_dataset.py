"""The dataset open in this browser session, seen from every page: a "dataset · version" line under each page's
title, and a picker for the pages that price or train it (Cost). The Dataset page opens and edits it; all pages
share its :class:`~studio.editing.session.DatasetSession` under :data:`ui.keys.DATASET`.

The URL names what is open (``?dataset=3&version=7``). A link never changes the dataset for others: a tab left
open while another moved the dataset on to a newer version opens, when refreshed, at the current version, with a
notice naming the link's version and a button that opens it (:func:`link_notice`)."""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.editing.editor import DatasetEditor
from studio.editing.session import DatasetSession, StaleLink
from studio.errors import ConflictError
from studio.i18n import Translator
from studio.storage.workspace import Workspace
from ui import keys

_IN_URL = "_open-dataset-in-url"  # (dataset, version) as this session last read or wrote them in the URL
_STALE = "_open-dataset-stale-link"  # the StaleLink the URL named, until the user opens it or stays
_REFUSED = "_open-dataset-link-refused"  # why opening the linked version was refused, shown once


def open_editor() -> DatasetEditor | None:
    """The open dataset's editor, or None when this session has not opened one."""
    session = st.session_state.get(keys.DATASET)
    return session.editor if session is not None else None


def open_dataset_caption(tr: Translator) -> None:
    """``name · version`` of the open dataset (an empty line when none is open: the page's elements keep their
    places, so opening a dataset does not make Streamlit rebuild the grid's iframe below). Named from what the
    editor holds: drawing it reads nothing from the workspace."""
    slot = st.empty()
    editor = open_editor()
    if editor is not None:
        slot.caption(tr("frame.open_dataset", name=editor.name, version=editor.head.name))


def dataset_picker(
    tr: Translator, *, key: str, where: tuple[Any, Any] | None = None, deferred: bool = False
) -> DatasetEditor | None:
    """Pick a workspace dataset and version (the open one first) and open it for every page; returns the open
    editor (None while nothing is open). Picking another version makes it the head. ``where`` holds the two
    containers of the two menus (two columns of the page by default). The URL names what is open
    (:func:`show_in_url`), and a URL that names another dataset or version opens it (:func:`follow_link`).

    When an import, a link or another page opens another dataset, the menu is moved to it before it is drawn
    (a widget's value lives in the browser too: re-indexing it would switch back on the next rerun, and a new
    key would make Streamlit rebuild the grid's iframe).

    A dataset picked in the menu is opened in the menu's callback, before the page runs. ``deferred``: when its
    frame is not decoded yet, it is left :attr:`~studio.editing.session.DatasetSession.opening` and None is
    returned, for the page to draw its places and then open it (the Dataset page: :func:`ui.dataset.opening_places`)."""
    if keys.DATASET not in st.session_state:
        st.session_state[keys.DATASET] = DatasetSession(Workspace())
    session: DatasetSession = st.session_state[keys.DATASET]
    follow_link(session)
    datasets = {d.id: d for d in session.workspace.datasets()}
    editor = session.editor
    widget, synced = f"{key}-dataset", f"_{key}-dataset-shown"
    open_id = editor.dataset_id if editor is not None else None
    # Opened elsewhere, the menu follows; and a menu whose value Streamlit dropped because its label changed (the
    # language switch rebuilds the widget) shows the open dataset again instead of an empty menu.
    lost = st.session_state.get(widget) is None
    if (open_id != st.session_state.get(synced) or lost) and open_id in datasets:
        st.session_state[widget] = open_id
    left, right = where or st.columns(2)
    chosen = left.selectbox(
        tr("dataset.pick"),
        list(datasets),
        # Set through the session state (above) or by the user; None before anything is open.
        index=0 if widget in st.session_state else None,
        format_func=lambda i: f"{datasets[i].name} · {datasets[i].format}",
        key=widget,
        placeholder=tr("dataset.pick_placeholder"),
        on_change=_open_picked,
        args=(session, widget, deferred),
    )
    st.session_state[synced] = chosen
    if chosen is None:
        show_in_url(editor)
        return editor
    if editor is None or editor.dataset_id != chosen:  # not picked in this menu (its callback opens those)
        if deferred and session.opening == chosen:  # picked, still decoding: the page opens it after its places
            return None
        session.open(chosen)
        st.rerun()  # the page's "dataset · version" line, drawn above, names it from the next run on
    assert editor is not None
    versions = {v.id: v for v in session.workspace.versions(chosen)}
    head = editor.info.head_version_id
    version = right.selectbox(
        tr("dataset.version"),
        list(versions),
        index=list(versions).index(head),
        format_func=lambda v: f"{versions[v].name} · {versions[v].rows}",
        key=f"{key}-version-{chosen}-{head}",
    )
    if version != head:
        try:
            editor.checkout(version)
        except ConflictError as exc:  # another session moved the head: the editor now shows what is stored
            st.session_state["grid_notice"] = str(exc)
        st.rerun()
    show_in_url(editor)
    return editor


def _open_picked(session: DatasetSession, widget: str, deferred: bool) -> None:
    """The menu's callback: the picked dataset is opened before the page runs, so that run draws it from its first
    line (the "dataset · version" line, the URL, the grid) and no second run follows (one run less of the page on
    every pick: ~0.4 s at 100k multi-turn examples); ``deferred``: only when its frame is decoded already
    (:meth:`~studio.editing.session.DatasetSession.pick`)."""
    chosen = st.session_state.get(widget)
    if chosen is not None and (session.editor is None or session.editor.dataset_id != chosen):
        if deferred:
            session.pick(chosen)
        else:
            session.open(chosen)


def follow_link(session: DatasetSession) -> None:
    """Open the dataset the URL names (``?dataset=3&version=7``, put there by :func:`show_in_url`) when the URL
    changed outside this session's runs: a refresh (a new session), a link (the Cost page's problem groups add
    ``&id=…`` for the page's filter chip), the browser's back button. The dataset opens at its current head; a
    URL that names another version (the tab is older than the dataset's last checkout or saved version) leaves it
    to :func:`link_notice` to offer it, so a stale tab never moves the dataset back for everyone. An unknown
    dataset is ignored (the URL is older than the workspace)."""
    params = st.query_params
    named = (params.get("dataset", ""), params.get("version", ""))
    if named == st.session_state.get(_IN_URL):
        return  # this session's own URL: what the user picks since then wins
    st.session_state[_IN_URL] = named
    dataset, version = named
    if not dataset.isdigit() or int(dataset) not in {d.id for d in session.workspace.datasets()}:
        return
    stale = session.open_link(int(dataset), int(version) if version.isdigit() else None)
    st.session_state[_STALE] = stale


def link_notice(tr: Translator) -> None:
    """When the URL named a version that is no longer the head (:func:`follow_link`): say so, with a button that
    opens that version (for everyone: it becomes the head) and one that stays at the head. Gone once either is
    pressed, or once this session opens another dataset or version."""
    if refused := st.session_state.pop(_REFUSED, None):
        st.warning(refused)
    link: StaleLink | None = st.session_state.get(_STALE)
    session: DatasetSession | None = st.session_state.get(keys.DATASET)
    editor = session.editor if session is not None else None
    if link is None or session is None or editor is None:
        return
    if editor.dataset_id != link.named.dataset_id or editor.head.id != link.head.id:
        del st.session_state[_STALE]  # the user (or a refused edit's reload) moved on: the notice is stale too
        return
    with st.container(border=True, key="stale-link"):
        st.warning(tr("dataset.link_stale", named=link.named.name, head=link.head.name, dataset=editor.name))
        left, right = st.columns(2)
        if left.button(tr("dataset.link_checkout", named=link.named.name), key="link_checkout"):
            del st.session_state[_STALE]
            try:
                session.checkout_link(link)
            except ConflictError as exc:  # moved again meanwhile: the editor shows what is stored, and why
                st.session_state[_REFUSED] = str(exc)
            st.rerun()
        if right.button(tr("dataset.link_stay", head=link.head.name), key="link_stay"):
            del st.session_state[_STALE]
            st.rerun()


def show_in_url(editor: DatasetEditor | None) -> None:
    """Name the open dataset and version in the URL (``?dataset=3&version=7``, other parameters kept), so that a
    refresh or a bookmark opens them again (:func:`follow_link`)."""
    if editor is None:
        return
    named = (str(editor.dataset_id), str(editor.head.id))
    params = st.query_params
    if (params.get("dataset"), params.get("version")) != named:
        params.update(dataset=named[0], version=named[1])
    st.session_state[_IN_URL] = named
