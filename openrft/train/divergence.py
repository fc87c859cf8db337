"""Judge against rule: when a job's `multi` grader has both a model grader (score_model,
label_model) and a deterministic one (string_check, text_similarity, python), how alike the
two rank the same validation samples (Spearman's ρ of their sub-rewards).

Pure: the grader and one validation's grades in, the numbers out; the `judge_rule_divergence`
alarm (`openrft.train.alarms`) decides whether they are too far apart. Samples whose grading
failed are left out (a failed sub-grader reads 0, which is no score). With several judges or
rules every pair is measured and the least alike is reported.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from openrft.evals.judge_check import spearman
from openrft.graders import AnyGrader, GradeResult, MultiGrader

JUDGES = frozenset({"score_model", "label_model"})
RULES = frozenset({"string_check", "text_similarity", "python"})


def pairs(grader: AnyGrader) -> list[tuple[str, str]]:
    """(judge key, rule key) for each model/deterministic pair of a multi's sub-graders."""
    if not isinstance(grader, MultiGrader):
        return []
    subs = grader.graders.items()
    judges = [key for key, sub in subs if sub.type in JUDGES]
    rules = [key for key, sub in subs if sub.type in RULES]
    return [(judge, rule) for judge in judges for rule in rules]


def _mean(values: Sequence[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def measure(judge: str, rule: str, scores: list[dict[str, float]]) -> dict[str, Any]:
    judged = [s.get(judge, 0.0) for s in scores]
    ruled = [s.get(rule, 0.0) for s in scores]
    return {
        "judge": judge,
        "rule": rule,
        "spearman": spearman(judged, ruled),
        "n": len(scores),
        "judge_mean": _mean(judged),
        "rule_mean": _mean(ruled),
    }


def judge_rule(grader: AnyGrader, results: list[GradeResult]) -> dict[str, Any] | None:
    """The least alike judge/rule pair on these grades: judge, rule (the multi keys),
    spearman (None when either side is constant or below 2 samples), n, judge_mean,
    rule_mean. None when the grader lacks a judge or a rule (nothing to compare)."""
    found = pairs(grader)
    if not found:
        return None
    scores = [r.sub_rewards for r in results if r.ok and r.sub_rewards is not None]
    measured = [measure(judge, rule, scores) for judge, rule in found]
    return min(measured, key=lambda m: math.inf if m["spearman"] is None else m["spearman"])
