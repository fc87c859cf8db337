"""`string_check` (decision G1): exact comparisons, no trimming, no normalisation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from openrft.graders.result import GradeResult
from openrft.graders.sample import Sample
from openrft.graders.schema import StringCheckGrader
from openrft.graders.template import compile_template

OPERATIONS: dict[str, Callable[[str, str], bool]] = {
    "eq": lambda text, reference: text == reference,
    "ne": lambda text, reference: text != reference,
    "like": lambda text, reference: reference in text,
    "ilike": lambda text, reference: reference.casefold() in text.casefold(),
}


def grade(spec: StringCheckGrader, sample: Sample, item: Any) -> GradeResult:
    text = compile_template(spec.input).render(sample, item)
    reference = compile_template(spec.reference).render(sample, item)
    return GradeResult(1.0 if OPERATIONS[spec.operation](text, reference) else 0.0)
