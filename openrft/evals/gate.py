"""`openrft gate`: may the candidate replace the baseline? A verdict with reasons.

The candidate passes when its mean reward beats the baseline's by at least `min_gain`, no slice
(`tags` value) loses more than `slice_tolerance`, and its p95 latency and tokens per item stay
under their ceilings. Every check is listed, passed or not, so a reviewer sees the whole picture.

With `require_review` set, people must have looked too (`openrft.evals.review`): at least that
many of the candidate's sampled outputs approved, and none rejected.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from openrft.evals.compare import ModelEval
from openrft.evals.review import ReviewCounts


@dataclass
class Thresholds:
    min_gain: float = 0.0
    """Least mean-reward gain over the baseline (may be negative to allow a small loss)."""
    slice_tolerance: float = 0.05
    """Largest mean-reward drop allowed on any slice."""
    max_latency_p95_s: float | None = None
    max_tokens_per_item: float | None = None
    """Ceiling on the candidate's prompt + completion tokens per item."""
    max_cost_ratio: float | None = None
    """Ceiling on candidate / baseline tokens per item (judge tokens included)."""
    require_review: int | None = None
    """Least outputs a person approved in the pair's review (none rejected); None: no review."""


@dataclass
class Check:
    name: str
    passed: bool
    detail: str


@dataclass
class Verdict:
    candidate: str
    baseline: str
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def reasons(self) -> list[str]:
        return [check.detail for check in self.checks if not check.passed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "candidate": self.candidate,
            "baseline": self.baseline,
            "verdict": "pass" if self.passed else "fail",
            "reasons": self.reasons,
            "checks": [asdict(check) for check in self.checks],
        }


def change(delta: float) -> str:
    """A candidate-minus-baseline difference in words, never a signed "drop -0.4"."""
    if delta > 0:
        return f"improved by {delta:.4f}"
    return f"dropped by {-delta:.4f}" if delta < 0 else "unchanged"


def _cost(model: ModelEval) -> float:
    tokens = model.prompt_tokens_per_item + model.completion_tokens_per_item
    rows = max(1, model.overall.rows * model.samples_per_row)
    return tokens + model.judge_tokens / rows


def gate(
    candidate: ModelEval,
    baseline: ModelEval,
    limits: Thresholds,
    review: ReviewCounts | None = None,
) -> Verdict:
    """`review`: the counts of the pair's human review, when there is one."""
    verdict = Verdict(candidate.model, baseline.model)
    if limits.require_review is not None:
        verdict.checks.append(review_check(review, limits.require_review))
    unscored = [model for model in (candidate, baseline) if not model.scored]
    if unscored:  # zeros from errors compared with each other would pass or fail by accident
        for model in unscored:
            detail = f"{model.model}: no score: {model.no_score()}"
            verdict.checks.append(Check("graded", False, detail))
        return verdict
    gain = candidate.overall.mean_reward - baseline.overall.mean_reward
    verdict.checks.append(
        Check(
            "quality",
            gain >= limits.min_gain,
            f"mean reward {candidate.overall.mean_reward:.4f} vs {baseline.overall.mean_reward:.4f}"
            f" ({change(gain)}; required gain {limits.min_gain:+.4f})",
        )
    )
    for name, stats in sorted(baseline.slices.items()):
        after = candidate.slices.get(name)
        if after is None or math.isnan(after.mean_reward):
            continue
        drop = stats.mean_reward - after.mean_reward
        verdict.checks.append(
            Check(
                f"slice:{name}",
                drop <= limits.slice_tolerance,
                f"slice '{name}' ({after.rows} rows): {after.mean_reward:.4f} vs "
                f"{stats.mean_reward:.4f} ({change(-drop)}; a drop of up to "
                f"{limits.slice_tolerance:.4f} is allowed)",
            )
        )
    _ceilings(verdict, candidate, baseline, limits)
    return verdict


def _ceilings(
    verdict: Verdict, candidate: ModelEval, baseline: ModelEval, limits: Thresholds
) -> None:
    if limits.max_latency_p95_s is not None:
        p95 = candidate.latency_p95_s
        verdict.checks.append(
            Check("latency", p95 <= limits.max_latency_p95_s,
                  f"p95 latency {p95:.3f} s (ceiling {limits.max_latency_p95_s:.3f} s)")
        )  # fmt: skip
    cost = _cost(candidate)
    if limits.max_tokens_per_item is not None:
        verdict.checks.append(
            Check("tokens", cost <= limits.max_tokens_per_item,
                  f"{cost:.1f} tokens per item (ceiling {limits.max_tokens_per_item:.1f})")
        )  # fmt: skip
    if limits.max_cost_ratio is not None:
        ratio = cost / _cost(baseline) if _cost(baseline) > 0 else math.inf
        detail = f"{ratio:.2f}x the baseline's tokens per item"
        verdict.checks.append(
            Check("cost", ratio <= limits.max_cost_ratio,
                  f"{detail} (ceiling {limits.max_cost_ratio:.2f}x)")
        )  # fmt: skip


def review_check(review: ReviewCounts | None, required: int) -> Check:
    """At least `required` approved outputs and none rejected."""
    if review is None:
        return Check("review", False, f"human review required ({required} approved outputs): "
                     "no review of this candidate against this baseline yet")  # fmt: skip
    counts = (f"review {review.review_id}: {review.approved} approved, {review.rejected} "
              f"rejected, {review.pending} pending of {review.total}")  # fmt: skip
    if review.rejected:
        return Check("review", False, f"{counts}; a rejected output blocks the release "
                     "until its reviewer approves it or a new candidate is reviewed")  # fmt: skip
    if review.approved < required:
        short = required - review.approved
        more = (
            ""
            if review.pending >= short
            else (f"; only {review.pending} pending: review more outputs (a new review)")
        )
        return Check("review", False, f"{counts}; {required} approvals required, "
                     f"{short} more needed{more}")  # fmt: skip
    return Check("review", True, f"{counts} ({required} approvals required)")
