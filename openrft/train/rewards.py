"""The grader as the reward: one call per step for the whole batch of samples.

Local graders run column-wise (`grade_columns`), remote ones (python, model graders, cosine,
endpoint) concurrently on one event loop that lives as long as the job, so a sandbox pool,
judge or endpoint client is made once and reused. A failed grade is data: it comes back
flagged, the step leaves it out of the advantage, and `check_error_rate` decides whether the
job goes on (J6).
"""

from __future__ import annotations

import asyncio
from typing import Any

from openrft.errors import OpenRFTError
from openrft.graders import (
    EXTRAS_KEY,
    AnyGrader,
    GraderContext,
    GradeResult,
    JudgeBudget,
    Sample,
    agrade_many,
    grade_columns,
    is_sync,
)


class GraderErrorRate(OpenRFTError):
    """Too many grader errors in one step: the job fails with `grader_error_rate` (J6)."""

    def __init__(self, message: str):
        super().__init__(message, code="grader_error_rate")


class Rewarder:
    def __init__(
        self,
        grader: AnyGrader,
        *,
        concurrency: int,
        python_timeout: float | None = None,
        judge_budget: JudgeBudget | None = None,
        project: str = "default",
    ):
        self.grader = grader
        self.concurrency = concurrency
        self._local = is_sync(grader)
        self._loop: asyncio.Runner | None = None if self._local else asyncio.Runner()
        extras = {EXTRAS_KEY: judge_budget} if judge_budget is not None else {}
        self._context = GraderContext(python_timeout=python_timeout, extras=extras, project=project)

    def __call__(self, samples: list[Sample], items: list[Any]) -> list[GradeResult]:
        if not samples:  # e.g. every episode of a step dropped
            return []
        if self._loop is None:
            return grade_columns(self.grader, samples, items).rows()
        rows = list(zip(samples, items, strict=True))
        report = self._loop.run(
            agrade_many(self.grader, rows, context=self._context, concurrency=self.concurrency)
        )
        return report.results.rows()

    def close(self) -> None:
        if self._loop is not None:
            self._loop.run(self._context.aclose())
            self._loop.close()


def check_error_rate(results: list[GradeResult]) -> None:
    """J6: more than max(50, 20%) errored samples, or a python runtime error on every one."""
    failed = [r for r in results if not r.ok]
    if not failed:
        return
    limit = max(50, 0.2 * len(results))
    runtime = [r for r in results if (r.errors or {}).get("python_grader_runtime_error")]
    if len(runtime) == len(results):
        reason = f"all {len(results)} samples failed grading with a python runtime error"
    elif len(failed) > limit:
        reason = f"{len(failed)} of {len(results)} samples failed grading (limit {int(limit)})"
    else:
        return
    raise GraderErrorRate(f"{reason} in one step; first failure: {first_failure(failed)}")


class ToolErrorRate(OpenRFTError):
    """Too many episodes dropped in one step (their tool servers kept failing)."""

    def __init__(self, message: str):
        super().__init__(message, code="tool_error_rate")


def check_drop_rate(dropped: list[str | None], where: str = "one step") -> None:
    """J6's rule for tools: more than max(50, 20%) of a step's episodes dropped, or all of
    them, fails the job (`tool_error_rate`). Kept apart from the grader's rule: a dropped
    episode was never graded, and the fix is on the tool server, not the grader."""
    reasons = [why for why in dropped if why is not None]
    limit = max(50, 0.2 * len(dropped))
    if not reasons or (len(reasons) <= limit and len(reasons) < len(dropped)):
        return
    raise ToolErrorRate(
        f"{len(reasons)} of {len(dropped)} episodes were dropped in {where} (limit "
        f"{int(limit)}, or all of them) because a tool server kept failing; first: {reasons[0]}"
    )


def first_failure(results: list[GradeResult]) -> str:
    """The first failed result's details (a python grader's traceback first), or its flags."""
    example = next(r for r in results if not r.ok)
    errors = example.errors or {}
    details = errors.get("python_grader_runtime_error_details") or example.detail
    return str(details or {flag: on for flag, on in errors.items() if on is True})
