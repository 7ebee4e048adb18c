"""``/v1/models``: base models, fine-tuned models and their checkpoints; delete a fine-tuned model; export one
(``POST /v1/models/{model}/export``, an engine extension) into the engine's ``exports/`` folder."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from studio.engine.api.deps import EngineDep
from studio.engine.errors import NotFoundError
from studio.engine.protocol import ExportRequest, deleted_object, dump, page

router = APIRouter(prefix="/models", tags=["models"])


@router.get("")
def list_models(engine: EngineDep) -> dict[str, Any]:
    return page(engine.model_objects(), has_more=None)


@router.get("/{model_id:path}")
def retrieve_model(engine: EngineDep, model_id: str) -> dict[str, Any]:
    for item in engine.model_objects():
        if item.id == model_id:
            return dump(item)
    raise NotFoundError(f"The model '{model_id}' does not exist", param="model", code="model_not_found")


@router.delete("/{model_id:path}")
def delete_model(engine: EngineDep, model_id: str) -> dict[str, Any]:
    engine.delete_model(model_id)
    return deleted_object(model_id, "model")


@router.post("/{model_id:path}/export")
def export_model(engine: EngineDep, model_id: str, body: ExportRequest) -> dict[str, Any]:
    """Write ``model_id`` in ``body.format`` under ``<engine home>/exports/`` (see :mod:`studio.engine.export`);
    answers ``{"object": "model.export", "model", "format", "path", "files"}``. The path is on the engine's
    machine. Takes seconds to a minute (it loads and merges the model), beside any running answers."""
    from studio.engine import models as engine_models
    from studio.engine.export import export_model as write_export

    source, adapter = engine.resolve(model_id)
    engine_models.require_torch()
    base = engine_models.materialize(source, engine.models_dir)
    out = engine.export_dir(model_id, body.format)
    result = write_export(base, adapter, out, body.format, name=model_id)
    return {"object": "model.export", "model": model_id, **result.as_dict()}
