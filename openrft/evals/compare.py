"""`openrft eval`: quality, cost and latency of one or more models on a validation set.

For every model: answers are sampled for every row (the prompt only, `samples` per row), graded
by the grader, and summarised overall and per slice (each value of the row's `tags`). Quality is
the mean reward and the pass rate (decision G3) with 95% intervals; cost is prompt and completion
tokens per item plus judge tokens; latency is per request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from openrft.evals.sampling import Answer, Sampler, SamplingParams
from openrft.evals.stats import mean, mean_ci, pass_at_k, wilson
from openrft.graders import (
    AnyGrader,
    GraderContext,
    GradeResult,
    MultiGrader,
    PythonGrader,
    Sample,
    ScoreModelGrader,
    agrade_many,
    passed,
    percentile,
)


@dataclass
class SliceStats:
    rows: int
    mean_reward: float
    reward_ci: tuple[float, float] | None
    pass_rate: float
    pass_ci: tuple[float, float] | None


@dataclass
class ModelEval:
    model: str
    samples_per_row: int
    overall: SliceStats
    slices: dict[str, SliceStats]
    prompt_tokens_per_item: float
    completion_tokens_per_item: float
    judge_tokens: int
    latency_p50_s: float
    latency_p95_s: float
    errors: dict[str, int]
    pass_at_k: float
    """Share of rows where at least one of the `samples_per_row` answers passed."""
    no_signal_share: float
    """Share of rows whose answers all got the same reward (no learning signal there)."""
    row_rewards: list[list[float]] = field(default_factory=list, repr=False)
    answers: int = 0
    """Answers graded: rows × samples per row."""
    errored: int = 0
    """Answers whose grading failed (an error flag set); they count as reward 0 in the means."""

    @property
    def scored(self) -> bool:
        """False when every answer errored: the means are then no score, not a score of 0."""
        return self.answers == 0 or self.errored < self.answers

    def no_score(self) -> str:
        """Why there is no score: `all 6 answers errored (invalid_variable_error ×6)`."""
        flags = ", ".join(f"{flag} ×{count}" for flag, count in sorted(self.errors.items()))
        return f"all {self.answers} answers errored ({flags})"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("row_rewards")
        return data


async def evaluate(
    model: str,
    rows: list[dict[str, Any]],
    grader: AnyGrader,
    sampler: Sampler,
    params: SamplingParams,
    *,
    context: GraderContext | None = None,
) -> ModelEval:
    tasks = [sampler.sample(model, row["messages"], row.get("tools"), params) for row in rows]
    answers: list[list[Answer]] = list(await asyncio.gather(*tasks))
    json_expected = bool(
        params.response_format and params.response_format.get("type") == "json_schema"
    )
    pairs = [
        (Sample(a.text, output_tools=a.tool_calls, json_expected=json_expected), row)
        for row, row_answers in zip(rows, answers, strict=True)
        for a in row_answers
    ]
    report = await agrade_many(grader, pairs, context=context)
    return summarise(model, grader, rows, answers, report.results.rows())


def summarise(
    model: str,
    grader: AnyGrader,
    rows: list[dict[str, Any]],
    answers: list[list[Answer]],
    results: list[GradeResult],
) -> ModelEval:
    per_row: list[list[GradeResult]] = []
    position = 0
    for row_answers in answers:
        per_row.append(results[position : position + len(row_answers)])
        position += len(row_answers)
    tagged = list(zip((_tags(row) for row in rows), per_row, strict=True))
    names = sorted({tag for tags, _ in tagged for tag in tags})
    slices = {name: _slice(grader, [rs for tags, rs in tagged if name in tags]) for name in names}
    flat = [a for row_answers in answers for a in row_answers]
    samples = max(1, len(answers[0])) if answers else 1
    errors: Counter[str] = Counter()
    for result in results:
        errors.update(flag for flag, value in (result.errors or {}).items() if value is True)
    judge = sum((r.token_usage or {}).get("total_tokens", 0) for r in results)
    return ModelEval(
        model=model,
        samples_per_row=samples,
        overall=_slice(grader, per_row),
        slices=slices,
        prompt_tokens_per_item=mean([a.prompt_tokens for a in flat]),
        completion_tokens_per_item=mean([a.completion_tokens for a in flat]),
        judge_tokens=judge,
        latency_p50_s=percentile([a.latency for a in flat], 0.5),
        latency_p95_s=percentile([a.latency for a in flat], 0.95),
        errors=dict(errors),
        pass_at_k=mean(
            [pass_at_k(len(rs), sum(passed(grader, r) for r in rs), len(rs)) for rs in per_row]
        ),
        no_signal_share=mean([float(len({r.reward for r in rs}) <= 1) for rs in per_row]),
        row_rewards=[[r.reward for r in rs] for rs in per_row],
        answers=len(results),
        errored=sum(not r.ok for r in results),
    )


def reward_bounds(grader: AnyGrader) -> tuple[float, float] | None:
    """The least and greatest reward `grader` can give; None where it is not bounded (python
    graders return any float, a multi grader's formula any value)."""
    if isinstance(grader, ScoreModelGrader):
        return grader.bounds
    if isinstance(grader, PythonGrader | MultiGrader):
        return None
    return (0.0, 1.0)


def _tags(row: dict[str, Any]) -> list[str]:
    tags = row.get("tags")
    return [str(tag) for tag in tags] if isinstance(tags, list) else []


def _slice(grader: AnyGrader, per_row: list[list[GradeResult]]) -> SliceStats:
    item_means = [mean([r.reward for r in rs]) for rs in per_row if rs]
    flat = [r for rs in per_row for r in rs]
    passes = sum(passed(grader, r) for r in flat)
    return SliceStats(
        rows=len(item_means),
        mean_reward=mean(item_means),
        reward_ci=mean_ci(item_means, reward_bounds(grader)),
        pass_rate=passes / len(flat) if flat else float("nan"),
        pass_ci=wilson(passes, len(flat)),
    )
