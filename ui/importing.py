"""The Dataset page's import panel: what the loader detected in an upload (format, encoding with its confidence,
the question/answer columns), controls to change any of them, and the import button.

An upload too large to load and check in the free memory is refused before it is parsed, with a warning that says
so in the page's language (:func:`studio.data.memory.check_whole_load`); nothing is imported.

Changing a control reloads the upload with that choice (:func:`studio.data.loader.load_dataset`'s ``schema``,
``encoding`` and ``mapping``) before anything is imported; "detect" leaves it to the loader. Widget keys carry the
upload's id, so a new file starts from detection again.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from studio.data.encodings import LOW_CONFIDENCE
from studio.data.formats import SCHEMAS, ColumnMapping
from studio.data.loader import LoadResult, load_dataset, source_columns
from studio.editing.session import DatasetSession
from studio.errors import ResourceError, StudioError
from studio.i18n import Translator
from ui.frame import attempt, error_text

UPLOAD_TYPES = ["csv", "tsv", "txt", "json", "jsonl", "ndjson", "parquet", "xlsx"]
# Offered in the encoding box (any other codec name can be typed): Unicode, Western, Central European, Cyrillic,
# Greek, Chinese, Japanese, Korean.
ENCODINGS = (
    "utf-8",
    "utf-16",
    "cp1252",
    "latin-1",
    "cp1250",
    "cp1251",
    "koi8-r",
    "cp1253",
    "iso-8859-7",
    "gb18030",
    "big5",
    "shift_jis",
    "euc-kr",
)
_ROLES = ("user", "assistant", "system")


def import_upload(session: DatasetSession, container: Any, tr: Translator) -> None:
    """The uploader, what was detected, the format/encoding/column controls, and "Import into the workspace"."""
    upload = container.file_uploader(tr("dataset.upload"), key="upload", type=UPLOAD_TYPES)
    if upload is None or st.session_state.get("imported_upload") == upload.file_id:
        return
    data = upload.getvalue()
    key = f"import-{upload.file_id}"
    chosen = _chosen(key)
    result: LoadResult | None = None
    try:  # flagged: the import runs the grid's rules (import_loaded), which the memory check counts
        result = load_dataset(upload.name, data=data, lenient=True, flagged=True, **chosen)
    except StudioError as exc:  # e.g. no chat columns recognised: the controls below are open to fix it
        container.warning(error_text(exc, tr))
        if isinstance(exc, ResourceError):  # too large for the free memory: nothing read, no control would help
            return
    if result is not None:
        _detected(result, container, tr)
    columns = attempt(source_columns, upload.name, data=data) or []
    with container.expander(tr("importing.change"), expanded=result is None):
        _controls(key, columns, tr)
    if result is None:
        return
    confirmed = True
    if result.rejects:
        container.warning(tr.plural("dataset.rejects_count", len(result.rejects)))
        container.dataframe(result.rejects_frame(), hide_index=True)
        confirmed = container.checkbox(tr("dataset.confirm_rejects"), key="confirm_rejects")
    # Imported in the click's callback, before the next run draws anything: that run shows the new dataset from
    # its first line (title, picker, grid) with no st.rerun() after it, so no second run follows the import.
    container.button(
        tr("dataset.import"),
        disabled=not confirmed,
        key="import",
        on_click=_import,
        args=(session, result, upload.name, data, upload.file_id),
    )


def _import(session: DatasetSession, result: LoadResult, name: str, data: bytes, file_id: str) -> None:
    if attempt(session.import_loaded, result, source_name=name, data=data) is not None:
        st.session_state["imported_upload"] = file_id


def _chosen(key: str) -> dict[str, Any]:
    """The loader overrides the controls hold (None: detect)."""
    state = st.session_state
    schema = state.get(f"{key}-format")
    encoding = state.get(f"{key}-encoding")
    user, assistant, system = (state.get(f"{key}-{role}") for role in _ROLES)
    mapping = ColumnMapping(user=user, assistant=assistant, system=system) if user and assistant else None
    return {"schema": schema or ("qa" if mapping else None), "encoding": encoding or None, "mapping": mapping}


def _detected(result: LoadResult, container: Any, tr: Translator) -> None:
    confidence = result.encoding_confidence
    encoding = result.encoding or "—"
    if confidence is not None and result.encoding and not result.encoding.startswith("utf"):
        encoding = tr("importing.encoding_confidence", encoding=encoding, confidence=f"{confidence:.0%}")
    container.info(
        tr.plural(
            "dataset.detected",
            len(result.frame),
            format=result.format,
            encoding=encoding,
            rows=f"{len(result.frame):,}",
        )
    )
    if result.mapping is not None:
        named = ((role, getattr(result.mapping, role)) for role in _ROLES)
        roles = ", ".join(f"{role} = {column}" for role, column in named if column)
        container.caption(tr("importing.mapping", roles=roles))
    if confidence is not None and confidence < LOW_CONFIDENCE:
        container.warning(tr("importing.encoding_uncertain", encoding=result.encoding, confidence=f"{confidence:.0%}"))
    if result.warnings:
        container.caption(" · ".join(result.warnings))


def _controls(key: str, columns: list[str], tr: Translator) -> None:
    """Format, encoding and the three column boxes (stacked: the panel already sits in a column); each starts at
    "detect" (None)."""
    st.selectbox(tr("importing.format"), SCHEMAS, index=None, key=f"{key}-format", placeholder=tr("importing.detect"))
    st.selectbox(
        tr("importing.encoding"),
        ENCODINGS,
        index=None,
        key=f"{key}-encoding",
        placeholder=tr("importing.detect"),
        accept_new_options=True,
    )
    st.caption(tr("dataset.map_columns"))
    for role in _ROLES:
        st.selectbox(
            tr(f"dataset.map_{role}"), columns, index=None, key=f"{key}-{role}", placeholder=tr("importing.detect")
        )
