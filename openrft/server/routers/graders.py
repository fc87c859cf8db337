"""`/v1/fine_tuning/alpha/graders/{validate,run}` (spec §4, decision G9).

An invalid grader is a 400 naming its JSON path; a grading failure is a 200 with reward 0
and the flag set, exactly as OpenAI answers.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from openrft.graders import arun_grader, validate_grader
from openrft.outbound import redact_headers
from openrft.server.auth import project
from openrft.server.wire import GraderRunRequest, GraderValidateRequest

router = APIRouter(prefix="/fine_tuning/alpha/graders")
Project = Annotated[str, Depends(project)]


@router.post("/validate")
def validate(body: GraderValidateRequest, project: Project) -> dict[str, Any]:
    grader = validate_grader(body.grader)
    # An endpoint grader's header values are secrets: echoed as `***`.
    return {"grader": redact_headers(grader.model_dump(mode="json", exclude_none=True))}


@router.post("/run")
async def run(body: GraderRunRequest, request: Request, project: Project) -> dict[str, Any]:
    grader = validate_grader(body.grader)
    context = request.app.state.grader_context.for_project(project)
    return await arun_grader(grader, body.model_sample, body.item, context=context)
