"""`multi` (decision G8): sub-graders keyed by name, combined by a formula.

A failed sub-grader contributes 0 and its flags propagate; the formula still runs. The engine
passes in how to grade a sub-grader, so this module knows nothing about the other types.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from openrft.graders.formula import FormulaError, FormulaMathError, compile_formula
from openrft.graders.result import GradeResult, failure, merge_errors, merge_usage
from openrft.graders.sample import Sample
from openrft.graders.schema import MultiGrader

SyncSub = Callable[[Any, Sample, Any], GradeResult]
AsyncSub = Callable[[Any, Sample, Any], Awaitable[GradeResult]]


def grade(spec: MultiGrader, sample: Sample, item: Any, grade_sub: SyncSub) -> GradeResult:
    results = {key: grade_sub(sub, sample, item) for key, sub in spec.graders.items()}
    return combine(spec, results)


async def agrade(spec: MultiGrader, sample: Sample, item: Any, grade_sub: AsyncSub) -> GradeResult:
    keys = list(spec.graders)
    results = await asyncio.gather(*(grade_sub(spec.graders[key], sample, item) for key in keys))
    return combine(spec, dict(zip(keys, results, strict=True)))


def combine(spec: MultiGrader, results: dict[str, GradeResult]) -> GradeResult:
    rewards = {key: result.reward for key, result in results.items()}
    errors: dict[str, Any] | None = None
    usage = None
    for result in results.values():
        errors = merge_errors(errors, result.errors)
        usage = merge_usage(usage, result.usage_per_model)
    sampled = next((r.sampled_model_name for r in results.values() if r.sampled_model_name), None)
    try:
        reward = compile_formula(spec.calculate_output, set(spec.graders))(rewards)
    except FormulaError as exc:
        reward, errors = 0.0, merge_errors(errors, failure("formula_parse_error").errors)
        detail: str | None = str(exc)
    except FormulaMathError as exc:
        reward, errors = 0.0, merge_errors(errors, failure("other_error").errors)
        detail = str(exc)
    else:
        detail = next((r.detail for r in results.values() if r.detail), None)
    return GradeResult(
        reward,
        errors,
        sub_rewards=rewards,
        usage_per_model=usage,
        sampled_model_name=sampled,
        detail=detail,
    )
