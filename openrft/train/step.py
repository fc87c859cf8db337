"""One step's pieces: prompts → rollouts → graded samples, and the validation pass.

Rollouts come through the completion seam (`openrft.models.completion.Completer`): the
in-process engine over the trainer's own model unless the job is handed another, and the
trainer calls its `sync_weights` after every optimizer step. Each step samples with its own
seed, derived from the job seed and the step number, so a step re-run after a resume draws the
same samples as the first time. Prompts are the model's own chat template; a thinking model's
samples carry the answer only (graders never see the thinking section, as OpenAI's do not),
and its reasoning tokens are counted for the metrics.

A job with tools (`method.reinforcement.tools`) draws episodes instead (`openrft.agent`): the
group of a prompt is its n episodes, tool outputs are masked out of the loss, and an episode
whose tool server kept failing is dropped: never graded, kept out of the advantage like a
grader error, counted in the metrics (`Drawn.dropped`).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from openrft.graders import GradeResult, Sample
from openrft.models.chat import parse_tool_calls
from openrft.models.completion import ChatPrompt, Completer, RolloutSettings
from openrft.models.local import LocalCompleter
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Rollouts
from openrft.models.thinking import training_budget
from openrft.train.hparams import Resolved
from openrft.train.metrics import SplitStats, ToolStats
from openrft.train.rewards import Rewarder


class Agent(Protocol):
    """Draws a job's episodes (`openrft.train.episodes.EpisodeDrawer`)."""

    def draw(self, policy: Policy, rows: list[dict[str, Any]], n: int, seed: int) -> Drawn: ...


CompleterFactory = Callable[[LoadedModel], Completer]
"""Builds a job's rollout engine around the model it trains (`LocalCompleter` by default)."""


@dataclass
class Policy:
    """How rollouts are drawn: the engine plus the job's sampling settings."""

    completer: Completer
    settings: RolloutSettings
    agent: Agent | None = None
    """A job with tools: its episodes (`openrft.agent`); None: one answer per rollout."""


@dataclass
class Drawn:
    """One split's rollouts for one step: row r is prompt r // n, and every list is per row."""

    rollouts: Rollouts
    samples: list[Sample]
    items: list[Any]
    dropped: list[str | None]
    """Why each episode was dropped (a tool's 5xx after its retries), None when it was not: a
    dropped one is not graded and not trained on."""
    tools: ToolStats | None = None
    """A job with tools: the split's tool use."""

    def graded(self) -> tuple[list[Sample], list[Any]]:
        """The samples and items to grade: every row not dropped."""
        kept = [i for i, why in enumerate(self.dropped) if why is None]
        return [self.samples[i] for i in kept], [self.items[i] for i in kept]

    def spread(self, graded: list[GradeResult]) -> list[GradeResult | None]:
        """The grades of `graded()`'s rows back in row order; None for a dropped row."""
        grades = iter(graded)
        return [next(grades) if why is None else None for why in self.dropped]

    def kept_tokens(self) -> list[int]:
        """Completion tokens per graded row (tool outputs masked out of an episode's)."""
        tokens = self.rollouts.completion_mask.sum(dim=1).tolist()
        return [int(t) for t, why in zip(tokens, self.dropped, strict=True) if why is None]

    def kept_reasoning(self) -> list[int]:
        reasoning = list(self.rollouts.reasoning_tokens) or [0] * len(self.dropped)
        return [int(t) for t, why in zip(reasoning, self.dropped, strict=True) if why is None]


def policy_for(
    loaded: LoadedModel,
    max_new_tokens: int,
    temperature: float,
    schema: dict[str, Any] | None,
    completer: CompleterFactory | None = None,
    agent: Agent | None = None,
) -> Policy:
    """The job's rollout engine (`completer(loaded)`, else the in-process one) and sampling
    settings; a thinking model's bound on thinking scales with the completion budget (J2)."""
    think_limit = training_budget(max_new_tokens)
    settings = RolloutSettings(max_new_tokens, temperature, schema, think_limit)
    return Policy((completer or LocalCompleter)(loaded), settings, agent)


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


def rollout(policy: Policy, rows: list[dict[str, Any]], n: int, seed: int) -> Drawn:
    """n samples (or episodes) per row, row-aligned with the rollouts."""
    if policy.agent is not None:
        return policy.agent.draw(policy, rows, n, seed)
    prompts = [ChatPrompt(row["messages"], row.get("tools")) for row in rows]
    rollouts = policy.completer.rollouts(prompts, n, seed, policy.settings)
    items = [row for row in rows for _ in range(n)]
    structured = policy.settings.schema is not None
    samples = [
        to_sample(text, finish, item, structured)
        for text, finish, item in zip(rollouts.texts, rollouts.finish_reasons, items, strict=True)
    ]
    return Drawn(rollouts, samples, items, [None] * len(samples))


def stats_for(graded: list[GradeResult], drawn: Drawn, prompts: int) -> SplitStats:
    """The split's numbers over its graded rows (`graded`: `Drawn.graded()`'s grades)."""
    samples, _ = drawn.graded()
    return SplitStats(
        results=graded,
        completion_tokens=drawn.kept_tokens(),
        prompts=prompts,
        parse_errors=sum(1 for s in samples if s.parse_failed),
        reasoning_tokens=drawn.kept_reasoning(),
        tools=drawn.tools,
    )


def evaluate(
    policy: Policy, rewarder: Rewarder, rows: list[dict[str, Any]], n: int, seed: int
) -> SplitStats:
    """The whole validation split, n samples per prompt, in chunks that bound memory. Its
    dropped episodes are in `dropped`, for the caller to check once the ranks' shares are
    together (`check_drop_rate`)."""
    out = SplitStats([], [], len(rows), tools=ToolStats() if policy.agent else None)
    chunk = max(1, 256 // n)
    for start in range(0, len(rows), chunk):
        part = rows[start : start + chunk]
        drawn = rollout(policy, part, n, seed + start)
        out.dropped += drawn.dropped
        samples, items = drawn.graded()
        stats = stats_for(rewarder(samples, items), drawn, len(part))
        out.results += stats.results
        out.completion_tokens += stats.completion_tokens
        out.reasoning_tokens += stats.reasoning_tokens
        out.answers += zip(items, samples, strict=True)
        out.parse_errors += stats.parse_errors
        if out.tools is not None and drawn.tools is not None:
            out.tools += drawn.tools
    return out


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
