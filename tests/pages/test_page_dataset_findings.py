"""AppTest: what the rules found, on the Dataset page, in the page's language: a flagged row's badge note in the
grid (the AgGrid's row data as the browser receives it) and the selected example's findings under their turn."""

import json

import pyarrow as pa
from markdown_it import MarkdownIt

from tests.pages.apptest import open_chats, open_page
from ui.markdown import WORD_JOINER

CHAT = {
    "messages": [
        {"role": "user", "content": "Hi, I am Dana, write to dana.w@example.com please."},
        {"role": "assistant", "content": "Happy to help, Dana. What would you like to know about your bike?"},
        {"role": "user", "content": "How often should I oil the chain?"},
        {"role": "assistant", "content": "Every 200 to 300 kilometres, and after any ride in the rain."},
    ]
}


def grid(at):
    """The grid's options and its rows, as the page sends them to the browser."""

    def find(node):
        if type(node).__name__ == "UnknownElement" and node.proto.id.endswith(("-grid-1", "grid")):
            return node
        for child in getattr(node, "children", {}).values():
            if (found := find(child)) is not None:
                return found
        return None

    element = find(at._tree)
    assert element is not None, "no grid on the page"
    data = next(a for a in element.proto.special_args if a.key == "data").arrow_dataframe.data.data
    return json.loads(element.proto.json_args)["gridOptions"], pa.ipc.open_stream(data).read_all().to_pandas()


def test_a_flagged_row_says_what_was_found_and_in_which_turn_in_the_pages_language(tmp_path):
    _, session, _ = open_chats(tmp_path, [CHAT])
    at = open_page("dataset", dataset=session, selected_ids=(0,))
    assert not at.exception
    _, rows = grid(at)
    assert json.loads(rows["flag_notes"].iat[0]) == {
        "pii": ["turn 0 (user)", "e-mail address 'dana.w@example.com' in turn 0 (user)"]
    }

    at.sidebar.radio[0].set_value("es").run()
    assert not at.exception
    options, rows = grid(at)
    assert rows["flags"].tolist() == ["pii"]  # the data keeps the rule key; the badge shows its Spanish name
    assert options["context"]["flagLabels"]["pii"] == "datos personales"
    assert json.loads(rows["flag_notes"].iat[0]) == {
        "pii": ["turno 0 (usuario)", "correo electrónico 'dana.w@example.com' en turno 0 (usuario)"]
    }
    assert rows["user_turn"].iat[0] == "último turno de usuario · turno 2 (4 turnos)"
    # the selected example's conversation: the finding under the turn it is in, the roles in Spanish
    captions = [c.value for c in at.caption]
    first = captions.index("turno 0 · usuario · 14 tokens")
    # a caption is markdown: the quoted dataset text comes through as its characters (no mailto link, no emphasis)
    # (tests/ui/test_markdown.py: not even remark-gfm, Streamlit's renderer, finds an e-mail to link in it)
    shown = MarkdownIt("commonmark").renderInline(captions[first + 1])
    assert shown.replace(WORD_JOINER, "") == (
        "⚠️ datos personales: correo electrónico 'dana.w@example.com' en turno 0 (usuario)"
    )
    assert WORD_JOINER + "\\@" in captions[first + 1]
    assert sum("⚠️" in c for c in captions) == 1
    # fixed in the panel: the finding goes with it (and the badge: the row is no longer flagged)
    at.text_area(key="text_0_0").set_value("Hi, I am Dana.")
    at.button(key="save_0_0").click().run()
    assert not at.exception
    assert not [c.value for c in at.caption if "⚠️" in c.value]
    assert grid(at)[1]["flags"].tolist() == [""]


def test_the_replace_preview_names_the_role_in_the_pages_language(tmp_path):
    _, session, _ = open_chats(tmp_path, [CHAT])
    at = open_page("dataset", dataset=session, lang="es")
    at.multiselect(key="replace_roles").set_value(["assistant"])
    at.text_input(key="replace_pattern").set_value("rain").run()
    at.text_input(key="replace_with").set_value("snow").run()
    assert not at.exception
    preview = at.dataframe[-1].value
    assert preview["role"].tolist() == ["asistente"] and preview["after"].str.contains("snow").all()
