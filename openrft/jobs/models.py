"""Which models a project can call: the base models the operator allows, its fine-tuned
models and their kept checkpoints (`{ft model}:ckpt-step-{N}`, decision J3), each resolved to
what to load.

Guarantees: a name is looked up, never opened. A base model is a name on the operator's
allow-list (`OPENRFT_BASE_MODELS`, `openrft serve --base-model`; default `openrft-tiny`), which
maps it to a builtin, a hub id or a directory the operator chose; a path given as `model` is
an unknown name (404), so no request reaches a file the operator did not list. A fine-tuned or
checkpoint model belongs to the project of its job; another project's name answers 404 like an
unknown one, and a model or checkpoint whose directory is gone (retention, a removed folder)
is neither listed nor served: a 404 by name, since an answer never holds a server path. The
directories are stored relative to the home, so a moved home keeps its models; the models
`openrft train` makes are recorded in the same tables (`openrft.jobs.local`). Deleting a
fine-tuned model hides it and its checkpoints (the weights stay under `jobs/<id>/`).
What it does not do: the CLI loads paths directly (`openrft train`/`eval`), without the catalog.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from openrft.errors import InvalidRequestError, NotFoundError
from openrft.store.blob_dirs import anywhere, local_copy
from openrft.store.db import Database
from openrft.store.jobs import JobTable
from openrft.store.paths import located

__all__ = [
    "DEFAULT_BASE_MODELS",
    "ModelCatalog",
    "org_for",
    "parse_base_models",
    "render",
    "servable",
]

DEFAULT_BASE_MODELS: Mapping[str, str] = {"openrft-tiny": "openrft-tiny"}
"""Base model name -> what `load_model` gets (the name itself, or a directory)."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,127}$")


def org_for(project: str) -> str:
    """The org part of model ids (J4): the project, or `openrft` for the keyless default."""
    return "openrft" if project == "default" else project


def parse_base_models(entries: Iterable[str]) -> dict[str, str]:
    """`NAME` (a builtin or hub id, loaded by name) or `NAME=DIR` (a local model directory,
    made absolute now) per entry; a bad name or a DIR that is not a directory is an error."""
    models: dict[str, str] = {}
    for entry in (entry.strip() for entry in entries):
        if not entry:
            continue
        name, sep, where = entry.partition("=")
        name = name.strip()
        if not _NAME.match(name) or any(part in ("", ".", "..") for part in name.split("/")):
            raise InvalidRequestError(
                f"base model name {name!r}: letters, digits, '.', '_', '-' and '/' between "
                "parts (no '..'); written NAME or NAME=DIR"
            )
        models[name] = _directory(name, where.strip()) if sep else name
    return models


def _directory(name: str, where: str) -> str:
    path = Path(where).expanduser().resolve()
    if "," in str(path) or not path.is_dir():
        raise InvalidRequestError(f"base model {name}: {where!r} is not a directory (or has a ',')")
    return str(path)


def render(models: Mapping[str, str]) -> str:
    """The `OPENRFT_BASE_MODELS` text for `models` (what the job child reads back)."""
    return ",".join(
        name if target == name else f"{name}={target}" for name, target in models.items()
    )


def _missing(name: str) -> NotFoundError:
    return NotFoundError(
        f"The model '{name}' does not exist or you do not have access to it.",
        param="model",
        code="model_not_found",
    )


class ModelCatalog:
    def __init__(self, db: Database, base_models: Mapping[str, str] | None = None):
        self.db, self.jobs = db, JobTable(db)
        self.base_models = dict(DEFAULT_BASE_MODELS if base_models is None else base_models)

    def models(self, project: str) -> list[dict[str, Any]]:
        """Base models, then per job: its fine-tuned model (once succeeded) and its kept
        checkpoints (a paused job's checkpoints are servable too)."""
        models = [_model(name, 0, "openrft") for name in self.base_models]
        owner = org_for(project)
        for job in self.jobs.with_models(project):
            if self._final(job) is not None:
                created = job["finished_at"] or job["created_ns"] // 10**9
                models.append(_model(job["fine_tuned_model"], created, owner))
            for ckpt in self._checkpoints(job["id"]):
                models.append(_model(ckpt["model_name"], ckpt["created_at"], owner))
        return models

    def _checkpoints(self, job_id: str) -> list[Any]:
        rows = self.db.all("SELECT * FROM checkpoints WHERE job_id = ? ORDER BY step", (job_id,))
        return [row for row in rows if servable(self.db.home, row)]

    def _final(self, job: Any) -> Path | None:
        """A succeeded job's model directory, if it is still there."""
        if job["status"] != "succeeded" or not job["fine_tuned_model"]:
            return None
        folder = self.jobs.model_dir(job)
        return folder if folder is not None and anywhere(self.db.home, folder) else None

    def retrieve(self, project: str, name: str) -> dict[str, Any]:
        for model in self.models(project):
            if model["id"] == name:
                return model
        raise _missing(name)

    def resolve(self, project: str, name: str) -> str:
        """What `load_model` gets for `name`: an allowed base model's target, or the directory
        of one of the project's fine-tuned models or checkpoints; 404 for anything else."""
        if not name.startswith("ft:"):
            target = self.base_models.get(name)
            if target is None:
                raise _missing(name)
            return target
        job = self.jobs.by_model(name, project)
        final = self._final(job) if job is not None else None
        if final is not None:
            return str(local_copy(self.db.home, final))
        ckpt = self._checkpoint(project, name)
        if ckpt is None:  # never a path in the answer: the name is all the caller knows
            raise _missing(name)
        return str(local_copy(self.db.home, located(self.db.home, ckpt["path"])))

    def _checkpoint(self, project: str, name: str) -> Any:
        """The project's servable checkpoint called `name`, or None."""
        ckpt = self.jobs.checkpoint(name, project)
        return ckpt if ckpt is not None and servable(self.db.home, ckpt) else None

    def delete(self, project: str, name: str) -> dict[str, Any]:
        job = self.jobs.by_model(name, project)
        if job is None:
            if name in self.base_models or self._checkpoint(project, name) is not None:
                raise InvalidRequestError(
                    "Only fine-tuned models can be deleted (not base models or checkpoints).",
                    param="model",
                )
            raise _missing(name)
        self.jobs.delete_model(job["id"])
        return {"id": name, "object": "model", "deleted": True}


def servable(home: Path, checkpoint: Any) -> bool:
    """A recorded checkpoint whose directory still exists, here or in the bucket (retention
    deletes directories); its path is stored relative to `home` (`openrft.store.paths`)."""
    return anywhere(home, located(home, checkpoint["path"]))


def _model(name: str, created: int, owner: str) -> dict[str, Any]:
    return {"id": name, "object": "model", "created": created, "owned_by": owner}
