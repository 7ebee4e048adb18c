"""The Dataset page's AgGrid: its options, JavaScript hooks and badge CSS (the rows it shows come from
:mod:`studio.editing.grid`).

An edit or a selection comes back to Python as a single-cell delta (:data:`RETURN_DELTA_JS`, read by
:func:`studio.editing.grid.parse_grid_event`), never the page's rows. Cell text is always rendered as text: the
only custom renderer draws our own rule keys as badges with ``textContent``.
"""

from __future__ import annotations

from typing import Any

from st_aggrid import JsCode

from studio.data.frame import TEXT_FIELDS
from studio.editing.grid import TURN_LABEL_SUFFIX

# Returned to Python on an edit or a selection: only the delta, never the page's rows.
RETURN_DELTA_JS = """
function({streamlitRerunEventTriggerName, eventData}) {
    const token = String(Date.now()) + '-' + Math.random().toString(36).slice(2);
    if (streamlitRerunEventTriggerName === 'cellValueChanged') {
        return {kind: 'edit', id: eventData.data.id, field: eventData.colDef.field,
                value: eventData.newValue === undefined ? null : eventData.newValue, token: token};
    }
    if (streamlitRerunEventTriggerName === 'selectionChanged') {
        return {kind: 'select', ids: eventData.api.getSelectedRows().map(r => r.id), token: token};
    }
    return {kind: 'none', token: token};
}
"""

# Rule keys as coloured badges, built with textContent so nothing is ever parsed as HTML. A badge names the turn its
# finding is in ("pii · turn 1 (user)") and its title is the finding (``flag_notes``: studio.editing.grid.flag_notes).
FLAG_BADGES_JS = """
class FlagBadges {
    init(params) {
        this.eGui = document.createElement('span');
        let notes = {};
        try { notes = JSON.parse((params.data && params.data.flag_notes) || '{}') || {}; } catch (e) { notes = {}; }
        String(params.value || '').split(' ').filter(Boolean).forEach(key => {
            const badge = document.createElement('span');
            const note = Object.prototype.hasOwnProperty.call(notes, key) ? notes[key] : null;
            const labels = (params.context && params.context.flagLabels) || {};
            const shown = Object.prototype.hasOwnProperty.call(labels, key) ? labels[key] : key;
            badge.textContent = note && note[0] ? shown + ' · ' + note[0] : shown;
            if (note) { badge.title = String(note[1]); }
            badge.className = 'flag-badge flag-' + key.replace(/[^a-z_]/g, '');
            this.eGui.appendChild(badge);
        });
    }
    getGui() { return this.eGui; }
    refresh() { return false; }
}
"""

# The text cells' own editor: AG Grid's large-text popup (Enter saves, Shift+Enter is a new line, Escape cancels)
# with a line above that says which turn of the conversation the cell is ("last assistant · turn 5 (6 turns)",
# the row's ``<field>_turn`` from studio.editing.grid.turn_labels), set with textContent.
TURN_EDITOR_JS = """
class TurnTextEditor {
    init(params) {
        this.eGui = document.createElement('div');
        this.eGui.className = 'turn-editor';
        const label = document.createElement('div');
        label.className = 'turn-editor-label';
        label.textContent = String((params.data && params.data[params.colDef.field + '_turn']) || '');
        this.area = document.createElement('textarea');
        this.area.className = 'turn-editor-text';
        this.area.rows = 12;
        this.area.cols = 80;
        this.area.maxLength = 1000000;
        this.area.value = params.value === null || params.value === undefined ? '' : String(params.value);
        this.area.title = label.textContent;
        this.area.setAttribute('aria-label', label.textContent);
        this.area.addEventListener('keydown', event => {
            const keys = ['ArrowLeft', 'ArrowRight', 'ArrowUp', 'ArrowDown'];
            if (keys.includes(event.key) || (event.shiftKey && event.key === 'Enter')) { event.stopPropagation(); }
        });
        this.eGui.appendChild(label);
        this.eGui.appendChild(this.area);
    }
    getGui() { return this.eGui; }
    afterGuiAttached() { this.area.focus(); }
    getValue() { return this.area.value; }
    isPopup() { return true; }
}
"""

ROW_ID_JS = "function(params) { return String(params.data.id); }"

BADGE_CSS = {
    ".flag-badge": {
        "display": "inline-block",
        "padding": "0 6px",
        "margin": "1px 2px",
        "border-radius": "8px",
        "font-size": "11px",
        "line-height": "18px",
        "background": "#e8eaf6",
        "color": "#1a237e",
    },
    ".turn-editor": {"background": "#fff", "border": "1px solid #bdbdbd", "padding": "4px"},
    ".turn-editor-label": {"font-size": "12px", "color": "#455a64", "padding": "0 2px 4px"},
    ".turn-editor-text": {"font": "inherit", "resize": "both"},
    ".flag-empty, .flag-too_short, .flag-truncated": {
        "background": "#fff3e0 !important",
        "color": "#e65100 !important",
    },
    ".flag-pii, .flag-blocklist, .flag-placeholder": {
        "background": "#ffebee !important",
        "color": "#b71c1c !important",
    },
    ".flag-exact_duplicate, .flag-normalized_duplicate, .flag-near_duplicate, .flag-duplicate_prompt": {
        "background": "#e3f2fd !important",
        "color": "#0d47a1 !important",
    },
}


def grid_key(dataset_id: int) -> str:
    """The Dataset page's grid's widget key: one per dataset, kept from the first draw (while the dataset opens,
    :func:`ui.dataset.opening_places`) to every later one, so Streamlit keeps its iframe."""
    return f"grid-{dataset_id}"


def grid_options(*, headers: dict[str, str], wrap: bool = True) -> dict[str, Any]:
    """AG Grid options for a page of rows from :func:`studio.editing.grid.grid_page` (JS hooks: see
    :func:`aggrid_arguments`)."""
    text_column = {
        "editable": True,
        "wrapText": wrap,
        "autoHeight": wrap,
        "flex": 3,
        "minWidth": 220,
        "cellEditor": "agLargeTextCellEditor",  # the turn-naming editor replaces it in aggrid_arguments
        "cellEditorPopup": True,
        "cellEditorParams": {"maxLength": 1_000_000, "rows": 12, "cols": 80},
    }
    columns = [
        {
            "field": "id",
            "headerName": headers.get("id", "id"),
            "width": 90,
            "checkboxSelection": True,
            "headerCheckboxSelection": True,
            "pinned": "left",
        },
        {
            "field": "flags",
            "headerName": headers.get("flags", "flags"),
            "width": 210,
            "wrapText": True,
            "autoHeight": wrap,
        },
        *(
            {
                "field": name,
                "headerName": headers.get(name, name),
                "tooltipField": f"{name}{TURN_LABEL_SUFFIX}",
                **text_column,
            }
            for name in TEXT_FIELDS
        ),
        {"field": "tokens", "headerName": headers.get("tokens", "tokens"), "width": 90},
        {"field": "cluster_id", "headerName": headers.get("cluster_id", "cluster"), "width": 90},
    ]
    return {
        "columnDefs": columns,
        "defaultColDef": {"resizable": True, "sortable": False, "filter": False},
        "rowSelection": "multiple",
        "suppressRowClickSelection": True,
        "stopEditingWhenCellsLoseFocus": True,
        "enableCellTextSelection": True,
        "ensureDomOrder": True,
        "tooltipShowDelay": 400,
    }


def aggrid_arguments(
    *,
    headers: dict[str, str] | None = None,
    flag_labels: dict[str, str] | None = None,
    no_rows: str | None = None,
) -> dict[str, Any]:
    """Every ``st_aggrid.AgGrid`` argument of the Dataset page's grid except its data, key and callback: the
    options, the JS hooks, single-cell deltas back, server-wins sync (a keyed grid otherwise stops taking new data
    after the first edit). ``headers`` (field → header), ``flag_labels`` (rule key → badge text) and ``no_rows``
    (the empty grid's line) are the page's language; the data keeps its field names and rule keys."""
    options = grid_options(headers=headers or {})
    options["context"] = {"flagLabels": flag_labels or {}}
    if no_rows:
        options["localeText"] = {"noRowsToShow": no_rows}
    options["getRowId"] = JsCode(ROW_ID_JS)
    options["columnDefs"][1]["cellRenderer"] = JsCode(FLAG_BADGES_JS)
    # The badges also read the row's flag_notes, which change with the language while the value (the rule keys)
    # stays: AG Grid redraws a cell on new row data only when its value differs, so this one always "differs".
    options["columnDefs"][1]["equals"] = JsCode("function(a, b) { return false; }")
    for column in options["columnDefs"]:
        if column["field"] in TEXT_FIELDS:
            column["cellEditor"] = JsCode(TURN_EDITOR_JS)
            column.pop("cellEditorParams")
    return {
        "gridOptions": options,
        "height": 560,
        "server_sync_strategy": "server_wins",
        "update_on": ["cellValueChanged", "selectionChanged"],
        "data_return_mode": "CUSTOM",
        "custom_jscode_for_grid_return": JsCode(RETURN_DELTA_JS),
        "allow_unsafe_jscode": True,
        "custom_css": BADGE_CSS,
    }
