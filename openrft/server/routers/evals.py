"""`/v1/evals/**` (spec §9): evals, their runs and the runs' output items.

An eval is a `custom` data source config plus testing criteria (graders, validated as
`graders/validate` does). A run's data source, rows and items are checked whole when the run
is created (a 400 naming the field); the run itself executes in the background
(`openrft.server.eval_runs`). Everything is the caller's project's only.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError

from openrft.errors import InvalidRequestError, NotFoundError
from openrft.evals.records import EvalStore, eval_object, run_object
from openrft.evals.sources import CompletionsSource, check_items, load_rows, parse_data_source
from openrft.graders import validate_grader
from openrft.server.auth import project
from openrft.server.json_body import nesting
from openrft.server.lists import page
from openrft.server.wire import EvalCreateRequest, EvalRunCreateRequest, EvalUpdateRequest
from openrft.store.db import loads
from openrft.strict import Strict

router = APIRouter(prefix="/evals")
Project = Annotated[str, Depends(project)]
Limit = Annotated[int, Query(ge=1, le=100)]
Order = Literal["asc", "desc"]
MAX_SCHEMA_DEPTH = 64
"""An item schema's JSON nesting bound, a data row's (jsonschema recurses per level)."""

SAMPLE_SCHEMA = {
    "type": "object",
    "properties": {
        "model": {"type": "string"},
        "choices": {"type": "array", "items": {"type": "object"}},
        "output_text": {"type": "string"},
        "output_json": {"type": "object"},
        "output_tools": {"type": "array", "items": {"type": "object"}},
    },
    "required": ["model", "choices"],
}


class _CustomConfig(Strict):
    type: Literal["custom"]
    item_schema: dict[str, Any]
    include_sample_schema: bool = False


def _store(request: Request) -> EvalStore:
    store: EvalStore = request.app.state.evals
    return store


def _list(rows: list[Any], more: bool, shape: Any) -> dict[str, Any]:
    return page([shape(row) for row in rows], more)


# --- evals -------------------------------------------------------------------------------


@router.post("")
def create_eval(body: EvalCreateRequest, request: Request, project: Project) -> dict[str, Any]:
    criteria = []
    for index, data in enumerate(body.testing_criteria):
        grader = validate_grader(data, param=f"testing_criteria[{index}]")
        criterion = grader.model_dump(mode="json", exclude_none=True)
        criterion["id"] = f"{criterion['name']}-{uuid.uuid4()}"
        criteria.append(criterion)
    fields = {"name": body.name, "metadata": body.metadata, "criteria": criteria}
    fields["config"] = _config(body.data_source_config)
    return eval_object(_store(request).create_eval(project, fields))


def _config(data: dict[str, Any]) -> dict[str, Any]:
    """The `custom` config as OpenAI echoes it: one JSON schema over `item` (and `sample`)."""
    kind = data.get("type")
    if kind in ("logs", "stored_completions"):
        raise InvalidRequestError(
            f"openrft keeps no {kind} to evaluate: use a 'custom' data source config",
            param="data_source_config.type",
        )
    try:
        config = _CustomConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        param = ".".join(["data_source_config", *(str(part) for part in first["loc"])])
        raise InvalidRequestError(f"Invalid '{param}': {first['msg']}", param=param) from None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    if nesting(config.item_schema) > MAX_SCHEMA_DEPTH:
        raise InvalidRequestError(
            f"Invalid 'data_source_config.item_schema': it nests deeper than "
            f"{MAX_SCHEMA_DEPTH} levels of arrays and objects.",
            param="data_source_config.item_schema",
        )
    try:
        Draft202012Validator.check_schema(config.item_schema)
    except SchemaError as exc:
        raise InvalidRequestError(
            f"Invalid 'data_source_config.item_schema': {exc.message}",
            param="data_source_config.item_schema",
        ) from None
    schema: dict[str, Any] = {"type": "object", "properties": {"item": config.item_schema},
                              "required": ["item"]}  # fmt: skip
    if config.include_sample_schema:
        schema["properties"]["sample"] = SAMPLE_SCHEMA
        schema["required"].append("sample")
    return {"type": "custom", "schema": schema}


@router.get("")
def list_evals(
    request: Request,
    project: Project,
    after: str | None = None,
    limit: Limit = 20,
    order: Order = "asc",
    order_by: Literal["created_at", "updated_at"] = "created_at",
) -> dict[str, Any]:
    rows, more = _store(request).eval_page(project, after, limit, order, order_by)
    return _list(rows, more, eval_object)


@router.get("/{eval_id}")
def retrieve_eval(request: Request, project: Project, eval_id: str) -> dict[str, Any]:
    return eval_object(_store(request).eval_row(project, eval_id))


@router.post("/{eval_id}")
def update_eval(
    body: EvalUpdateRequest, request: Request, project: Project, eval_id: str
) -> dict[str, Any]:
    return eval_object(_store(request).update_eval(project, eval_id, body.name, body.metadata))


@router.delete("/{eval_id}")
def delete_eval(request: Request, project: Project, eval_id: str) -> dict[str, Any]:
    _store(request).delete_eval(project, eval_id)
    return {"object": "eval.deleted", "deleted": True, "eval_id": eval_id}


# --- runs --------------------------------------------------------------------------------


@router.post("/{eval_id}/runs")
def create_run(
    body: EvalRunCreateRequest, request: Request, project: Project, eval_id: str
) -> dict[str, Any]:
    store = _store(request)
    evaluation = store.eval_row(project, eval_id)
    source = parse_data_source(body.data_source)
    try:
        rows = load_rows(source.source, request.app.state.files, project)
    except NotFoundError:
        raise InvalidRequestError(
            f"invalid data_source.source.id: {getattr(source.source, 'id', '')} (no such file)",
            param="data_source.source.id",
        ) from None
    if not rows:
        raise InvalidRequestError("The data source has no rows.", param="data_source.source")
    item_schema = loads(evaluation["config"])["schema"]["properties"]["item"]
    check_items(item_schema, rows, source.source)
    model = ""
    if isinstance(source, CompletionsSource):
        model = source.model
        try:
            request.app.state.engine.resolve(project, model)
        except NotFoundError as exc:
            raise InvalidRequestError(
                exc.message, param="data_source.model", code="model_not_found"
            ) from None
    fields = {"name": body.name or model or None, "model": model, "metadata": body.metadata}
    fields["data_source"] = body.data_source
    row = store.create_run(project, eval_id, fields)
    request.app.state.eval_runs.wake(row["id"], rows)  # read and checked: not read again
    return run_object(row)


@router.get("/{eval_id}/runs")
def list_runs(
    request: Request,
    project: Project,
    eval_id: str,
    after: str | None = None,
    limit: Limit = 20,
    order: Order = "asc",
    status: Literal["queued", "in_progress", "completed", "canceled", "failed"] | None = None,
) -> dict[str, Any]:
    rows, more = _store(request).run_page(project, eval_id, after, limit, order, status)
    return _list(rows, more, run_object)


@router.get("/{eval_id}/runs/{run_id}")
def retrieve_run(request: Request, project: Project, eval_id: str, run_id: str) -> dict[str, Any]:
    return run_object(_store(request).run_row(project, eval_id, run_id))


@router.post("/{eval_id}/runs/{run_id}/cancel")
@router.post("/{eval_id}/runs/{run_id}")  # OpenAI's reference path; the SDK posts to /cancel
def cancel_run(request: Request, project: Project, eval_id: str, run_id: str) -> dict[str, Any]:
    return run_object(_store(request).cancel_run(project, eval_id, run_id))


@router.delete("/{eval_id}/runs/{run_id}")
def delete_run(request: Request, project: Project, eval_id: str, run_id: str) -> dict[str, Any]:
    _store(request).delete_run(project, eval_id, run_id)
    return {"object": "eval.run.deleted", "deleted": True, "run_id": run_id}


# --- output items ------------------------------------------------------------------------


@router.get("/{eval_id}/runs/{run_id}/output_items")
def list_output_items(
    request: Request,
    project: Project,
    eval_id: str,
    run_id: str,
    after: str | None = None,
    limit: Limit = 20,
    order: Order = "asc",
    status: Literal["pass", "fail", "error"] | None = None,
) -> dict[str, Any]:
    """`status` is OpenAI's `pass` or `fail`, or `error` for the errored items (decision E1)."""
    store = _store(request)
    items, more = store.item_page(project, eval_id, run_id, after, limit, order, status)
    return page(items, more)


@router.get("/{eval_id}/runs/{run_id}/output_items/{item_id}")
def retrieve_output_item(
    request: Request, project: Project, eval_id: str, run_id: str, item_id: str
) -> dict[str, Any]:
    return _store(request).output_item(project, eval_id, run_id, item_id)
