"""`score_model` (decision G4): a judge model scores the sample; the reward is its `result`
clamped to `range` (default [0, 1]).

The judge must answer OpenAI's strict schema `{"steps": [{"description", "conclusion"}],
"result": number}` (the cookbook's `float_score_classification`). A `result` that is missing,
not a number, NaN or infinite is a `model_grader_parse_error`; a numeric string ("0.8", as
judges in fallback mode sometimes write) is accepted.
"""

from __future__ import annotations

import math
from typing import Any

from openrft.graders.context import GraderContext
from openrft.graders.model_grader import agrade_with_judge, judge_format, parse_error
from openrft.graders.result import GradeResult
from openrft.graders.sample import Sample
from openrft.graders.schema import ScoreModelGrader

SCHEMA_NAME = "float_score_classification"


def output_format(low: float, high: float) -> dict[str, Any]:
    result = {
        "type": "number",
        "description": f"The score, a number in the inclusive range [{low:g}, {high:g}].",
    }
    return judge_format(SCHEMA_NAME, result)


async def agrade(
    spec: ScoreModelGrader, sample: Sample, item: Any, ctx: GraderContext
) -> GradeResult:
    low, high = spec.bounds

    def interpret(answer: dict[str, Any]) -> GradeResult:
        score = finite_number(answer.get("result"))
        if score is None:
            return parse_error(f"judge result {answer.get('result')!r} is not a finite number")
        return GradeResult(min(max(score, low), high))

    return await agrade_with_judge(spec, sample, item, ctx, output_format(low, high), interpret)


def finite_number(value: Any) -> float | None:
    """A finite float from a JSON number or numeric string; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except (ValueError, OverflowError):
        return None
    return number if math.isfinite(number) else None
