"""The reward-independent metric: a job's `settings.eval_grader`, graded on validation.

A job may name a second grader (an exact-answer check, another judge) that the policy never
trains on. Each validation grades the very samples the validation reward was computed from a
second time with it; the mean is `valid_eval_mean_score`, in the step's metrics event and the
checkpoint's metrics. When it is given, checkpoints are kept and ranked by it (`keep_best`) and
the job's fine-tuned model is the best checkpoint by it, not the newest: a reward that climbs
by hacking the training grader cannot pick the model. Without it nothing changes: checkpoints
rank by `valid_reward_mean` and the model is the final checkpoint.
"""

from __future__ import annotations

import math
from typing import Any

from openrft.graders import AnyGrader, JudgeBudget, display_name
from openrft.train.metrics import SplitStats
from openrft.train.rewards import Rewarder
from openrft.train.spec import JobSpec

EVAL_KEY = "valid_eval_mean_score"
"""The metric's name in metrics events and checkpoint metrics."""
REWARD_KEY = "valid_reward_mean"


class EvalGrading:
    """The eval grader, run on validation samples already drawn and graded for the reward."""

    def __init__(self, grader: AnyGrader, rewarder: Rewarder):
        self.grader, self.rewarder = grader, rewarder

    def score(self, valid: SplitStats) -> float | None:
        """The mean eval grade over every validation sample (None when there are none)."""
        if not valid.answers:
            return None
        items = [row for row, _ in valid.answers]
        samples = [sample for _, sample in valid.answers]
        results = self.rewarder(samples, items)
        valid.eval_results = results  # for the job's eval run (`ValidationRuns`)
        return math.fsum(r.reward for r in results) / len(results)

    def close(self) -> None:
        self.rewarder.close()


def eval_grading(
    grader: AnyGrader | None, *, budget: JudgeBudget | None, spec: JobSpec
) -> EvalGrading | None:
    """The job's eval grading, or None when it names no `eval_grader`. A judge it calls spends
    from the same `judge_max_tokens` budget as the training grader."""
    if grader is None:
        return None
    rewarder = Rewarder(
        grader,
        concurrency=spec.settings.grader_concurrency,
        judge_budget=budget,
        project=spec.project or "default",
    )
    return EvalGrading(grader, rewarder)


def rank_key(grading: EvalGrading | None) -> str:
    """The checkpoint metric `keep_best` and the final model are chosen by."""
    return EVAL_KEY if grading is not None else REWARD_KEY


def add_to_metrics(data: dict[str, Any], grading: EvalGrading | None, score: float | None) -> None:
    """The metrics event's eval score: a flat key and one under `scores` naming the grader
    (null on a step without validation)."""
    if grading is None:
        return
    data[EVAL_KEY] = score
    data["scores"][EVAL_KEY] = score
    data["scores"]["eval_grader"] = {"name": display_name(grading.grader),
                                     "type": grading.grader.type}  # fmt: skip
