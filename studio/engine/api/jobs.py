"""``/v1/fine_tuning/jobs``: create, list, retrieve, cancel, pause, resume, events and checkpoints."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from studio.engine.api.deps import EngineDep
from studio.engine.protocol import JobRequest, checkpoint_object, dump, event_object, job_object, page

router = APIRouter(prefix="/fine_tuning/jobs", tags=["fine-tuning"])


@router.post("")
def create_job(engine: EngineDep, body: JobRequest) -> dict[str, Any]:
    return dump(job_object(engine.create_job(body)))


@router.get("")
def list_jobs(engine: EngineDep, after: str | None = None, limit: int = 20) -> dict[str, Any]:
    listing = engine.store.list_jobs(after=after, limit=limit)
    return page([job_object(j) for j in listing.items], has_more=listing.has_more)


@router.get("/{job_id}")
def retrieve_job(engine: EngineDep, job_id: str) -> dict[str, Any]:
    return dump(job_object(engine.store.get_job(job_id)))


@router.post("/{job_id}/cancel")
def cancel_job(engine: EngineDep, job_id: str) -> dict[str, Any]:
    return dump(job_object(engine.transition(job_id, "cancel")))


@router.post("/{job_id}/pause")
def pause_job(engine: EngineDep, job_id: str) -> dict[str, Any]:
    return dump(job_object(engine.transition(job_id, "pause")))


@router.post("/{job_id}/resume")
def resume_job(engine: EngineDep, job_id: str) -> dict[str, Any]:
    return dump(job_object(engine.transition(job_id, "resume")))


@router.get("/{job_id}/events")
def list_events(engine: EngineDep, job_id: str, after: str | None = None, limit: int = 20) -> dict[str, Any]:
    listing = engine.store.list_events(job_id, after=after, limit=limit)
    return page([event_object(e) for e in listing.items], has_more=listing.has_more)


@router.get("/{job_id}/checkpoints")
def list_checkpoints(engine: EngineDep, job_id: str, after: str | None = None, limit: int = 10) -> dict[str, Any]:
    listing = engine.store.list_checkpoints(job_id, after=after, limit=limit)
    return page([checkpoint_object(c) for c in listing.items], has_more=listing.has_more)
