"""Pass/fail of one grade (decision G3), for evals, gates and summaries; never the reward."""

from __future__ import annotations

from openrft.graders.result import GradeResult
from openrft.graders.schema import AnyGrader, LabelModelGrader, ScoreModelGrader


def passed(grader: AnyGrader, result: GradeResult) -> bool:
    """`score >= pass_threshold`; without a threshold, the top of the grader's range.

    string_check passes at 1, label_model when the label is in `passing_labels` (reward 1),
    score_model at its range maximum, every other grader at 1.
    """
    if result.errors:
        return False
    if grader.pass_threshold is not None:
        return result.reward >= grader.pass_threshold
    if isinstance(grader, ScoreModelGrader):
        return result.reward >= grader.bounds[1]
    if isinstance(grader, LabelModelGrader):
        return result.reward >= 1.0
    return result.reward >= 1.0
