"""`/v1/fine_tuning/jobs/**` (spec §5): create, list, retrieve, cancel, pause, resume,
events and checkpoints. Jobs are the caller's project's only; the worker runs them.

Create checks what it can at once (a 400 naming the field): method, grader, file ids and
model. It builds the job contract once (`openrft.train.spec`: the grader validated here, the
hyperparameters and settings typed) and stores it; the worker and the job child trust it.
The files' contents are checked by the worker (`validating_files`, D2/D3), whose failure
lands on the job's `error` as OpenAI reports it.
"""

from __future__ import annotations

import random
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from openrft.errors import InvalidRequestError, NotFoundError
from openrft.graders import validate_grader
from openrft.jobs.budget import check_response_format
from openrft.jobs.events import EventStore, checkpoint_object, event_object
from openrft.jobs.secrets import write_secrets
from openrft.jobs.store import JobStore, job_object
from openrft.jobs.validation_runs import job_eval_fields
from openrft.server.auth import project
from openrft.server.lists import page
from openrft.server.wire import JobCreateRequest, Reinforcement
from openrft.train import judge_gate
from openrft.train.spec import Hyperparameters, Method, TrainSettings
from openrft.train.spec import Reinforcement as JobReinforcement
from openrft.train.tools import check_tools_format, parse_tools

router = APIRouter(prefix="/fine_tuning/jobs")
Project = Annotated[str, Depends(project)]


def _jobs(request: Request) -> JobStore:
    store: JobStore = request.app.state.jobs
    return store


def _events(request: Request) -> EventStore:
    store: EventStore = request.app.state.events
    return store


@router.post("")
def create_job(body: JobCreateRequest, request: Request, project: Project) -> dict[str, Any]:
    method = _method(body)
    _check_file(request, project, body.training_file, "training_file")
    if body.validation_file is not None:
        _check_file(request, project, body.validation_file, "validation_file")
    try:
        source = request.app.state.catalog.resolve(project, body.model)
    except NotFoundError as exc:
        raise InvalidRequestError(exc.message, param="model", code="model_not_found") from None
    settings = _settings(body.settings)
    if settings is not None and settings.devices is not None:  # torch only when GPUs are named
        from openrft.train.distributed import check_devices

        settings = check_devices(settings)
    if settings is not None and settings.processes > 1:  # torch only for a multi-process job
        from openrft.train.distributed import check_processes

        batch = method.reinforcement.hyperparameters.batch_size
        check_processes(settings, batch)
    judge_gate.validate(settings.judge_check if settings else None, method.reinforcement.grader)
    reinforcement = method.reinforcement
    check_response_format(reinforcement.response_format, model=body.model, source=source,
                          reasoning_effort=reinforcement.hyperparameters.reasoning_effort,
                          settings=settings or TrainSettings())  # fmt: skip
    stored = method.to_json()
    fields = body.model_dump(include={"model", "training_file", "validation_file", "suffix"})
    fields.update(method=stored, metadata=body.metadata, integrations=body.integrations)
    fields["settings"] = settings.model_dump(exclude_unset=True) if settings else None
    fields["seed"] = body.seed if body.seed is not None else random.randint(0, 2**31 - 1)
    key = request.headers.get("idempotency-key")
    with request.app.state.db.tx():  # the job, its eval and first event appear together
        row, new = _jobs(request).create(project, fields, idempotency_key=key)
        if new:
            # The tools' and endpoint graders' header values: apart from the job's row (and
            # its eval's), until it finishes (`openrft.jobs.secrets`); a failed write rolls
            # the job back.
            write_secrets(_jobs(request).table, row["id"], method, settings)
            _events(request).add(row["id"], "Created fine-tuning job")
            eval_grader = (fields["settings"] or {}).get("eval_grader")
            criteria = job_eval_fields(row["id"], stored["reinforcement"]["grader"], eval_grader)
            evaluation = request.app.state.evals.create_eval(project, criteria)
            _jobs(request).update(row["id"], eval_id=evaluation["id"])
            row = _jobs(request).row(row["id"])
    return job_object(row)


def _reinforcement(body: JobCreateRequest) -> Reinforcement:
    if body.method is None or body.method.type != "reinforcement":
        raise InvalidRequestError(
            "openrft runs reinforcement fine-tuning: set method.type to 'reinforcement'",
            param="method.type",
        )
    if body.method.reinforcement is None:
        raise InvalidRequestError(
            "Missing required parameter: 'method.reinforcement'.", param="method.reinforcement"
        )
    return body.method.reinforcement


def _method(body: JobCreateRequest) -> Method:
    """The job's method, typed: the one place a job's grader is validated (a 400 whose
    `param` is its path in the create body); every later layer trusts it."""
    reinforcement = _reinforcement(body)
    grader = validate_grader(
        reinforcement.grader, for_training=True, param="method.reinforcement.grader"
    )
    typed = JobReinforcement(
        grader=grader,
        response_format=_response_format(reinforcement.response_format),
        hyperparameters=reinforcement.hyperparameters or Hyperparameters(),
        tools=[] if reinforcement.tools is None else parse_tools(reinforcement.tools),
        max_episode_steps=reinforcement.max_episode_steps or 10,
    )
    check_tools_format(typed.tools, typed.response_format, "method.reinforcement.response_format")
    return Method(type="reinforcement", reinforcement=typed)


def _settings(data: dict[str, Any] | None) -> TrainSettings | None:
    """openrft's engine settings, checked now: a bad one is a 400 naming its field."""
    if not data:
        return None
    if data.get("eval_grader") is not None:  # checked as the job's grader is, once, here
        grader = validate_grader(
            data["eval_grader"], for_training=True, param="settings.eval_grader"
        )
        data = {**data, "eval_grader": grader}
    try:
        return TrainSettings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(["settings", *(str(part) for part in first["loc"])])
        problem = "unknown setting" if first["type"] == "extra_forbidden" else first["msg"]
        raise InvalidRequestError(f"Invalid '{param}': {problem}", param=param) from None


def _check_file(request: Request, project: str, file_id: str, param: str) -> None:
    try:
        record = request.app.state.files.get(project, file_id)
    except NotFoundError:
        raise InvalidRequestError(
            f"invalid {param}: {file_id} (no such file)", param=param, code=f"invalid_{param}"
        ) from None
    if record.purpose != "fine-tune":
        raise InvalidRequestError(
            f"invalid {param}: {file_id} has purpose {record.purpose!r}, not 'fine-tune'",
            param=param,
            code=f"invalid_{param}",
        )


def _response_format(value: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chat Completions' wrapper; the flattened Responses-style form is accepted too."""
    if value and value.get("type") == "json_schema" and "json_schema" not in value:
        inner = {key: item for key, item in value.items() if key != "type"}
        return {"type": "json_schema", "json_schema": inner}
    return value


@router.get("")
def list_jobs(
    request: Request,
    project: Project,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    metadata = {
        key[len("metadata[") : -1]: value
        for key, value in request.query_params.items()
        if key.startswith("metadata[") and key.endswith("]")
    }
    rows, more = _jobs(request).page(project, after, limit, metadata or None)
    return page([job_object(row) for row in rows], more, cursors=False)


@router.get("/{job_id}")
def retrieve_job(request: Request, project: Project, job_id: str) -> dict[str, Any]:
    return job_object(_jobs(request).get(project, job_id))


@router.post("/{job_id}/{action}")
def act(request: Request, project: Project, job_id: str, action: str) -> dict[str, Any]:
    if action not in ("cancel", "pause", "resume"):
        raise NotFoundError(f"Invalid URL (POST {request.url.path})")
    message = {"cancel": "Job cancelled", "pause": "Job paused", "resume": "Job resumed"}[action]
    with request.app.state.db.tx():  # the state change and its event appear together
        row = _jobs(request).act(project, job_id, action)
        _events(request).add(job_id, message + " by request")
    return job_object(row)


@router.get("/{job_id}/events")
def list_events(
    request: Request,
    project: Project,
    job_id: str,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> dict[str, Any]:
    _jobs(request).get(project, job_id)
    rows, more = _events(request).page(job_id, after, limit)
    return page([event_object(row) for row in rows], more, cursors=False)


@router.get("/{job_id}/checkpoints")
def list_checkpoints(
    request: Request,
    project: Project,
    job_id: str,
    after: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
) -> dict[str, Any]:
    _jobs(request).get(project, job_id)
    rows, more = _events(request).checkpoint_page(job_id, after, limit)
    return page([checkpoint_object(row) for row in rows], more)
