"""`validating_files`: what a job's data must pass before it may queue (decisions D2–D4).

Reads the training (and validation) file with the strict RFT row rules, checks that every
`{{ item.… }}` the grader reads resolves in every row and, in a job with tools, that every
function a row offers is one the job serves (`openrft.train.tools.unserved_tool`), and,
with no validation file, holds one out deterministically with the job's seed
(`openrft.train.spec.held_out`). The grader and tools are the ones the route validated, read
back from the job's stored method (not validated again).
The rows a job trains on are written to `jobs/<id>/train.jsonl` and `valid.jsonl`
(atomically), so a resumed job sees the same data even if the uploads are deleted later; with
object storage they go to the bucket too, for a worker on another host (`store.blob_dirs`).
A failure is a `JobDataError` for the job's `error`. Workers on several hosts share the queue:
a job is validated under one worker's lease (`JobTable.claim_validation`), so one of them
announces and validates it; one whose validation outlasts the lease may be validated again by
another (the same rows, and one `queued` move wins).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Literal

from openrft.data.refs import check_refs
from openrft.data.validate import iter_valid_rows
from openrft.errors import DataFileError, InvalidRequestError, NotFoundError
from openrft.jobs.events import EventStore
from openrft.jobs.store import JobStore
from openrft.store.atomic import atomic_file
from openrft.store.blob_dirs import mirror
from openrft.store.db import Database, loads
from openrft.store.disk import is_disk_full
from openrft.store.files import FileStore
from openrft.train.spec import Method, Splits, held_out
from openrft.train.tools import unserved_tool

__all__ = ["JobDataError", "prepare", "prepare_next", "read_rows"]

log = logging.getLogger(__name__)

Row = dict[str, Any]
_NO_LEASE: dict[str, Any] = {"lease_owner": None, "lease_expires_at": None}


class JobDataError(InvalidRequestError):
    """Why a job's files failed validation; `error` is OpenAI's job `error` object."""

    def __init__(self, message: str, param: str):
        super().__init__(message, param=param, code=f"invalid_{param}")
        self.error = {"code": f"invalid_{param}", "message": message, "param": param}


def _rows(files: FileStore, project: str, file_id: str, param: str) -> list[tuple[int, Row]]:
    split: Literal["train", "valid"] = "train" if param == "training_file" else "valid"
    try:
        path = files.content_path(project, file_id)
        return list(iter_valid_rows(path, split=split, path_label=file_id))
    except (DataFileError, NotFoundError) as exc:
        raise JobDataError(exc.message, param) from None


def _check(method: Method, rows: list[tuple[int, Row]], file_id: str, param: str) -> None:
    if not rows:
        raise JobDataError(f"{file_id}: the file has no rows", param)
    failures = check_refs(method.reinforcement.grader, rows)
    if failures:
        raise JobDataError(failures[0].message(file_id), param)
    unserved = unserved_tool(method.reinforcement.tools, rows)
    if unserved:
        raise JobDataError(f"{file_id} {unserved}", param)


def prepare(job: Any, method: Method, files: FileStore, workdir: Path) -> Splits:
    """Validate the job's files and write the rows it will use under `workdir`."""
    train = _rows(files, job["project"], job["training_file"], "training_file")
    _check(method, train, job["training_file"], "training_file")
    if job["validation_file"]:
        valid = _rows(files, job["project"], job["validation_file"], "validation_file")
        _check(method, valid, job["validation_file"], "validation_file")
        prepared = Splits([row for _, row in train], [row for _, row in valid])
    else:
        prepared = held_out([row for _, row in train], job["seed"])
        if not prepared.valid:
            raise JobDataError(
                "Without a validation_file the training file needs at least 2 rows to split",
                "training_file",
            )
    workdir.mkdir(parents=True, exist_ok=True)
    _write_rows(workdir / "train.jsonl", prepared.train)
    _write_rows(workdir / "valid.jsonl", prepared.valid)
    mirror(files.root.parent, [workdir / "train.jsonl", workdir / "valid.jsonl"])  # a bucket's
    return prepared


def prepare_next(
    db: Database, jobs: JobStore, events: EventStore, files: FileStore, home: Path,
    *, owner: str = "", lease: float = 30.0,
) -> None:  # fmt: skip
    """Take the oldest `validating_files` job to `queued`, or to `failed` with its reason,
    under `owner`'s lease for `lease` seconds (workers on several hosts: one validates it)."""
    job = jobs.table.claim_validation(owner, lease)
    if job is None:
        return
    events.add(job["id"], "Validating training file: " + job["training_file"])
    try:
        method = Method.model_validate(loads(job["method"]))
        prepared = prepare(job, method, files, home / "jobs" / job["id"])
    except Exception as exc:  # boundary: a job that cannot be prepared fails, visibly
        error = _error_of(exc, job["id"])
        jobs.move(job["id"], {"validating_files"}, "failed", error=error,
                  finished_at=int(time.time()), **_NO_LEASE)  # fmt: skip
        events.add(job["id"], error["message"], level="error")
        return
    if prepared.note:
        events.add(job["id"], prepared.note)
    if jobs.move(job["id"], {"validating_files"}, "queued", **_NO_LEASE):
        events.add(job["id"], "Files validated; the job is queued")


def _error_of(exc: Exception, job_id: str) -> dict[str, Any]:
    if isinstance(exc, JobDataError):
        return exc.error
    if is_disk_full(exc):
        message = f"No space left on the disk under OPENRFT_HOME for the job's data: {exc}"
        return {"code": "disk_full", "message": message, "param": None}
    log.exception("preparing job %s failed", job_id)
    return JobDataError(f"could not read the job's files: {exc}", "training_file").error


def _write_rows(path: Path, rows: list[Row]) -> None:
    with atomic_file(path) as out:  # a `.tmp-*` file until whole: the worker sweeps those
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def read_rows(path: Path) -> list[Row]:
    with open(path, encoding="utf-8") as stream:
        return [json.loads(line) for line in stream if line.strip()]
