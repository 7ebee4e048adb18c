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


@pytest.mark.parametrize(
    "lang,turn,saved,download",
    [
        ("en", "turn 1 · assistant · 1 token", "Saved version v1 (1 row).", "Download train (1 row)"),
        ("es", "turno 1 · asistente · 1 token", "Versión v1 guardada (1 fila).", "Descargar entrenamiento (1 fila)"),
    ],
)
def test_one_token_and_one_row_are_said_in_the_singular(tmp_path, lang, turn, saved, download):
    _, session, _ = open_chats(
        tmp_path, [{"messages": [{"role": "user", "content": "Ok?"}, {"role": "assistant", "content": "Yes"}]}]
    )
    at = open_page("dataset", dataset=session, selected_ids=(0,), **{keys.LANG: lang})
    assert turn in [c.value for c in at.caption], [c.value for c in at.caption]
    at.text_input(key="version_name").set_value("v1").run()
    at.button(key="save_version").click().run()
    assert saved in [s.value for s in at.success], [s.value for s in at.success]
    at.toggle(key="export_open").set_value(True).run()
    at.number_input(key="ratio_train").set_value(1.0)
    at.number_input(key="ratio_validation").set_value(0.0)
    at.number_input(key="ratio_test").set_value(0.0).run()
    assert not at.exception
    assert download in [b.label for b in at.get("download_button")], [b.label for b in at.get("download_button")]
