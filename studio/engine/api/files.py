"""``/v1/files``: upload (streamed to disk under the size limit, then checked), list, retrieve, content, delete."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from studio.core.files import PARTIAL_SUFFIX, write_failure
from studio.engine.api.deps import EngineDep
from studio.engine.api.errors import PayloadTooLargeError
from studio.engine.errors import InvalidValueError, StorageError
from studio.engine.protocol import deleted_object, dump, file_object, page

router = APIRouter(tags=["files"])
_FORM_OVERHEAD = 64 * 1024
"""Bytes a multipart body may have beyond the file itself (boundaries, the purpose field)."""


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"File too large: the engine accepts uploads up to {limit} bytes", param="file", code="file_too_large"
    )


@router.post("/files")
async def upload_file(engine: EngineDep, request: Request) -> dict[str, Any]:
    limit = engine.max_upload_bytes
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit + _FORM_OVERHEAD:
        raise _too_large(limit)  # before reading (or buffering) any of the body
    try:  # Starlette spools a body over 1 MB to the system's temp folder while it parses the form
        form = await request.form(max_files=1, max_fields=8)
    except OSError as exc:
        message = str(write_failure(f"the upload (buffered in {tempfile.gettempdir()})", exc))
        raise StorageError(message, param="file", code="storage_full") from None
    upload, purpose = form.get("file"), form.get("purpose")
    if purpose != "fine-tune":
        raise InvalidValueError(f"purpose must be 'fine-tune', got {purpose!r}", param="purpose")
    if upload is None or isinstance(upload, str):
        raise InvalidValueError("Missing file upload in field 'file'", param="file")
    filename = Path(str(upload.filename or "").replace("\\", "/")).name[:255]
    if filename in ("", ".", ".."):  # a name that is a directory would be a trap for whoever saves it
        filename = "upload.jsonl"
    tmp_dir = engine.store.home / "tmp"
    tmp_dir.mkdir(exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".upload.{os.getpid()}.", suffix=PARTIAL_SUFFIX, dir=tmp_dir)
    tmp = Path(tmp_name)
    try:
        size = 0
        with os.fdopen(fd, "wb") as out:
            while chunk := await upload.read(1 << 20):
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                try:
                    out.write(chunk)
                except OSError as exc:  # a full disk or a file-size limit: one line, the partial file removed
                    message = str(write_failure(f"the upload {filename}", exc))
                    raise StorageError(message, param="file", code="storage_full") from None
        record = await run_in_threadpool(engine.add_upload, tmp, filename=filename, purpose=purpose)
    finally:
        tmp.unlink(missing_ok=True)
        await form.close()
    return dump(file_object(record))


@router.get("/files")
def list_files(
    engine: EngineDep,
    purpose: str | None = None,
    after: str | None = None,
    limit: int = 10000,
    order: Literal["asc", "desc"] = "desc",
) -> dict[str, Any]:
    listing = engine.store.list_files(purpose=purpose, after=after, limit=limit)
    items = [file_object(f) for f in listing.items]
    return page(items[::-1] if order == "asc" else items, has_more=listing.has_more)


@router.get("/files/{file_id}")
def retrieve_file(engine: EngineDep, file_id: str) -> dict[str, Any]:
    return dump(file_object(engine.store.get_file(file_id)))


@router.get("/files/{file_id}/content")
def file_content(engine: EngineDep, file_id: str) -> FileResponse:
    record = engine.store.get_file(file_id)
    media = "text/csv" if record.filename.endswith(".csv") else "application/octet-stream"
    return FileResponse(engine.store.files_dir / record.id, media_type=media, filename=record.filename)


@router.delete("/files/{file_id}")
def delete_file(engine: EngineDep, file_id: str) -> dict[str, Any]:
    engine.store.delete_file(file_id)
    return deleted_object(file_id, "file")
