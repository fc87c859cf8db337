"""Which models a project can call: base models, its fine-tuned models and their kept
checkpoints (`{ft model}:ckpt-step-{N}`, decision J3), each resolved to what to load.

A fine-tuned or checkpoint model belongs to the project of its job; another project's name
answers 404 like an unknown one. Deleting a fine-tuned model hides it and its checkpoints
(the weights stay on disk under `jobs/<id>/`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from openrft.errors import InvalidRequestError, NotFoundError
from openrft.store.db import Database

__all__ = ["BASE_MODELS", "ModelCatalog", "org_for"]

BASE_MODELS = ("openrft-tiny",)
_JOBS = "SELECT * FROM jobs WHERE project = ? AND status = 'succeeded' AND model_deleted = 0"


def org_for(project: str) -> str:
    """The org part of model ids (J4): the project, or `openrft` for the keyless default."""
    return "openrft" if project == "default" else project


def _missing(name: str) -> NotFoundError:
    return NotFoundError(
        f"The model '{name}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


class ModelCatalog:
    def __init__(self, db: Database):
        self.db = db

    def models(self, project: str) -> list[dict[str, Any]]:
        """Base models, then per job: its fine-tuned model (once succeeded) and its kept
        checkpoints (a paused job's checkpoints are servable too)."""
        models = [_model(name, 0, "openrft") for name in BASE_MODELS]
        owner = org_for(project)
        jobs = "SELECT * FROM jobs WHERE project = ? AND model_deleted = 0 ORDER BY created_ns"
        for job in self.db.all(jobs, (project,)):
            if job["status"] == "succeeded" and job["fine_tuned_model"]:
                created = job["finished_at"] or job["created_ns"] // 10**9
                models.append(_model(job["fine_tuned_model"], created, owner))
            for ckpt in self._checkpoints(job["id"]):
                models.append(_model(ckpt["model_name"], ckpt["created_at"], owner))
        return models

    def _checkpoints(self, job_id: str) -> list[Any]:
        return self.db.all("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step", (job_id,))

    def retrieve(self, project: str, name: str) -> dict[str, Any]:
        for model in self.models(project):
            if model["id"] == name:
                return model
        raise _missing(name)

    def resolve(self, project: str, name: str) -> str:
        """What `load_model` gets for `name`: a checkpoint/model directory, or the base name."""
        if not name.startswith("ft:"):
            if name in BASE_MODELS or Path(name).is_dir():
                return name
            raise _missing(name)
        job = self.db.one(_JOBS + " AND fine_tuned_model = ?", (project, name))
        if job is not None and job["fine_tuned_model_path"]:
            return str(job["fine_tuned_model_path"])
        ckpt = self.db.one(
            "SELECT checkpoints.path FROM checkpoints JOIN jobs ON jobs.id = checkpoints.job_id "
            "WHERE checkpoints.model_name = ? AND jobs.project = ? AND jobs.model_deleted = 0",
            (name, project),
        )
        if ckpt is None:
            raise _missing(name)
        return str(ckpt["path"])

    def delete(self, project: str, name: str) -> dict[str, Any]:
        job = self.db.one(_JOBS + " AND fine_tuned_model = ?", (project, name))
        if job is None:
            if name in BASE_MODELS or ":ckpt-step-" in name:
                raise InvalidRequestError(
                    "Only fine-tuned models can be deleted (not base models or checkpoints).",
                    param="model",
                )
            raise _missing(name)
        with self.db.tx() as conn:
            conn.execute("UPDATE jobs SET model_deleted = 1 WHERE id = ?", (job["id"],))
        return {"id": name, "object": "model", "deleted": True}


def _model(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner}
