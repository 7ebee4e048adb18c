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
