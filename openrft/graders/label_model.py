"""`label_model` (decision G5): a judge model picks one of `labels`; the reward is 1.0 when
the label is one of `passing_labels`, else 0.0.

The judge answers a strict schema whose `result` is an enum of the labels (with the same
`steps` as score_model, so the judge can reason first). A label outside `labels` (possible
from a judge in fallback mode) is a `model_grader_parse_error`: no trimming, no case folding.
"""

from __future__ import annotations

from typing import Any

from openrft.graders.context import GraderContext
from openrft.graders.model_grader import agrade_with_judge, judge_format, parse_error
from openrft.graders.result import GradeResult
from openrft.graders.sample import Sample
from openrft.graders.schema import LabelModelGrader

SCHEMA_NAME = "label_classification"


def output_format(labels: list[str]) -> dict[str, Any]:
    result = {"type": "string", "enum": list(labels), "description": "The chosen label."}
    return judge_format(SCHEMA_NAME, result)


async def agrade(
    spec: LabelModelGrader, sample: Sample, item: Any, ctx: GraderContext
) -> GradeResult:
    def interpret(answer: dict[str, Any]) -> GradeResult:
        label = answer.get("result")
        if not isinstance(label, str) or label not in spec.labels:
            return parse_error(f"judge label {label!r} is not one of {spec.labels}")
        return GradeResult(1.0 if label in spec.passing_labels else 0.0, label=label)

    return await agrade_with_judge(spec, sample, item, ctx, output_format(spec.labels), interpret)
