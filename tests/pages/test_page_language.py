"""AppTest: switching the sidebar's language keeps every choice the user made on the page: the search scope (every
role by default, tool turns among them), the radios and the menus of the fixes. Streamlit keeps a choice widget's
value as the words it shows, so the Spanish words once read none of the English ones: the scope lost its tool turns
(a search that found 3 of 3 rows found 0) and the radios their choice (ui/frame.py kept_choice).

AppTest itself words each widget's value again with the new labels before the next run, as a browser does not: the
browser keeps the words it showed unless the page sends it the value (``set_value`` with the new words). So each
test also reads what the page sends the browser (:func:`sent_to_browser`)."""

import json

import pytest

from tests.pages.apptest import open_chats, open_page


def chat(booking: str) -> dict:
    """A conversation whose only e-mail mention is in a tool call's arguments and in the tool's result."""
    return {
        "messages": [
            {"role": "user", "content": f"Where is booking {booking}?"},
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "lookup_booking", "arguments": json.dumps({"send_email": True})},
                    }
                ],
            },
            {"role": "tool", "tool_call_id": "call_1", "content": "status: sent to [email]"},
            {"role": "assistant", "content": "It is confirmed."},
        ]
    }


@pytest.fixture
def page(tmp_path):
    # two exact duplicates (the duplicates filter keeps them) and one more
    _, session, _ = open_chats(tmp_path, [chat("B1"), chat("B1"), chat("C2")])
    return open_page("dataset", dataset=session)


def rows_shown(at):
    return next(m.value for m in at.markdown if m.value.startswith("**") and ("rows" in m.value or "filas" in m.value))


WIDGETS = {  # key: (widget, a value other than its default)
    "regex_roles": ("multiselect", ["tool"]),
    "regex_turns": ("radio", "last"),
    "dup_mode": ("radio", "exact"),
    "keep_kind": ("selectbox", "near"),
    "keep_which": ("radio", "longest"),
    "replace_roles": ("multiselect", ["tool_calls"]),
    "replace_turns": ("radio", "first"),
    "bulk_rule": ("selectbox", "pii"),
}
CHOICES = {key: value for key, (_, value) in WIDGETS.items()}


def sent_to_browser(at, key):
    """The choice the page tells the browser to show for widget ``key``, in the words shown (a list for a
    multiselect), or None when it tells nothing and the browser keeps the words it showed before."""
    widget = next(w for kind in ("radio", "selectbox", "multiselect") for w in getattr(at, kind) if w.key == key)
    if not widget.proto.set_value:
        return None
    return list(widget.proto.raw_values) if widget.type == "multiselect" else widget.proto.raw_value


def switch(at, lang):
    at.sidebar.radio(key="lang").set_value(lang).run()
    assert not at.exception


def test_the_default_scope_searches_every_role_in_both_languages(page):
    at = page
    for word in ("email", "status"):  # in tool-call arguments, in a tool result: in no user or assistant text
        at.text_input(key="regex").set_value(word).run()
        assert rows_shown(at) == "**3 of 3 rows**"
    switch(at, "es")
    assert at.session_state["regex_roles"] == ["system", "user", "assistant", "tool", "tool_calls"]
    assert sent_to_browser(at, "regex_roles") == [
        "sistema",
        "usuario",
        "asistente",
        "resultados de herramientas",
        "llamadas a herramientas",
    ]
    assert rows_shown(at) == "**3 de 3 filas**"
    at.text_input(key="regex").set_value("email").run()
    assert rows_shown(at) == "**3 de 3 filas**"


def test_a_language_switch_keeps_the_scope_radios_and_menus_and_the_rows_found(page):
    at = page
    at.text_input(key="regex").set_value("email").run()
    for key, (widget, value) in WIDGETS.items():
        getattr(at, widget)(key=key).set_value(value).run()
    assert rows_shown(at) == "**2 of 3 rows**"  # the duplicates, found in their tool turn
    for lang, count in (("es", "**2 de 3 filas**"), ("en", "**2 of 3 rows**"), ("es", "**2 de 3 filas**")):
        switch(at, lang)
        assert {key: at.session_state[key] for key in CHOICES} == CHOICES
        assert rows_shown(at) == count
    # the browser is told each choice in Spanish words
    assert {key: sent_to_browser(at, key) for key in CHOICES} == {
        "regex_roles": ["resultados de herramientas"],
        "regex_turns": "el último",
        "dup_mode": "exactos",
        "keep_kind": "casi duplicados",
        "keep_which": "la más larga",
        "replace_roles": ["llamadas a herramientas"],
        "replace_turns": "el primero",
        "bulk_rule": "datos personales",
    }
    at.text_input(key="regex").set_value("status").run()  # the next search: the same scope
    assert rows_shown(at) == "**2 de 3 filas**"
