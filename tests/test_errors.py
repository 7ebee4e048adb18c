"""One home for the exception family: every StudioError subclass is defined in studio.errors, except the local
engine's own errors (studio.engine.errors) and the two errors only its HTTP layer has (studio.engine.api.errors:
a wrong key, an oversized body), which derive from the same base."""

import ast

import studio.engine.api.errors as api_errors
import studio.engine.errors as engine_errors
import studio.errors as errors
from studio.errors import StudioError
from tests.conftest import ROOT

HOMES = {
    ROOT / "studio" / "errors.py",
    ROOT / "studio" / "engine" / "errors.py",
    ROOT / "studio" / "engine" / "api" / "errors.py",
}


def _family(module: object) -> dict[str, type]:
    return {
        name: value
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, StudioError) and value.__module__ == module.__name__
    }


def test_every_studio_error_is_defined_in_one_of_the_two_homes():
    family = set(_family(errors)) | set(_family(engine_errors)) | set(_family(api_errors))
    strays = []
    for path in sorted((ROOT / "studio").rglob("*.py")):
        if path in HOMES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            bases = {b.id if isinstance(b, ast.Name) else getattr(b, "attr", "") for b in getattr(node, "bases", [])}
            if isinstance(node, ast.ClassDef) and bases & family:
                strays.append(f"{path.relative_to(ROOT)}: {node.name}")
    assert strays == []


def test_the_engine_errors_derive_from_the_studio_base():
    family = _family(engine_errors)
    assert {"EngineError", "NotFoundError", "PullError"} <= set(family)
    assert all(issubclass(cls, StudioError) for cls in family.values())


def test_the_library_errors_are_importable_from_studio_errors():
    expected = {
        "LoadError",
        "FormatError",
        "ExportError",
        "WorkspaceError",
        "PatternError",
        "OperationError",
        "PricingError",
        "ModerationError",
        "ProviderError",
        "JobError",
        "CompareError",
    }
    assert expected <= set(_family(errors))
