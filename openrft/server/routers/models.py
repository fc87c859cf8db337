"""`/v1/models`: base models, the project's fine-tuned models and their kept checkpoints."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from openrft.jobs.models import ModelCatalog
from openrft.server.auth import project
from openrft.server.lists import list_object

router = APIRouter(prefix="/models")
Project = Annotated[str, Depends(project)]


def _catalog(request: Request) -> ModelCatalog:
    catalog: ModelCatalog = request.app.state.catalog
    return catalog


@router.get("")
def list_models(request: Request, project: Project) -> dict[str, Any]:
    return list_object(_catalog(request).models(project))


# `:path` because model ids contain colons and may contain slashes (hub ids).
@router.get("/{model:path}")
def retrieve_model(request: Request, project: Project, model: str) -> dict[str, Any]:
    return _catalog(request).retrieve(project, model)


@router.delete("/{model:path}")
def delete_model(request: Request, project: Project, model: str) -> dict[str, Any]:
    return _catalog(request).delete(project, model)
