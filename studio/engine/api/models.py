"""``/v1/models``: base models, fine-tuned models and their checkpoints; delete a fine-tuned model."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from studio.engine.api.deps import EngineDep
from studio.engine.errors import NotFoundError
from studio.engine.protocol import deleted_object, dump, page

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
