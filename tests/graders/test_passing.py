"""Pass/fail (decision G3)."""

from __future__ import annotations

from openrft.graders import GradeResult, failure, passed, validate_grader
from tests.graders import examples


def test_threshold_when_given() -> None:
    grader = validate_grader(examples.TEXT_SIMILARITY)  # pass_threshold 0.8
    assert passed(grader, GradeResult(0.8)) and not passed(grader, GradeResult(0.79))


def test_top_of_range_without_a_threshold() -> None:
    score = validate_grader({**examples.SCORE_MODEL_MULTIMODAL})  # range [-1, 1]
    assert passed(score, GradeResult(1.0)) and not passed(score, GradeResult(0.9))
    check = validate_grader(examples.STRING_CHECK)
    assert passed(check, GradeResult(1.0)) and not passed(check, GradeResult(0.0))
    label = validate_grader(examples.LABEL_MODEL_GUIDE)
    assert passed(label, GradeResult(1.0, label="positive"))
    assert not passed(label, GradeResult(0.0, label="neutral"))


def test_an_errored_grade_never_passes() -> None:
    grader = validate_grader({**examples.STRING_CHECK, "pass_threshold": 0.0})
    assert not passed(grader, failure("invalid_variable_error"))
