"""`/v1/files` (spec §7): upload, list, retrieve, content, delete; scoped to the project."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import FileResponse
from starlette.datastructures import UploadFile

from openrft.errors import InvalidRequestError
from openrft.server.auth import project
from openrft.server.lists import page
from openrft.store.files import FileStore

router = APIRouter()
Project = Annotated[str, Depends(project)]
_FORM_FIELDS = {"file", "purpose", "expires_after[anchor]", "expires_after[seconds]"}


def _store(request: Request) -> FileStore:
    store: FileStore = request.app.state.files
    return store


@router.post("/files")
async def create_file(request: Request, project: Project) -> dict[str, Any]:
    form = await request.form()
    try:
        unknown = sorted(set(form) - _FORM_FIELDS)
        if unknown:
            raise InvalidRequestError(f"Unrecognized form field: {unknown[0]}", param=unknown[0])
        upload, purpose = form.get("file"), form.get("purpose")
        if not isinstance(upload, UploadFile):
            raise InvalidRequestError("Missing required parameter: 'file'.", param="file")
        if not isinstance(purpose, str):
            raise InvalidRequestError("Missing required parameter: 'purpose'.", param="purpose")
        record = await run_in_threadpool(
            _store(request).create, project, upload.file, upload.filename, purpose
        )
    finally:
        await form.close()
    return record.to_object()


@router.get("/files")
def list_files(
    request: Request,
    project: Project,
    purpose: str | None = None,
    limit: Annotated[int, Query(ge=1, le=10000)] = 10000,
    order: str = "desc",
    after: str | None = None,
) -> dict[str, Any]:
    # One more than asked, to know whether a next page exists (the store caps at 10000).
    records = _store(request).list(project, purpose, order, after, min(limit + 1, 10000))
    return page([record.to_object() for record in records[:limit]], len(records) > limit)


@router.get("/files/{file_id}")
def retrieve_file(request: Request, project: Project, file_id: str) -> dict[str, Any]:
    return _store(request).get(project, file_id).to_object()


@router.get("/files/{file_id}/content")
def file_content(request: Request, project: Project, file_id: str) -> FileResponse:
    path = _store(request).content_path(project, file_id)
    return FileResponse(path, media_type="application/octet-stream")


@router.delete("/files/{file_id}")
def delete_file(request: Request, project: Project, file_id: str) -> dict[str, Any]:
    return _store(request).delete(project, file_id)
