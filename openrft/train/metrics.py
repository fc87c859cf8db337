"""One `metrics` event per step, in OpenAI's `data` shape (J5, spec §5.5), new and legacy keys.

`SplitStats` summarises one split's grades for one step; `metrics_data` lays the train and
(on validation steps) valid summaries out as OpenAI does. On a step without validation the
valid fields are null: there is no fresh number to report. A job with tools adds a `tools`
section (`ToolStats`: Azure's four agentic metrics, and the rollouts dropped because a tool
server kept failing); the grades, tokens and rewards are over the rollouts that were graded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from openrft.graders import (
    EVENT_ERROR_FLAGS,
    AnyGrader,
    GradeResult,
    MultiGrader,
    display_name,
    sum_usage,
)


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


def _p95(values: list[float]) -> float | None:
    """The nearest-rank 95th percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


@dataclass
class ToolStats:
    """One split's tool use in one step, over every episode (dropped ones included)."""

    calls: list[int] = field(default_factory=list)
    """Per episode, the tool calls the model made."""
    latencies: list[float] = field(default_factory=list)
    """Per tool call, seconds until its answer (retries included)."""
    call_tokens: list[int] = field(default_factory=list)
    """Per tool call, the tokens of its tool message (what the model read)."""
    errors: int = 0
    """Tool calls that failed: a 4xx shown to the model, a timeout, a 5xx after its retries."""
    dropped: int = 0
    """Episodes dropped (a tool's 5xx after 3 retries): graded never, trained on never."""

    def __iadd__(self, other: ToolStats) -> ToolStats:
        self.calls += other.calls
        self.latencies += other.latencies
        self.call_tokens += other.call_tokens
        self.errors += other.errors
        self.dropped += other.dropped
        return self

    def data(self, split: str) -> dict[str, Any]:
        return {
            f"{split}_tool_calls_per_rollout_mean": _mean([float(c) for c in self.calls]) or 0.0,
            f"{split}_tool_latency_mean": _mean(self.latencies),
            f"{split}_tool_latency_p95": _p95(self.latencies),
            f"{split}_tool_errors_count": self.errors,
            f"{split}_tool_call_tokens_mean": _mean([float(t) for t in self.call_tokens]),
            f"{split}_dropped_rollouts_count": self.dropped,
        }


TOOL_KEYS = [key.removeprefix("train_") for key in ToolStats().data("train")]
"""The `tools` section's keys, each prefixed `train_` and `valid_`."""


def tools_data(train: SplitStats, valid: SplitStats | None) -> dict[str, Any]:
    """The `tools` section: train's numbers, and valid's (null off validation steps)."""
    assert train.tools is not None
    out = train.tools.data("train")
    if valid is not None and valid.tools is not None:
        return out | valid.tools.data("valid")
    return out | {f"valid_{key}": None for key in TOOL_KEYS}


@dataclass
class SplitStats:
    """One split's grades in one step: `results` row-aligned with `completion_tokens`."""

    results: list[GradeResult]
    completion_tokens: list[int]
    prompts: int
    parse_errors: int = 0
    extra: dict[str, Any] = field(default_factory=dict)
    answers: list[tuple[Any, Any]] = field(default_factory=list)
    """(row, sample) per result, kept for validation only (the job's eval runs)."""
    reasoning_tokens: list[int] = field(default_factory=list)
    """Per result, the completion tokens spent in a thinking section."""
    eval_results: list[GradeResult] | None = None
    """Per result, the job's `eval_grader`'s grade (validation of a job that has one)."""
    tools: ToolStats | None = None
    """A job with tools: its episodes' tool use (`metrics_data`'s `tools` section)."""
    dropped: list[str | None] = field(default_factory=list)
    """A job with tools, per episode: None when kept, else why it was dropped."""

    @property
    def reward_mean(self) -> float | None:
        return _mean([r.reward for r in self.results])


def _grader_entries(grader: AnyGrader) -> list[tuple[str, str, str | None]]:
    """(name, type, multi key) for the grader and each sub-grader of a multi."""
    entries: list[tuple[str, str, str | None]] = [(display_name(grader), grader.type, None)]
    if isinstance(grader, MultiGrader):
        entries += [(sub.name or key, sub.type, key) for key, sub in grader.graders.items()]
    return entries


def _score(stats: SplitStats | None, key: str | None) -> float | None:
    if stats is None:
        return None
    if key is None:
        return stats.reward_mean
    return _mean([(r.sub_rewards or {}).get(key, 0.0) for r in stats.results])


def _errors(prefix: str, stats: SplitStats | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for flag in EVENT_ERROR_FLAGS:
        count = (
            None if stats is None else sum(1 for r in stats.results if (r.errors or {}).get(flag))
        )
        out[f"{prefix}_{flag}_count"] = count
        out[f"{prefix}_{flag}_mean"] = None if stats is None else count / max(1, len(stats.results))  # type: ignore[operator]
    return out


def _usage(prefix: str, stats: SplitStats | None) -> dict[str, Any]:
    usage = sum_usage(r.token_usage for r in stats.results if r.token_usage) if stats else None
    prompts = max(1, stats.prompts) if stats else 1
    out: dict[str, Any] = {}
    for kind in ("prompt", "completion"):
        count = None if usage is None else usage[f"{kind}_tokens"]
        out[f"{prefix}_{kind}_tokens_count"] = count
        out[f"{prefix}_{kind}_tokens_mean"] = None if count is None else count / prompts
    return out


def _models(train: SplitStats, valid: SplitStats | None) -> dict[str, dict[str, int]]:
    table: dict[str, dict[str, int]] = {}
    for prefix, stats in (("train", train), ("eval", valid)):
        for result in stats.results if stats else []:
            for model, usage in (result.usage_per_model or {}).items():
                row = table.setdefault(
                    model,
                    {
                        f"{p}_{k}_tokens": 0
                        for p in ("train", "eval")
                        for k in ("prompt", "completion", "cached")
                    },
                )
                for kind in ("prompt", "completion", "cached"):
                    row[f"{prefix}_{kind}_tokens"] += int(usage.get(f"{kind}_tokens") or 0)
    return table


def _reasoning_mean(stats: SplitStats) -> float:
    """Thinking tokens per sample (0.0 for a model without a thinking section)."""
    return _mean([float(t) for t in stats.reasoning_tokens]) or 0.0


def _reasoning(train: SplitStats, valid: SplitStats | None) -> dict[str, Any]:
    return {
        "train_reasoning_tokens_mean": _reasoning_mean(train),
        "valid_reasoning_tokens_mean": _reasoning_mean(valid) if valid else None,
        "train_reasoning_tokens_count": sum(train.reasoning_tokens),
        "valid_reasoning_tokens_count": sum(valid.reasoning_tokens) if valid else None,
    }


def metrics_data(
    grader: AnyGrader,
    *,
    step: int,
    total_steps: int,
    train: SplitStats,
    valid: SplitStats | None,
    timing: dict[str, float],
) -> dict[str, Any]:
    entries = _grader_entries(grader)
    tokens = train.completion_tokens
    valid_tokens = valid.completion_tokens if valid else []
    latency = {
        split: _mean([r.execution_time for r in stats.results]) if stats else None
        for split, stats in (("train", train), ("valid", valid))
    }
    valid_mean = valid.reward_mean if valid else None
    parse_error = valid.parse_errors / max(1, len(valid.results)) if valid else None
    data = {
        "step": step,
        "total_steps": total_steps,
        "usage": {
            "graders": [
                {
                    "name": n,
                    "type": t,
                    "model": getattr(grader, "model", None),  # model graders name a judge
                    **_usage("train", train),
                    **_usage("valid", valid),
                }
                for n, t, _ in entries[:1]
            ],
            "samples": _reasoning(train, valid),
        },
        "errors": {
            "graders": [
                {"name": n, "type": t, **_errors("train", train), **_errors("valid", valid)}
                for n, t, _ in entries[:1]
            ]
        },
        "scores": {
            "graders": [
                {
                    "name": n,
                    "type": t,
                    "train_reward_mean": _score(train, k),
                    "valid_reward_mean": _score(valid, k),
                }
                for n, t, k in entries
            ],
            "train_reward_mean": train.reward_mean,
            "valid_reward_mean": valid_mean,
        },
        "timing": {
            "step": timing,
            "graders": [
                {
                    "name": entries[0][0],
                    "type": entries[0][1],
                    "train_execution_latency_mean": latency["train"],
                    "valid_execution_latency_mean": latency["valid"],
                }
            ],
        },
        # Legacy flat keys (third-party pollers read these):
        "train_mean_reward": train.reward_mean,
        "full_valid_mean_reward": valid_mean,
        "full_valid_mean_parse_error": parse_error,
        "reasoning_tokens_mean": _reasoning_mean(train),
        "completion_tokens_mean": _mean([float(t) for t in tokens]),
        "valid_reasoning_tokens_mean": _reasoning_mean(valid) if valid else None,
        "valid_completion_tokens_mean": _mean([float(t) for t in valid_tokens]),
        "mean_unresponsive_rewards": None,
        "model_graders_token_usage": _models(train, valid),
        **train.extra,
    }
    if train.tools is not None:
        data["tools"] = tools_data(train, valid)
    return data
