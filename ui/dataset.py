"""The Dataset page's panels: open or import, bulk fixes, history and recipes, export with splits.

Each panel draws widgets and calls the page's :class:`~studio.editing.session.DatasetSession` (or its editor);
no data logic lives here.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import partial
from typing import Any, TypeVar

import streamlit as st

from studio.data.writers import EXPORT_FORMATS, EXPORT_SUFFIX, export_bytes, unrepresentable_rows
from studio.editing.editor import DatasetEditor
from studio.editing.grid import DUPLICATE_MODES, ViewSpec
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
from studio.editing.turn_edits import SCOPE_ROLES, TURN_PICKS
from studio.errors import ConflictError, StudioError
from studio.i18n import Translator
from studio.quality.rules import RULES
from studio.quality.splits import SPLITS
from ui.frame import attempt
from ui.importing import import_upload
from ui.open_dataset import dataset_picker

T = TypeVar("T")
PREVIEW_ROWS = 20


def button_applies(container: Any, label: str, key: str, action: Callable[[], Any], *, disabled: bool = False) -> None:
    """A button that calls ``action`` (a change to the open dataset) when clicked, then redraws the page."""
    if container.button(label, key=key, disabled=disabled):
        attempt_or_refresh(action)
        st.rerun()


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
        session.prefetch_newest()
        editor = dataset_picker(tr, key="open", where=(left, left))
        import_upload(session, right, tr)  # ui/importing.py: detected format/encoding/columns, changeable
    return editor


def actions_panel(editor: DatasetEditor, counts: dict[str, int], threshold: float, tr: Translator) -> None:
    """Bulk fixes: delete flagged rows, keep one per duplicate group, regex replace with a preview, system prompt."""
    st.subheader(tr("dataset.actions"))
    bulk, system = st.columns(2)
    rule = bulk.selectbox(
        tr("dataset.delete_flagged"), list(counts), key="bulk_rule", format_func=lambda k: tr.label("rules", k)
    )
    button_applies(
        bulk,
        tr("dataset.delete_flagged_button", n=counts.get(rule, 0)),
        "delete_flagged",
        lambda: editor.apply(DeleteFlagged(rule=rule)),
    )
    kind = bulk.selectbox(
        tr("dataset.keep_one"), GROUP_KINDS, key="keep_kind", format_func=lambda m: tr(f"dataset.dup_{m}")
    )
    keep = bulk.radio(
        tr("dataset.keep_which"),
        KEEP_WHICH,
        horizontal=True,
        key="keep_which",
        format_func=lambda k: tr(f"dataset.keep_{k}"),
    )
    button_applies(
        bulk,
        tr("dataset.keep_button"),
        "keep_one",
        lambda: editor.apply(KeepOnePerGroup(kind=kind, keep=keep, threshold=threshold)),
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


def replace_panel(editor: DatasetEditor, tr: Translator) -> None:
    """Regex replace over the scope of the filter (roles × turns) with an ignore-case switch; the preview lists
    id, turn, role, before and after, cut around the change."""
    st.markdown(f"**{tr('dataset.replace')}**")
    find, substitute, scope = st.columns([2, 2, 3])
    pattern = find.text_input(tr("dataset.replace_pattern"), key="replace_pattern")
    replacement = substitute.text_input(tr("dataset.replace_with"), key="replace_with")
    ignore_case = find.checkbox(tr("dataset.ignore_case"), value=False, key="replace_ignore_case")
    roles = scope.multiselect(
        tr("dataset.replace_roles"),
        SCOPE_ROLES,
        default=list(SCOPE_ROLES),
        key="replace_roles",
        format_func=lambda r: tr(f"dataset.role_{r}"),
    )
    turns = scope.radio(
        tr("dataset.regex_turns"),
        TURN_PICKS,
        key="replace_turns",
        horizontal=True,
        format_func=lambda t: tr(f"dataset.turns_{t}"),
    )
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
    st.caption(tr("dataset.replace_preview", n=preview.rows_affected))
    columns = {name: tr(f"dataset.preview_{name}") for name in ("turn", "role", "before", "after")}
    st.dataframe(
        preview.clipped(),
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
    button_applies(st, tr("dataset.replace_button", n=preview.rows_affected), "replace_apply", lambda: editor.apply(op))


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
            st.toast(tr("dataset.version_saved", name=saved.name, rows=saved.rows))
            st.rerun()
    recipe = editor.recipe()
    st.text(recipe.numbered(tr.lang) or tr("dataset.no_history"))
    st.download_button(
        tr("dataset.recipe_download"), recipe.to_json(), "recipe.json", "application/json", key="recipe_download"
    )
    uploaded = st.file_uploader(tr("dataset.recipe_upload"), type=["json"], key="recipe_upload")
    if uploaded is not None and st.session_state.get("replayed") != uploaded.file_id:
        st.session_state["replayed"] = uploaded.file_id
        if (replayed := attempt(session.replay, uploaded.getvalue())) is not None:
            st.success(tr("dataset.recipe_done", n=len(replayed.ops)))


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
        st.warning(
            tr(
                "dataset.unrepresentable",
                n=len(lost),
                to=to,
                ids=", ".join(str(i) for i, _ in lost[:5]),
                reason=lost[0][1],
            )
        )
        skip = st.checkbox(tr("dataset.skip_unrepresentable", n=len(lost)), key="skip_unrepresentable")
        if not skip:
            return
    if leaks.empty:
        st.success(tr("dataset.leakage_none"))
    else:
        st.warning(tr("dataset.leakage"))
        st.dataframe(leaks, hide_index=True)
    for column, (split, part) in zip(st.columns(len(splits)), splits.items(), strict=True):
        column.download_button(
            tr("dataset.download", split=tr(f"dataset.{split}"), rows=len(part)),
            partial(export_bytes, part, to=to, system_prompt=inject, skip_unrepresentable=skip),
            f"{editor.info.name}-{split}{EXPORT_SUFFIX[to]}",
            key=f"download_{split}",
            on_click="ignore",  # a download changes nothing: the page is not run again
        )
    if st.button(tr("dataset.save_splits"), key="save_splits"):
        session.save_splits(splits, split_seed)
        st.success(tr("dataset.splits_saved", n=len(splits)))


def filters_sidebar(session: DatasetSession, counts: Mapping[str, int], tr: Translator) -> tuple[ViewSpec, float]:
    """The sidebar's filters: the live regex over a scope of roles × turns, duplicates, rule flags, a jump from
    the Cost page's links. Returns the view and the near-duplicate similarity."""
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
        shown = ", ".join(map(str, jump[:5])) + (f" … +{len(jump) - 5}" if len(jump) > 5 else "")
        if jump and st.button("× " + tr("dataset.jump_chip", ids=shown), key="clear_jump", type="primary"):
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
    return spec, threshold
