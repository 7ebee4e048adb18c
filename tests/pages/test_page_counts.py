"""The Dataset page says counts of one in the singular, in English and Spanish ("Delete 1 selected row", never
"Delete 1 selected rows" or "Borrar 1 filas seleccionadas")."""

import pytest

from tests.pages.apptest import open_chats, open_page
from ui import keys

CHATS = [
    {"messages": [{"role": "user", "content": f"Question {i}?"}, {"role": "assistant", "content": f"Answer {i}."}]}
    for i in range(3)
]


@pytest.mark.parametrize(
    "lang,one,two",
    [
        ("en", "Delete 1 selected row", "Delete 2 selected rows"),
        ("es", "Borrar 1 fila seleccionada", "Borrar 2 filas seleccionadas"),
    ],
)
def test_the_delete_button_names_one_selected_row_in_the_singular(tmp_path, lang, one, two):
    _, session, _ = open_chats(tmp_path, CHATS)
    for selected, label in (((0,), one), ((0, 2), two)):
        at = open_page("dataset", dataset=session, selected_ids=selected, **{keys.LANG: lang})
        assert not at.exception
        assert label in [b.label for b in at.button], [b.label for b in at.button]
