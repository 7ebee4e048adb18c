"""Every UI string exists in English and Spanish; lookups fall back instead of crashing."""

import pytest

from studio.i18n import missing_keys, text, translator


def test_every_english_string_has_a_spanish_translation():
    assert missing_keys() == {}


def test_lookup_formats_and_falls_back():
    assert translator("es")("home.samples_loaded", n=2) == "Se cargaron 2 conjuntos de ejemplo."
    assert text("home.samples_loaded", "en", n=2) == "Loaded 2 sample datasets."
    assert text("home.no_such_key", "es") == "home.no_such_key"
    with pytest.raises(ValueError, match="unknown language 'fr'"):
        translator("fr")


def test_translator_names_its_language():
    assert translator("es").lang == "es"


def test_every_key_the_app_looks_up_exists_in_english():
    # Literal keys in tr("namespace.key", ...) calls of app.py, app_pages/ and ui/; a missing one would show the
    # key itself on screen.
    import ast

    from tests.conftest import ROOT

    files = [ROOT / "app.py", *(ROOT / "app_pages").glob("*.py"), *(ROOT / "ui").glob("*.py")]
    used = {
        node.args[0].value
        for path in files
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and getattr(node.func, "id", None) == "tr"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    }
    assert len(used) > 150
    assert sorted(key for key in used if text(key, "en") == key) == []
