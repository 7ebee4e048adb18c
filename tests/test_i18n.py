"""Every UI string exists in English and Spanish; lookups fall back instead of crashing."""

import pytest

from studio.i18n import missing_keys, text, translator


def test_every_english_string_has_a_spanish_translation():
    assert missing_keys() == {}


def test_lookup_formats_and_falls_back():
    assert translator("es")("home.samples_loaded_other", n=2) == "Se cargaron 2 conjuntos de ejemplo."
    assert text("home.samples_loaded_other", "en", n=2) == "Loaded 2 sample datasets."
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


def test_data_values_are_shown_translated_and_kept_in_the_data():
    from types import SimpleNamespace

    import pandas as pd

    from studio.editing.ops import DeleteRows, EditCell
    from studio.providers.job_status import job_choice, jobs_table, status_label

    es = translator("es")
    assert es.label("rules", "too_short") == "demasiado corta"
    assert es.label("rules", "no_such_rule") == "no_such_rule"  # a key no locale names is shown as it is
    frame = pd.DataFrame({"step": [1], "train_loss": [0.5], "extra": [1]})
    assert list(es.columns(frame)) == ["paso", "pérdida de entrenamiento", "extra"]
    assert list(frame) == ["step", "train_loss", "extra"]  # the data keeps its names
    assert status_label("succeeded", "es") == "🟢 completado" and status_label("succeeded") == "🟢 succeeded"
    assert status_label("mystery", "es") == "⚪ mystery"
    record = SimpleNamespace(job_id=None, model="m", status="queued", provider="local", fine_tuned_model=None)
    assert job_choice(record, "es") == "— · m · en cola"
    assert jobs_table([record], lang="es")["status"].tolist() == ["⚪ en cola"]
    assert (
        EditCell(id=3, field="assistant", value="hola").describe_in("es") == "Cambiar asistente del ejemplo 3 a 'hola'"
    )
    assert DeleteRows(ids=(1,)).describe_in("es") == "Borrar 1 fila (ids 1)"
    assert DeleteRows(ids=(1, 2)).describe_in("en") == DeleteRows(ids=(1, 2)).describe()


def test_the_near_duplicate_cap_note_is_said_in_spanish():
    import pandas as pd

    from studio.quality.near_duplicates import NearDuplicates

    found = NearDuplicates(pd.Series([], dtype="Int64"), capped_buckets=2, capped_rows=1, max_bucket=10)
    assert found.note_in("es").startswith("2 cubos LSH tenían más de 10 ejemplos parecidos; 1 miembro de cubo")
    assert found.note.startswith("2 LSH buckets had more than 10 similar-looking examples; 1 bucket member past")
    assert NearDuplicates(pd.Series([], dtype="Int64")).note_in("es") is None


def test_every_operation_in_the_history_is_said_in_spanish():
    """The history lists each operation in the page's language: every kind has its Spanish line, and English
    stays :meth:`Op.describe` word for word."""
    from studio.editing import column_ops, turn_ops
    from studio.editing import ops as o
    from studio.editing.recipes import OPERATIONS

    ops = [
        o.DeleteRows(ids=(1, 2)),
        o.DeleteFlagged(rule="pii", ids=(4,)),
        o.KeepOnePerGroup(kind="near", keep="longest", threshold=0.85, ids=(1, 2)),
        o.EditCell(id=3, field="assistant", value="hola"),
        o.RegexReplace(field="conversation", pattern="colour", replacement="color", ignore_case=True, turns="last"),
        o.StripWhitespace(),
        o.FillSystemPrompt(text="Eres útil."),
        column_ops.RenameColumn(old="src", new="source"),
        column_ops.MoveColumn(name="source", position=0),
        turn_ops.EditTurn(id=1, turn=2, text="Hola"),
        turn_ops.SetWeight(id=1, turn=2, weight=0),
        turn_ops.DeleteTurn(id=1, turn=2),
        turn_ops.InsertTurn(id=1, turn=2, role="user", text="Hola"),
        turn_ops.MoveTurn(id=1, turn=2, to=0),
        turn_ops.SetRole(id=1, turn=2, role="system"),
        turn_ops.EditToolCall(id=1, turn=2, call=0, arguments="{}"),
    ]
    assert {op.op for op in ops} == set(OPERATIONS)  # one of each kind: a new kind must be added here
    for op in ops:
        assert op.describe_in("en") == op.describe()
        spanish = op.describe_in("es")
        english_words = {"Delete", "Keep", "Set", "Replace", "Strip", "Rename", "Move", "Insert", "Make", "Train", "Do"}
        english_words |= {"among", "every", "turn", "example", "of", "in", "to"}
        assert spanish != op.describe() and not english_words & set(spanish.split()), spanish
    assert o.KeepOnePerGroup(kind="near", keep="longest", threshold=0.85, ids=(1, 2)).describe_in("es") == (
        "Dejar la fila más larga de cada grupo de casi duplicados (similitud ≥ 0.85) entre 2 ejemplos (ids 1, 2)"
    )
