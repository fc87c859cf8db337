"""One step's pieces: prompts → rollouts → graded samples, and the validation pass.

Rollouts come through the completion seam (`openrft.models.completion.Completer`): the
in-process engine over the trainer's own model unless the job is handed another, and the
trainer calls its `sync_weights` after every optimizer step. Each step samples with its own
seed, derived from the job seed and the step number, so a step re-run after a resume draws the
same samples as the first time. Prompts are the model's own chat template; a thinking model's
samples carry the answer only (graders never see the thinking section, as OpenAI's do not),
and its reasoning tokens are counted for the metrics.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from openrft.graders import GradeResult, Sample
from openrft.models.chat import parse_tool_calls
from openrft.models.completion import ChatPrompt, Completer, RolloutSettings
from openrft.models.local import LocalCompleter
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Rollouts
from openrft.models.thinking import training_budget
from openrft.train.hparams import Resolved
from openrft.train.metrics import SplitStats
from openrft.train.rewards import Rewarder

CompleterFactory = Callable[[LoadedModel], Completer]
"""Builds a job's rollout engine around the model it trains (`LocalCompleter` by default)."""


@dataclass
class Policy:
    """How rollouts are drawn: the engine plus the job's sampling settings."""

    completer: Completer
    settings: RolloutSettings


def policy_for(
    loaded: LoadedModel,
    max_new_tokens: int,
    temperature: float,
    schema: dict[str, Any] | None,
    completer: CompleterFactory | None = None,
) -> Policy:
    """The job's rollout engine (`completer(loaded)`, else the in-process one) and sampling
    settings; a thinking model's bound on thinking scales with the completion budget (J2)."""
    think_limit = training_budget(max_new_tokens)
    settings = RolloutSettings(max_new_tokens, temperature, schema, think_limit)
    return Policy((completer or LocalCompleter)(loaded), settings)


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
    prompts = [ChatPrompt(row["messages"], row.get("tools")) for row in rows]
    rollouts = policy.completer.rollouts(prompts, n, seed, policy.settings)
    items = [row for row in rows for _ in range(n)]
    structured = policy.settings.schema is not None
    samples = [
        to_sample(text, finish, item, structured)
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
        reasoning_tokens=list(rollouts.reasoning_tokens),
    )


def evaluate(
    policy: Policy, rewarder: Rewarder, rows: list[dict[str, Any]], n: int, seed: int
) -> SplitStats:
    """The whole validation split, n samples per prompt, in chunks that bound memory."""
    results: list[GradeResult] = []
    tokens: list[int] = []
    reasoning: list[int] = []
    answers: list[tuple[Any, Any]] = []
    parse_errors = 0
    chunk = max(1, 256 // n)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        rollouts, samples, items = rollout(policy, part, n, seed + start)
        stats = stats_for(rewarder(samples, items), samples, rollouts, len(part))
        results += stats.results
        tokens += stats.completion_tokens
        reasoning += stats.reasoning_tokens
        answers += zip(items, samples, strict=True)
        parse_errors += stats.parse_errors
    return SplitStats(
        results, tokens, len(rows), parse_errors, answers=answers, reasoning_tokens=reasoning
    )


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
