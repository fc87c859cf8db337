"""`/v1/reviews/**` and `/v1/review_items/**`: human review of a candidate before rollout.

openrft's own routes (OpenAI has no such API): a review holds a candidate's sampled outputs
beside the baseline's, per slice (`openrft.evals.review`); a person approves or rejects each
item and `openrft gate --require-review` reads the counts. Everything is the caller's
project's only: another project's review or item id answers 404 as an unknown one does.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request

from openrft.evals.review import ReviewCreateRequest, ReviewFromRunsRequest, ReviewVerdictRequest
from openrft.evals.review_store import ReviewStore, from_eval_runs
from openrft.server.auth import project
from openrft.server.lists import page

router = APIRouter()
Project = Annotated[str, Depends(project)]
Status = Literal["pending", "approved", "rejected"]


def _store(request: Request) -> ReviewStore:
    return ReviewStore(request.app.state.db)


@router.post("/reviews")
def create_review(body: ReviewCreateRequest, request: Request, project: Project) -> dict[str, Any]:
    return _store(request).create(project, body)


@router.post("/reviews/from_eval_runs")
def create_from_runs(
    body: ReviewFromRunsRequest, request: Request, project: Project
) -> dict[str, Any]:
    """A review of two Evals API runs over the same rows (e.g. a job's last validation run
    against its step-0 run): rows picked per slice, both answers, the first criterion's score."""
    store = _store(request)
    return store.create(project, from_eval_runs(request.app.state.evals, project, body))


@router.get("/reviews")
def list_reviews(
    request: Request,
    project: Project,
    candidate: str | None = None,
    baseline: str | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> dict[str, Any]:
    """Newest first, optionally only one candidate's or baseline's."""
    reviews, more = _store(request).reviews(project, candidate, baseline, limit)
    return page(reviews, more)


@router.get("/reviews/{review_id}")
def retrieve_review(request: Request, project: Project, review_id: str) -> dict[str, Any]:
    return _store(request).review(project, review_id)


@router.get("/reviews/{review_id}/items")
def list_items(
    request: Request, project: Project, review_id: str, status: Status | None = None
) -> dict[str, Any]:
    return page(_store(request).items(project, review_id, status), False)


@router.get("/review_items/{item_id}")
def retrieve_item(request: Request, project: Project, item_id: str) -> dict[str, Any]:
    return _store(request).item(project, item_id)


@router.post("/review_items/{item_id}/approve")
def approve(
    request: Request, project: Project, item_id: str, body: ReviewVerdictRequest | None = None
) -> dict[str, Any]:
    note = body.note if body else None
    return _store(request).decide(project, item_id, "approved", note)


@router.post("/review_items/{item_id}/reject")
def reject(
    request: Request, project: Project, item_id: str, body: ReviewVerdictRequest | None = None
) -> dict[str, Any]:
    """A rejection needs a `note` saying why (400 without one)."""
    note = body.note if body else None
    return _store(request).decide(project, item_id, "rejected", note)
