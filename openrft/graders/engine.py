"""Grading one sample: dispatch by grader type, time it, and turn every failure into flags.

Local graders (string_check, text_similarity except cosine, and multi over those) run
synchronously with no event loop in the way: that is the hot path of training. Everything
else (python, model graders, cosine, endpoint) is awaited. Only `BudgetExceededError`
escapes: a judge budget that ran out stops the run instead of scoring the rest 0.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from openrft.errors import BudgetExceededError
from openrft.graders import multi, string_check, text_similarity
from openrft.graders.context import GraderContext
from openrft.graders.embeddings import EmbeddingsError
from openrft.graders.formula import FormulaMathError
from openrft.graders.result import GradeResult, failure, run_response
from openrft.graders.sample import Sample, SampleParseError
from openrft.graders.schema import (
    AnyGrader,
    EndpointGrader,
    LabelModelGrader,
    MultiGrader,
    PythonGrader,
    ScoreModelGrader,
    StringCheckGrader,
    TextSimilarityGrader,
    display_name,
)
from openrft.graders.template import VariableError
from openrft.graders.validation import validate_grader

log = logging.getLogger(__name__)
_SYNC: dict[str, Any] = {
    "string_check": string_check.grade,
    "text_similarity": text_similarity.grade,
}


def is_sync(grader: AnyGrader) -> bool:
    """True when the grader needs no sandbox, judge or embeddings endpoint."""
    if isinstance(grader, MultiGrader):
        return all(is_sync(sub) for sub in grader.graders.values())
    if isinstance(grader, TextSimilarityGrader):
        return grader.evaluation_metric != "cosine"
    return isinstance(grader, StringCheckGrader)


def grade(grader: AnyGrader, sample: Sample, item: Any) -> GradeResult:
    """Grade synchronously; only for graders where `is_sync(grader)` holds."""
    start = time.perf_counter()
    if sample.json_expected and sample.parse_failed:
        result = failure("sample_parse_error")
    else:
        try:
            result = _grade_sync(grader, sample, item)
        except Exception as exc:
            result = as_failure(exc)
    result.execution_time = time.perf_counter() - start
    return result


def _grade_sync(grader: AnyGrader, sample: Sample, item: Any) -> GradeResult:
    if isinstance(grader, MultiGrader):
        return multi.grade(grader, sample, item, grade)
    return _SYNC[grader.type](grader, sample, item)


async def agrade(
    grader: AnyGrader, sample: Sample, item: Any, ctx: GraderContext | None = None
) -> GradeResult:
    """Grade any grader type; failures come back as flags, never as exceptions."""
    if is_sync(grader):
        return grade(grader, sample, item)
    context = ctx if ctx is not None else GraderContext()
    start = time.perf_counter()
    if sample.json_expected and sample.parse_failed:
        result = failure("sample_parse_error")
    else:
        try:
            result = await _grade_async(grader, sample, item, context)
        except BudgetExceededError:
            raise
        except Exception as exc:
            result = as_failure(exc)
    result.execution_time = time.perf_counter() - start
    return result


async def _grade_async(
    grader: AnyGrader, sample: Sample, item: Any, ctx: GraderContext
) -> GradeResult:
    if isinstance(grader, MultiGrader):

        async def sub(spec: Any, sample: Sample, item: Any) -> GradeResult:
            return await agrade(spec, sample, item, ctx)

        return await multi.agrade(grader, sample, item, sub)
    if isinstance(grader, TextSimilarityGrader):
        return await text_similarity.agrade_cosine(grader, sample, item, ctx)
    # Imported on first use: the judge client pulls in the openai SDK.
    if isinstance(grader, PythonGrader):
        from openrft.graders import python

        return await python.agrade(grader, sample, item, ctx)
    if isinstance(grader, ScoreModelGrader):
        from openrft.graders import score_model

        return await score_model.agrade(grader, sample, item, ctx)
    if isinstance(grader, LabelModelGrader):
        from openrft.graders import label_model

        return await label_model.agrade(grader, sample, item, ctx)
    if isinstance(grader, EndpointGrader):
        from openrft.graders import endpoint  # httpx, on first use

        return await endpoint.agrade(grader, sample, item, ctx)
    raise TypeError(f"{grader.type} is graded synchronously")


def as_failure(exc: Exception) -> GradeResult:
    """The flags for an exception raised while grading (everything but a spent budget)."""
    if isinstance(exc, VariableError):
        return _with_detail(failure("invalid_variable_error"), str(exc))
    if isinstance(exc, SampleParseError):
        return _with_detail(failure("sample_parse_error"), str(exc))
    if isinstance(exc, FormulaMathError | EmbeddingsError | text_similarity.MetricUnavailableError):
        log.warning("grading failed: %s", exc)
        return _with_detail(failure("other_error"), str(exc))
    log.exception("unexpected error while grading")
    return _with_detail(failure("other_error"), f"{type(exc).__name__}: {exc}")


def _with_detail(result: GradeResult, detail: str) -> GradeResult:
    result.detail = detail
    return result


def _prepare(grader: AnyGrader | dict[str, Any], model_sample: Any) -> tuple[AnyGrader, Sample]:
    spec = validate_grader(grader) if isinstance(grader, dict) else grader
    return spec, Sample.coerce(model_sample)


def run_grader(
    grader: AnyGrader | dict[str, Any],
    model_sample: Any,
    item: dict[str, Any] | None = None,
    *,
    context: GraderContext | None = None,
) -> dict[str, Any]:
    """Grade one sample and answer exactly as `POST /fine_tuning/alpha/graders/run` does.

    An invalid grader raises `GraderValidationError`; a grading failure is a 0 with flags.
    """
    spec, sample = _prepare(grader, model_sample)
    if is_sync(spec):
        result = grade(spec, sample, item if item is not None else {})
    else:
        result = asyncio.run(_agrade_once(spec, sample, item if item is not None else {}, context))
    return run_response(result, display_name(spec), spec.type)


async def _agrade_once(
    spec: AnyGrader, sample: Sample, item: Any, context: GraderContext | None
) -> GradeResult:
    """Grade on a fresh loop; a context made here is closed here, on the same loop."""
    ctx = context if context is not None else GraderContext()
    try:
        return await agrade(spec, sample, item, ctx)
    finally:
        if context is None:
            await ctx.aclose()


async def arun_grader(
    grader: AnyGrader | dict[str, Any],
    model_sample: Any,
    item: dict[str, Any] | None = None,
    *,
    context: GraderContext | None = None,
) -> dict[str, Any]:
    """`run_grader` for callers already inside an event loop (the server)."""
    spec, sample = _prepare(grader, model_sample)
    result = await agrade(spec, sample, item if item is not None else {}, context)
    return run_response(result, display_name(spec), spec.type)
