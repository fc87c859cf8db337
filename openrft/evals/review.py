"""Human review before a rollout: a person reads the candidate's outputs beside the baseline's.

A review belongs to one (candidate, baseline) pair. Its items are rows of the validation set
picked per slice (each `tags` value; rows without tags form the `untagged` slice), each with
one answer from each model and the grader's reward for both. A person approves or rejects every
item (a rejection says why in its note; a verdict may be changed later, the latest counts).

The gate's rule (`openrft gate --require-review N`): at least N approved items and none
rejected. One rejected output blocks the release: a careful team ships nothing a reviewer
refused until the reviewer changes their verdict or a new candidate gets a new review.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, replace
from typing import Any, Literal

from pydantic import Field

from openrft.evals.sampling import Sampler, SamplingParams
from openrft.graders import AnyGrader, GraderContext, Sample, agrade_many, display_name
from openrft.strict import Strict

UNTAGGED = "untagged"
MAX_ITEMS = 1000
Verdict = Literal["approved", "rejected"]


class ReviewOutput(Strict):
    output_text: str = Field(max_length=1_000_000)
    """What the model answered."""
    reward: float | None = Field(default=None, allow_inf_nan=False)
    """The grader's reward for it, if it was graded."""


class ReviewItemRequest(Strict):
    slice: str = Field(default=UNTAGGED, min_length=1, max_length=256)
    """The slice (a `tags` value) the row was picked for."""
    item: dict[str, Any] = Field(default_factory=dict)
    """The dataset row (its `messages` are the prompt both models answered)."""
    candidate: ReviewOutput
    baseline: ReviewOutput


class ReviewCreateRequest(Strict):
    candidate: str = Field(min_length=1, max_length=512)
    """The model that would be rolled out."""
    baseline: str = Field(min_length=1, max_length=512)
    """The model it would replace."""
    grader: str | None = Field(default=None, max_length=512)
    """The name of the grader whose rewards the items show."""
    metadata: dict[str, str] | None = None
    items: list[ReviewItemRequest] = Field(min_length=1, max_length=MAX_ITEMS)


class ReviewFromRunsRequest(Strict):
    eval_id: str
    candidate_run_id: str
    """The Evals API run of the model that would be rolled out."""
    baseline_run_id: str
    """The run of the model it would replace, over the same data source rows."""
    per_slice: int = Field(default=3, ge=1, le=100)
    """Rows put up for review per slice."""
    seed: int = 0
    """Which rows: the same seed picks the same rows."""
    metadata: dict[str, str] | None = None


class ReviewVerdictRequest(Strict):
    note: str | None = Field(default=None, max_length=4000)
    """Why: required to reject, optional to approve."""


@dataclass
class ReviewCounts:
    review_id: str
    total: int
    approved: int
    rejected: int

    @property
    def pending(self) -> int:
        return self.total - self.approved - self.rejected

    @classmethod
    def of(cls, review: dict[str, Any]) -> ReviewCounts:
        """From a review object (`review_store.review_object`, or the route's answer)."""
        counts = review["counts"]
        return cls(review["id"], counts["total"], counts["approved"], counts["rejected"])


def slices_of(row: dict[str, Any]) -> list[str]:
    tags = row.get("tags")
    names = [str(tag) for tag in tags] if isinstance(tags, list) else []
    return names or [UNTAGGED]


def pick(rows: list[dict[str, Any]], per_slice: int, seed: int = 0) -> list[tuple[int, str]]:
    """Up to `per_slice` row indices per slice, `(row, slice)`, never a row twice; the same
    rows for the same seed."""
    by_slice: dict[str, list[int]] = {}
    for index, row in enumerate(rows):
        for name in slices_of(row):
            by_slice.setdefault(name, []).append(index)
    rng, chosen, picks = random.Random(seed), set[int](), []
    for name in sorted(by_slice):
        pool = [index for index in by_slice[name] if index not in chosen]
        rng.shuffle(pool)
        for index in sorted(pool[:per_slice]):
            chosen.add(index)
            picks.append((index, name))
    return picks


async def sample_pairs(
    candidate: str,
    baseline: str,
    rows: list[dict[str, Any]],
    picks: list[tuple[int, str]],
    grader: AnyGrader,
    sampler: Sampler,
    params: SamplingParams,
    *,
    context: GraderContext | None = None,
) -> ReviewCreateRequest:
    """One answer per picked row from each model, both graded: a review ready to store."""
    one = replace(params, n=1)
    picked = [rows[index] for index, _ in picks]

    async def answers(model: str) -> list[str]:
        drawn = await asyncio.gather(
            *(sampler.sample(model, row["messages"], row.get("tools"), one) for row in picked)
        )
        return [batch[0].text if batch else "" for batch in drawn]

    texts = {model: await answers(model) for model in (candidate, baseline)}
    pairs = [(Sample(text), row) for model in (candidate, baseline)
             for text, row in zip(texts[model], picked, strict=True)]  # fmt: skip
    results = (await agrade_many(grader, pairs, context=context)).results.rows()
    rewards = {candidate: results[: len(picked)], baseline: results[len(picked) :]}

    def output(model: str, position: int) -> ReviewOutput:
        result = rewards[model][position]
        return ReviewOutput(output_text=texts[model][position],
                            reward=result.reward if result.ok else None)  # fmt: skip

    items = [
        ReviewItemRequest(slice=name, item=rows[index], candidate=output(candidate, position),
                          baseline=output(baseline, position))
        for position, (index, name) in enumerate(picks)
    ]  # fmt: skip
    return ReviewCreateRequest(
        candidate=candidate, baseline=baseline, grader=display_name(grader), items=items
    )
