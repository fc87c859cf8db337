"""One step's pieces: prompts → rollouts → graded samples, and the validation pass.

Each step samples with its own seed, derived from the job seed and the step number, so a
step re-run after a resume draws the same samples as the first time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from openrft.graders import GradeResult, Sample
from openrft.models.chat import parse_tool_calls, render_prompt
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Rollouts, sample
from openrft.train.hparams import Resolved
from openrft.train.metrics import SplitStats
from openrft.train.rewards import Rewarder


@dataclass
class Policy:
    """How rollouts are drawn: the model plus the job's sampling settings."""

    loaded: LoadedModel
    max_new_tokens: int
    temperature: float
    schema: dict[str, Any] | None


def step_seed(seed: int, step: int, salt: int = 0) -> int:
    return (seed * 1_000_003 + step * 7_919 + salt) % (2**31 - 1)


def to_sample(text: str, finish: str, row: dict[str, Any], json_expected: bool) -> Sample:
    """The grader's `sample`: text, tool calls (when the row offers tools), one choice."""
    calls: list[dict[str, Any]] = []
    if row.get("tools"):
        text, calls = parse_tool_calls(text)
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
        finish = "tool_calls"
    return Sample.from_message(message, finish_reason=finish, json_expected=json_expected)


def rollout(
    policy: Policy, rows: list[dict[str, Any]], n: int, seed: int
) -> tuple[Rollouts, list[Sample], list[Any]]:
    """n samples per row; the samples and items come back row-aligned with the rollouts."""
    tokenizer = policy.loaded.tokenizer
    prompts = [render_prompt(tokenizer, row["messages"], row.get("tools")) for row in rows]
    rollouts = sample(
        policy.loaded,
        prompts,
        n=n,
        max_new_tokens=policy.max_new_tokens,
        temperature=policy.temperature,
        schema=policy.schema,
        seed=seed,
    )
    items = [row for row in rows for _ in range(n)]
    samples = [
        to_sample(text, finish, item, policy.schema is not None)
        for text, finish, item in zip(rollouts.texts, rollouts.finish_reasons, items, strict=True)
    ]
    return rollouts, samples, items


def stats_for(
    results: list[GradeResult], samples: list[Sample], rollouts: Rollouts, prompts: int
) -> SplitStats:
    return SplitStats(
        results=results,
        completion_tokens=rollouts.completion_mask.sum(dim=1).tolist(),
        prompts=prompts,
        parse_errors=sum(1 for s in samples if s.parse_failed),
    )


def evaluate(
    policy: Policy, rewarder: Rewarder, rows: list[dict[str, Any]], n: int, seed: int
) -> SplitStats:
    """The whole validation split, n samples per prompt, in chunks that bound memory."""
    results: list[GradeResult] = []
    tokens: list[int] = []
    answers: list[tuple[Any, Any]] = []
    parse_errors = 0
    chunk = max(1, 256 // n)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        rollouts, samples, items = rollout(policy, part, n, seed + start)
        stats = stats_for(rewarder(samples, items), samples, rollouts, len(part))
        results += stats.results
        tokens += stats.completion_tokens
        answers += zip(items, samples, strict=True)
        parse_errors += stats.parse_errors
    return SplitStats(results, tokens, len(rows), parse_errors, answers=answers)


def batch_rows(
    rows: list[dict[str, Any]], hp: Resolved, seed: int, step: int
) -> list[dict[str, Any]]:
    """Step `step`'s prompts: a fresh seeded shuffle each epoch, so any step can be recomputed
    from its number alone (a resumed job needs no data-loader state)."""
    epoch, index = divmod(step - 1, hp.steps_per_epoch)
    order = list(range(len(rows)))
    random.Random(f"{seed}:{epoch}").shuffle(order)
    start = index * hp.batch_size
    return [rows[order[(start + i) % len(order)]] for i in range(hp.batch_size)]


def validates(step: int, hp: Resolved) -> bool:
    """Every `eval_interval` steps, and always the last step (its checkpoint is the model)."""
    return step % hp.eval_interval == 0 or step == hp.total_steps
