"""The Dataset page's AgGrid options: text is never rendered as HTML; edits come back as one-cell deltas."""

from ui.aggrid import RETURN_DELTA_JS, aggrid_arguments, grid_options


def test_grid_options_never_use_html_renderers_on_text():
    options = grid_options(headers={})
    text_columns = [c for c in options["columnDefs"] if c["field"] in ("system", "user", "assistant")]
    assert all(c["editable"] and "cellRenderer" not in c for c in text_columns)


def test_the_grid_returns_only_the_delta_and_renders_flags_with_text_content():
    arguments = aggrid_arguments(headers={"user": "Usuario"})
    assert arguments["data_return_mode"] == "CUSTOM" and arguments["server_sync_strategy"] == "server_wins"
    assert " ".join(RETURN_DELTA_JS.split()) in arguments["custom_jscode_for_grid_return"].js_code
    columns = {c["field"]: c for c in arguments["gridOptions"]["columnDefs"]}
    assert columns["user"]["headerName"] == "Usuario"
    renderer = columns["flags"]["cellRenderer"].js_code
    assert "textContent" in renderer and "innerHTML" not in renderer
