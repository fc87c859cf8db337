"""Pass/fail of one grade (decision G3), for evals, gates and summaries; never the reward."""

from __future__ import annotations

from openrft.graders.result import GradeResult
from openrft.graders.schema import AnyGrader, LabelModelGrader, ScoreModelGrader


def passed(grader: AnyGrader, result: GradeResult) -> bool:
    """`score >= pass_threshold`; without a threshold, the top of the grader's range.

    string_check passes at 1, label_model when the label is in `passing_labels` (reward 1),
    score_model at its range maximum, every other grader at 1.
    """
    return not result.errors and result.reward >= pass_line(grader)


def pass_line(grader: AnyGrader) -> float:
    """The reward at or above which a grade without errors passes (`passed`)."""
    if grader.pass_threshold is not None:
        return grader.pass_threshold
    if isinstance(grader, ScoreModelGrader):
        return grader.bounds[1]
    if isinstance(grader, LabelModelGrader):
        return 1.0
    return 1.0
