"""Dataset: open, filter live, fix in the grid, undo, save versions, export with splits."""

import streamlit as st
from st_aggrid import AgGrid, JsCode

from studio.data.frame import TEXT_FIELDS
from studio.errors import StudioError
from studio.data.formats import ColumnMapping
from studio.editing.grid import DUPLICATE_MODES, ViewSpec, aggrid_arguments, grid_page, page_count
from studio.i18n import LANGUAGE_NAMES, LANGUAGES, translator
from studio.data.io import EXPORT_FORMATS, EXPORT_SUFFIX, export_bytes, load_dataset, source_columns
from studio.editing.ops import (DeleteFlagged, DeleteRows, FillSystemPrompt, KeepOnePerGroup, RegexReplace,
                        preview_regex_replace)
from studio.quality.rules import RULES
from studio.editing.session import DatasetSession
from studio.quality.splits import SPLITS
from studio.cost.tokens import warm_encoding
from studio.storage.workspace import Workspace

st.set_page_config(page_title="Dataset · Fine-Tuning Studio", page_icon="🧹", layout="wide")
lang = st.sidebar.radio("Language · Idioma", LANGUAGES, format_func=LANGUAGE_NAMES.get,
                        index=LANGUAGES.index(st.session_state.get("lang", "en")), horizontal=True)
st.session_state["lang"] = lang
tr = translator(lang)
st.title(tr("dataset.title"))
warm_encoding()  # the grid's token counts need it: built while the user picks a dataset
session: DatasetSession = st.session_state.setdefault("dataset", DatasetSession(Workspace()))
workspace, editor = session.workspace, session.editor


def run(action, *args, **kwargs):
    """Call a studio function; a StudioError becomes a message, never a traceback."""
    try:
        return action(*args, **kwargs)
    except StudioError as exc:
        st.error(str(exc))
        return None


def button_applies(container, label: str, key: str, action, *, disabled: bool = False) -> None:
    """A button that calls ``action`` (a change to the open dataset) when clicked, then redraws the page."""
    if container.button(label, key=key, disabled=disabled):
        run(action)
        st.rerun()


with st.expander(tr("dataset.open"), expanded=editor is None):
    left, right = st.columns(2)
    names = {d.id: f"{d.name} · {d.format}" for d in workspace.datasets()}
    session.prefetch_newest()
    chosen = left.selectbox(tr("dataset.pick"), list(names), format_func=names.get, key="pick_dataset",
                            index=list(names).index(editor.dataset_id) if editor else None)
    editor = session.open(chosen) if chosen is not None else editor
    if editor is not None:
        versions = {v.id: f"{v.name} · {v.rows}" for v in workspace.versions(editor.dataset_id)}
        head = editor.info.head_version_id
        version = left.selectbox(tr("dataset.version"), list(versions), index=list(versions).index(head),
                                 format_func=versions.get, key=f"version-{editor.dataset_id}-{head}")
        if version != head:
            editor.checkout(version)
            st.rerun()
    upload = right.file_uploader(tr("dataset.upload"), key="upload",
                                 type=["csv", "tsv", "txt", "json", "jsonl", "ndjson", "parquet", "xlsx"])
    if upload is not None and st.session_state.get("imported_upload") != upload.file_id:
        data = upload.getvalue()
        try:
            result = load_dataset(upload.name, data=data, lenient=True)
        except StudioError as exc:
            right.warning(str(exc))
            right.caption(tr("dataset.map_columns"))
            columns = run(source_columns, upload.name, data=data) or []
            user, answer, system = (right.selectbox(tr(f"dataset.map_{k}"), columns, index=None, key=f"map_{k}")
                                    for k in ("user", "assistant", "system"))
            mapping = ColumnMapping(user=user, assistant=answer, system=system) if user and answer else None
            result = run(load_dataset, upload.name, data=data, lenient=True, mapping=mapping) if mapping else None
        if result is not None:
            right.info(tr("dataset.detected", format=result.format, encoding=result.encoding or "—",
                          rows=len(result.frame)))
            right.caption(" · ".join(result.warnings))
            confirmed = True
            if result.rejects:
                right.warning(tr("dataset.rejects", n=len(result.rejects)))
                right.dataframe(result.rejects_frame(), hide_index=True)
                confirmed = right.checkbox(tr("dataset.confirm_rejects"), key="confirm_rejects")
            if right.button(tr("dataset.import"), disabled=not confirmed, key="import"):
                session.import_loaded(result, source_name=upload.name, data=data)
                st.session_state["imported_upload"] = upload.file_id
                st.session_state.pop("pick_dataset", None)
                st.rerun()

if editor is None:
    st.info(tr("dataset.nothing_open"))
    st.stop()

frame = editor.frame
session.flags()
counts = session.rule_counts()

sidebar = st.sidebar
sidebar.header(tr("dataset.filters"))
regex = sidebar.text_input(tr("dataset.regex"), key="regex", live="200ms")
fields = tuple(sidebar.multiselect(tr("dataset.regex_fields"), TEXT_FIELDS, default=list(TEXT_FIELDS), key="fields"))
ignore_case = sidebar.checkbox(tr("dataset.ignore_case"), value=True, key="ignore_case")
mode = sidebar.radio(tr("dataset.duplicates"), DUPLICATE_MODES, key="dup_mode", horizontal=True,
                     format_func=lambda m: tr(f"dataset.dup_{m}"))
threshold = sidebar.slider(tr("dataset.similarity"), 0.5, 1.0, 0.8, 0.05, key="threshold", disabled=mode != "near")
sidebar.caption(tr("dataset.rules"))
chosen_rules = tuple(k for k in counts if sidebar.checkbox(f"{RULES[k].description(lang)} ({counts[k]})",
                                                             key=f"rule_{k}"))
if sidebar.button(tr("dataset.recheck"), key="recheck"):
    session.flags(recheck=True)

jump = tuple(int(i) for i in st.query_params.get_all("id") if i.isdigit())  # links from the Cost page
if jump and sidebar.button(f"× id {', '.join(map(str, jump))}", key="clear_jump"):
    st.query_params.clear()
    st.rerun()
spec = ViewSpec(regex=regex, fields=fields or TEXT_FIELDS, ignore_case=ignore_case, duplicates=mode,
                rules=chosen_rules, ids=jump)
positions, problem = session.rows(spec, threshold)
if problem:
    st.error(problem)
st.markdown(f"**{tr('dataset.rows_shown', n=len(positions), m=len(frame))}**")


def on_grid(response) -> None:
    """Runs before the rerun, so the grid is redrawn from data that already holds the persisted edit."""
    event = run(session.grid_event, getattr(response, "raw_data", None), st.session_state.get("grid_token"))
    if event is not None and event.kind == "select":
        st.session_state.update(grid_token=event.token, selected_ids=event.ids)
    elif event is not None:  # the edit is persisted
        st.session_state.update(grid_token=event.token,
                                last_saved=tr("dataset.saved_edit", id=event.id, field=event.field))


pages = page_count(len(positions), 100)
page = st.number_input(tr("dataset.page", pages=pages), 1, pages, 1, key=f"page-{hash(spec)}")


@st.fragment
def grid_view() -> None:
    """The grid alone: an edit or a selection reruns just this part (the edit is already persisted)."""
    if st.session_state.get("last_saved"):  # above the grid: shown as soon as the edit is stored
        st.caption("✅ " + st.session_state["last_saved"])
    rows = grid_page(editor.frame, positions, page=page, page_size=100, flags=session.checks.flags,
                     rule_keys=list(counts))
    AgGrid(rows, key=f"grid-{editor.dataset_id}", callback=on_grid, **aggrid_arguments(JsCode))
    selected = st.session_state.get("selected_ids", ())
    if selected and st.button(tr("dataset.delete_selected", n=len(selected)), key="delete_selected"):
        run(editor.apply, DeleteRows(ids=tuple(selected)))
        st.session_state["selected_ids"] = ()
        st.rerun(scope="app")


grid_view()
st.subheader(tr("dataset.actions"))
bulk, replace, system = st.columns(3)
rule = bulk.selectbox(tr("dataset.delete_flagged"), list(counts), key="bulk_rule")
button_applies(bulk, tr("dataset.delete_flagged_button", n=counts.get(rule, 0)), "delete_flagged",
               lambda: editor.apply(DeleteFlagged(rule=rule)))
kind = bulk.selectbox(tr("dataset.keep_one"), DUPLICATE_MODES[1:], key="keep_kind",
                      format_func=lambda m: tr(f"dataset.dup_{m}"))
keep = bulk.radio(tr("dataset.keep_which"), ("first", "longest"), horizontal=True, key="keep_which",
                  format_func=lambda k: tr(f"dataset.keep_{k}"))
button_applies(bulk, tr("dataset.keep_button"), "keep_one",
               lambda: editor.apply(KeepOnePerGroup(kind=kind, keep=keep, threshold=threshold)))
target = replace.selectbox(tr("dataset.replace_field"), TEXT_FIELDS, key="replace_field")
find = replace.text_input(tr("dataset.replace_pattern"), key="replace_pattern")
substitute = replace.text_input(tr("dataset.replace_with"), key="replace_with")
op = run(RegexReplace, field=target, pattern=find, replacement=substitute) if find else None
preview = run(preview_regex_replace, frame, op) if op else None
if preview is not None:
    replace.caption(tr("dataset.replace_preview", n=preview.rows_affected))
    replace.dataframe(preview.sample, hide_index=True)
    button_applies(replace, tr("dataset.replace_button", n=preview.rows_affected), "replace_apply",
                   lambda: editor.apply(op))
prompt = system.text_area(tr("dataset.system_prompt"), key="fill_system")
button_applies(system, tr("dataset.fill_button"), "fill_apply", lambda: editor.apply(FillSystemPrompt(text=prompt)),
               disabled=not prompt.strip())

st.subheader(tr("dataset.history"))
undo, redo, name, save = st.columns([1, 1, 2, 1])
button_applies(undo, tr("dataset.undo"), "undo", editor.undo, disabled=not editor.can_undo)
button_applies(redo, tr("dataset.redo"), "redo", editor.redo, disabled=not editor.can_redo)
version_name = name.text_input(tr("dataset.version_name"), key="version_name", label_visibility="collapsed",
                               placeholder=tr("dataset.version_name"))
if save.button(tr("dataset.save_version"), disabled=not version_name.strip(), key="save_version"):
    saved = run(editor.save_version, version_name)
    if saved:
        st.toast(tr("dataset.version_saved", name=saved.name, rows=saved.rows))
        st.rerun()
recipe = editor.recipe()
st.text(recipe.numbered() or tr("dataset.no_history"))
st.download_button(tr("dataset.recipe_download"), recipe.to_json(), "recipe.json", "application/json",
                   key="recipe_download")
uploaded_recipe = st.file_uploader(tr("dataset.recipe_upload"), type=["json"], key="recipe_upload")
if uploaded_recipe is not None and st.session_state.get("replayed") != uploaded_recipe.file_id:
    st.session_state["replayed"] = uploaded_recipe.file_id
    if (replayed := run(session.replay, uploaded_recipe.getvalue())) is not None:
        st.success(tr("dataset.recipe_done", n=len(replayed.ops)))

st.subheader(tr("dataset.export"))
if not st.toggle(tr("dataset.prepare_export"), key="export_open"):  # splitting 100k rows is not free: on demand
    st.stop()
fmt, system_prompt, seed, *ratio_columns = st.columns([2, 3, 1, 1, 1, 1])
to = fmt.selectbox(tr("dataset.export_format"), EXPORT_FORMATS, key="export_format")
inject = system_prompt.text_input(tr("dataset.export_system"), key="export_system") or None
split_seed = int(seed.number_input(tr("dataset.seed"), value=42, step=1, key="split_seed"))
ratios = {n: c.number_input(tr(f"dataset.{n}"), 0.0, 1.0, d, 0.05, key=f"ratio_{n}")
          for n, c, d in zip(SPLITS, ratio_columns, (0.8, 0.1, 0.1))}
splits, leaks = run(session.splits, ratios, split_seed) or (None, None)
if splits:
    st.success(tr("dataset.leakage_none")) if leaks.empty else st.warning(tr("dataset.leakage"))
    st.dataframe(leaks, hide_index=True) if not leaks.empty else None
    for column, (split, part) in zip(st.columns(len(splits)), splits.items()):
        column.download_button(tr("dataset.download", split=tr(f"dataset.{split}"), rows=len(part)),
                               lambda part=part: export_bytes(part, to=to, system_prompt=inject),
                               f"{editor.info.name}-{split}{EXPORT_SUFFIX[to]}", key=f"download_{split}")
    if st.button(tr("dataset.save_splits"), key="save_splits"):
        session.save_splits(splits, split_seed)
        st.success(tr("dataset.splits_saved", n=len(splits)))
