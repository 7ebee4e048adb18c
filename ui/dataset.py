"""The Dataset page's panels: open or import, bulk fixes, history and recipes, export with splits.

Each panel draws widgets and calls the page's :class:`~studio.editing.session.DatasetSession` (or its editor);
no data logic lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, NoReturn, TypeVar

import numpy as np
import pandas as pd
import streamlit as st
from st_aggrid import AgGrid

from studio.data.writers import (
    EXPORT_FORMATS,
    EXPORT_SUFFIX,
    export_bytes,
    keep_formats,
    unrepresentable_reasons,
    unrepresentable_rows,
    unwritten_keys,
)
from studio.editing.editor import DatasetEditor
from studio.editing.grid import DUPLICATE_MODES, GRID_COLUMNS, ViewSpec
from studio.editing.ops import (
    CONVERSATION,
    GROUP_KINDS,
    KEEP_WHICH,
    DeleteFlagged,
    FillSystemPrompt,
    KeepOnePerGroup,
    RegexReplace,
)
from studio.editing.previews import preview_regex_replace
from studio.editing.session import DatasetSession
from studio.editing.turn_edits import SCOPE_ROLES, TURN_PICKS, TurnPick
from studio.errors import ConflictError, StudioError
from studio.i18n import Translator
from studio.quality.duplicates import keep_one_mask
from studio.quality.rules import RULES
from studio.quality.splits import SPLITS
from ui.aggrid import aggrid_arguments, grid_key
from ui.frame import attempt, kept_choice
from ui.importing import import_upload
from ui.markdown import escape_markdown
from ui.open_dataset import dataset_picker

T = TypeVar("T")
PREVIEW_ROWS = 20


def button_applies(container: Any, label: str, key: str, action: Callable[[], Any], *, disabled: bool = False) -> None:
    """A button that calls ``action`` (a change to the open dataset) when clicked, then redraws the page."""
    if container.button(label, key=key, disabled=disabled):
        attempt_or_refresh(action)
        st.rerun()


def rerun_saying(key: str, message: str) -> None:
    """Redraw the whole page (menus drawn above, the version list among them, show the change), then
    :func:`show_said` ``message`` where the page draws ``key``'s notice."""
    st.session_state[f"said-{key}"] = message
    st.rerun()


def show_said(key: str, container: Any = st) -> None:
    """The message :func:`rerun_saying` left under ``key``, once, as a success line in ``container``."""
    if message := st.session_state.pop(f"said-{key}", None):
        container.success(message)


def attempt_or_refresh(action: Callable[..., T], *args: Any) -> T | None:
    """:func:`~ui.frame.attempt`, except that a change refused because another session changed the dataset
    (:class:`~studio.errors.ConflictError`: the editor now holds what is stored) redraws the whole page, with
    the reason above the grid."""
    try:
        return action(*args)
    except ConflictError as exc:
        st.session_state["grid_notice"] = str(exc)
        st.rerun()
    except StudioError as exc:
        st.error(str(exc))
    return None


def open_panel(session: DatasetSession, tr: Translator) -> DatasetEditor | None:
    """Pick a workspace dataset and version, or import an upload; returns the open editor (None: nothing open)."""
    with st.expander(tr("dataset.open"), expanded=session.editor is None):
        left, right = st.columns(2)
        editor = dataset_picker(tr, key="open", where=(left, left), deferred=True)
        import_upload(session, right, tr)  # ui/importing.py: detected format/encoding/columns, changeable
    return editor


def opening_places(session: DatasetSession, tr: Translator) -> NoReturn:
    """While the dataset just picked (:attr:`~studio.editing.session.DatasetSession.opening`) is decoded: its rows
    line, the page box and an empty grid, at the places where the open page draws them; then open it (waiting for
    the decode) and run the page again. The browser meanwhile loads the grid's iframe (a 4.7 MB script, about a
    second of one core) and keeps it when the rows come: the grid keeps its key and its place."""
    opening = session.opening
    assert opening is not None
    st.markdown(f"**{tr('dataset.opening', name=escape_markdown(session.workspace.dataset(opening).name))}**")
    st.number_input(tr("dataset.page", pages=1), 1, 1, 1, key="page-opening", disabled=True)
    _empty_grid(opening, tr)
    session.finish_opening()
    st.rerun()


@st.fragment
def _empty_grid(dataset_id: int, tr: Translator) -> None:
    # In a fragment, as the page's grid is: the same place in the page
    shown_as = aggrid_arguments(
        headers={c: tr.label("columns", c) for c in GRID_COLUMNS}, no_rows=tr("dataset.grid_opening")
    )
    AgGrid(pd.DataFrame(columns=list(GRID_COLUMNS)), key=grid_key(dataset_id), **shown_as)


def actions_panel(
    session: DatasetSession, counts: dict[str, int], positions: np.ndarray, threshold: float, tr: Translator
) -> None:
    """Bulk fixes: delete flagged rows, keep one per duplicate group (both on the rows the filters show,
    ``positions``, and counted there), regex replace with a preview, system prompt."""
    editor = session.editor
    assert editor is not None
    st.subheader(tr("dataset.actions"))
    bulk, system = st.columns(2)
    shown = editor.frame["id"].to_numpy()[positions]
    filtered = len(positions) != len(editor.frame)  # a filter is on: act on what it shows, and say so
    rule = bulk.selectbox(
        tr("dataset.delete_flagged"),
        list(counts),
        key=kept_choice("bulk_rule"),
        format_func=lambda k: tr.label("rules", k),
    )
    flags = session.checks.flags
    flagged = tuple(int(i) for i in shown[flags[rule].to_numpy(dtype=bool)[positions]]) if rule in flags else ()
    button_applies(
        bulk,
        tr.plural("dataset.delete_flagged_shown", len(flagged), m=len(positions))
        if filtered
        else tr.plural("dataset.flagged_delete", len(flagged)),
        "delete_flagged",
        lambda: editor.apply(DeleteFlagged(rule=rule, ids=flagged if filtered else ())),
        disabled=not flagged,
    )
    kind = bulk.selectbox(
        tr("dataset.keep_one"), GROUP_KINDS, key=kept_choice("keep_kind"), format_func=lambda m: tr(f"dataset.dup_{m}")
    )
    keep = bulk.radio(
        tr("dataset.keep_which"),
        KEEP_WHICH,
        horizontal=True,
        key=kept_choice("keep_which"),
        format_func=lambda k: tr(f"dataset.keep_{k}"),
    )
    groups = attempt(session.checks.groups, editor, kind, threshold)
    members, dropped = grouped_rows(groups, positions) if groups is not None else (np.zeros(0, dtype=int), 0)
    scope = tuple(int(i) for i in editor.frame["id"].to_numpy()[members]) if filtered else ()
    button_applies(
        bulk,
        tr.plural("dataset.keep_button_shown", dropped, m=len(positions))
        if filtered
        else tr.plural("dataset.keep_button_all", dropped),
        "keep_one",
        lambda: editor.apply(KeepOnePerGroup(kind=kind, keep=keep, threshold=threshold, ids=scope)),
        disabled=not dropped,
    )
    prompt = system.text_area(tr("dataset.system_prompt"), key="fill_system")
    button_applies(
        system,
        tr("dataset.fill_button"),
        "fill_apply",
        lambda: editor.apply(FillSystemPrompt(text=prompt)),
        disabled=not prompt.strip(),
    )
    replace_panel(editor, tr)


def grouped_rows(groups: pd.Series, positions: np.ndarray) -> tuple[np.ndarray, int]:
    """Among the rows at ``positions``, those that share a duplicate group (``groups``: one per row, NA for
    none) with another of them, and how many of them keeping one per group deletes."""
    scope = np.zeros(len(groups), dtype=bool)
    scope[positions] = True
    dropped = int((~keep_one_mask(groups, scope)).sum())
    values = groups.iloc[positions]
    shared = values.notna().to_numpy() & values.duplicated(keep=False).to_numpy()
    return positions[shared], dropped


def scope_widgets(container: Any, tr: Translator, *, roles_label: str, key: str) -> tuple[tuple[str, ...], TurnPick]:
    """The roles × turns a regex looks at (the filter's search, the replacement): a roles multiselect labelled
    ``roles_label`` (every role by default) and a turns radio, keyed ``<key>_roles`` and ``<key>_turns``.
    Returns ``(roles, turns)``: the roles chosen, in :data:`SCOPE_ROLES` order (empty when none is ticked),
    and one of :data:`TURN_PICKS`."""
    roles = container.multiselect(
        tr(roles_label),
        SCOPE_ROLES,
        default=list(SCOPE_ROLES),
        key=kept_choice(f"{key}_roles"),
        format_func=lambda r: tr(f"dataset.role_{r}"),
    )
    turns: TurnPick = container.radio(
        tr("dataset.regex_turns"),
        TURN_PICKS,
        key=kept_choice(f"{key}_turns"),
        horizontal=True,
        format_func=lambda t: tr(f"dataset.turns_{t}"),
    )
    return tuple(r for r in SCOPE_ROLES if r in roles), turns


def replace_panel(editor: DatasetEditor, tr: Translator) -> None:
    """Regex replace over the scope of the filter (roles × turns) with an ignore-case switch; the preview lists
    id, turn, role, before and after, cut around the change."""
    st.markdown(f"**{tr('dataset.replace')}**")
    find, substitute, scope = st.columns([2, 2, 3])
    pattern = find.text_input(tr("dataset.replace_pattern"), key="replace_pattern")
    replacement = substitute.text_input(tr("dataset.replace_with"), key="replace_with")
    ignore_case = find.checkbox(tr("dataset.ignore_case"), value=False, key="replace_ignore_case")
    roles, turns = scope_widgets(scope, tr, roles_label="dataset.replace_roles", key="replace")
    if not pattern:
        return
    op = attempt(
        RegexReplace,
        field=CONVERSATION,
        pattern=pattern,
        replacement=replacement,
        ignore_case=ignore_case,
        roles=tuple(roles) if set(roles) != set(SCOPE_ROLES) else (),
        turns=turns,
    )
    preview = attempt(preview_regex_replace, editor.frame, op, sample=PREVIEW_ROWS) if op else None
    if op is None or preview is None:
        return
    if not preview.rows_affected:
        st.caption(tr("dataset.replace_none"))
        return
    st.caption(tr.plural("dataset.replace_preview_count", preview.rows_affected))
    columns = {name: tr(f"dataset.preview_{name}") for name in ("turn", "role", "before", "after")}
    shown = preview.clipped()  # the role as the scope picker names it, in the page's language
    st.dataframe(
        shown.assign(role=[tr(f"dataset.role_{r}") for r in shown["role"]]),
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.NumberColumn("id", width="small"),
            "turn": st.column_config.NumberColumn(columns["turn"], width="small"),
            "role": st.column_config.TextColumn(columns["role"], width="small"),
            "before": st.column_config.TextColumn(columns["before"], width="large"),
            "after": st.column_config.TextColumn(columns["after"], width="large"),
        },
    )
    label = tr.plural("dataset.replace_in", preview.rows_affected)
    button_applies(st, label, "replace_apply", lambda: editor.apply(op))


def history_panel(session: DatasetSession, tr: Translator) -> None:
    """Undo, redo, save a named version, and the recipe of the edits (download, or upload to replay)."""
    editor = session.editor
    assert editor is not None
    st.subheader(tr("dataset.history"))
    undo, redo, name, save = st.columns([1, 1, 2, 1])
    button_applies(undo, tr("dataset.undo"), "undo", editor.undo, disabled=not editor.can_undo)
    button_applies(redo, tr("dataset.redo"), "redo", editor.redo, disabled=not editor.can_redo)
    version_name = name.text_input(
        tr("dataset.version_name"),
        key="version_name",
        label_visibility="collapsed",
        placeholder=tr("dataset.version_name"),
    )
    if save.button(tr("dataset.save_version"), disabled=not version_name.strip(), key="save_version"):
        saved = attempt_or_refresh(editor.save_version, version_name)
        if saved:
            rerun_saying("save_version", tr.plural("dataset.version_saved", saved.rows, name=saved.name))
    show_said("save_version")
    recipe = editor.recipe()
    st.text(recipe.numbered(tr.lang) or tr("dataset.no_history"))
    st.download_button(
        tr("dataset.recipe_download"), recipe.to_json(), "recipe.json", "application/json", key="recipe_download"
    )
    uploaded = st.file_uploader(tr("dataset.recipe_upload"), type=["json"], key="recipe_upload")
    if uploaded is not None and st.session_state.get("replayed") != uploaded.file_id:
        st.session_state["replayed"] = uploaded.file_id
        if (replayed := attempt(session.replay, uploaded.getvalue(), tr.lang)) is not None:
            recipe, notes = replayed
            st.success(tr.plural("dataset.recipe_done", len(recipe.ops)))
            for number, step, note in notes:  # a one-turn replace that left matches in other turns
                st.warning(tr("dataset.recipe_outside", n=number, step=step, note=note))


def export_panel(session: DatasetSession, tr: Translator) -> None:
    """Export on demand (splitting 100k rows is not free): format, system prompt, seeded splits, leakage report."""
    editor = session.editor
    assert editor is not None
    st.subheader(tr("dataset.export"))
    if not st.toggle(tr("dataset.prepare_export"), key="export_open"):
        return
    fmt, system_prompt, seed, *ratio_columns = st.columns([2, 3, 1, 1, 1, 1])
    to = fmt.selectbox(tr("dataset.export_format"), EXPORT_FORMATS, key="export_format")
    inject = system_prompt.text_input(tr("dataset.export_system"), key="export_system") or None
    split_seed = int(seed.number_input(tr("dataset.seed"), value=42, step=1, key="split_seed"))
    ratios = {
        n: c.number_input(tr(f"dataset.{n}"), 0.0, 1.0, d, 0.05, key=f"ratio_{n}")
        for n, c, d in zip(SPLITS, ratio_columns, (0.8, 0.1, 0.1), strict=True)
    }
    made = attempt(session.splits, ratios, split_seed)
    if not made or not made[0]:
        return
    splits, leaks = made
    lost = editor.memo(("unrepresentable", to), lambda: unrepresentable_rows(editor.frame, to=to))
    skip = False
    if lost:  # a single-turn format cannot hold these rows: say so, and export them only if the user agrees
        reasons, keep = unrepresentable_reasons(lost), " / ".join(keep_formats(lost, to))
        if len(lost) == len(editor.frame):  # nothing would be left to write
            st.warning(tr("dataset.unrepresentable_all", to=to, reasons=reasons, keep=keep))
            return
        st.warning(tr.plural("dataset.unrepresentable_each", len(lost), to=to, reasons=reasons, keep=keep))
        skip = st.checkbox(tr.plural("dataset.skip_unrepresentable", len(lost)), key="skip_unrepresentable")
        if not skip:
            return
    if unwritten := editor.memo(("unwritten", to), lambda: unwritten_keys(editor.frame, to=to)):
        keys = ", ".join(f"{key} ({n})" for key, n in unwritten.items())
        st.info(tr("dataset.unwritten", to=to, keys=keys))  # kept beside the conversations, not in this format
    splits = leave_out_empty(session, splits, tr)
    if leaks.empty:
        st.success(tr("dataset.leakage_none"))
    else:
        st.warning(tr("dataset.leakage"))
        st.dataframe(leaks, hide_index=True)
    for column, (split, part) in zip(st.columns(len(splits)), splits.items(), strict=True):
        column.download_button(
            tr.plural("dataset.download", len(part), split=tr(f"dataset.{split}")),
            partial(export_bytes, part, to=to, system_prompt=inject, skip_unrepresentable=skip),
            f"{editor.info.name}-{split}{EXPORT_SUFFIX[to]}",
            key=f"download_{split}",
            on_click="ignore",  # a download changes nothing: the page is not run again
        )
    if st.button(tr("dataset.save_splits"), key="save_splits"):
        session.save_splits(splits, split_seed)
        rerun_saying("save_splits", tr.plural("dataset.splits_saved", len(splits)))
    show_said("save_splits")


def leave_out_empty(
    session: DatasetSession, splits: dict[str, pd.DataFrame], tr: Translator
) -> dict[str, pd.DataFrame]:
    """Warn, before anything is written, about the examples the ``empty`` rule flags (a blank answer or
    question), with a box that leaves them out of every split; returns the splits to write."""
    editor = session.editor
    assert editor is not None
    flags = session.checks.flags
    if "empty" not in flags:
        return splits
    empty = editor.frame["id"].to_numpy()[flags["empty"].to_numpy(dtype=bool)]
    if not len(empty):
        return splits
    ids = ", ".join(str(i) for i in empty[:5]) + (f" … +{len(empty) - 5}" if len(empty) > 5 else "")
    st.warning(tr.plural("dataset.empty_answers", len(empty), ids=ids))
    if not st.checkbox(tr.plural("dataset.skip_empty", len(empty)), key="skip_empty"):
        return splits
    return {split: part[~part["id"].isin(empty)] for split, part in splits.items()}


def filters_sidebar(session: DatasetSession, counts: Mapping[str, int], tr: Translator) -> tuple[ViewSpec, float]:
    """The sidebar's filters: the live regex over a scope of roles × turns, duplicates, rule flags, a jump from
    the Cost page's links. Returns the view and the near-duplicate similarity."""
    with st.sidebar:
        st.header(tr("dataset.filters"))
        regex = st.text_input(tr("dataset.regex"), key="regex", live="200ms")
        fields, turns = scope_widgets(st, tr, roles_label="dataset.regex_fields", key="regex")
        ignore_case = st.checkbox(tr("dataset.ignore_case"), value=True, key="ignore_case")
        mode = st.radio(
            tr("dataset.duplicates"),
            DUPLICATE_MODES,
            key=kept_choice("dup_mode"),
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
        shown = ", ".join(map(str, jump[:5])) + (f" … +{len(jump) - 5}" if len(jump) > 5 else "")
        if jump and st.button("× " + tr("dataset.jump_chip", ids=shown), key="clear_jump", type="primary"):
            del st.query_params["id"]  # the URL keeps naming the open dataset and version
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
    return spec, threshold
