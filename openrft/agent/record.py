"""`Episodes`: what a batch of episodes hands the trainer, the graders and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from openrft.agent.tools import ToolResult
from openrft.graders import Sample
from openrft.models.sampling import Rollouts

__all__ = ["Episodes"]


@dataclass
class Episodes:
    """`n` episodes per row, grouped like `Rollouts`: episode r belongs to row r // n."""

    rollouts: Rollouts
    """Token ids for the loss (`openrft.agent.episodes`): `completion_mask` marks the model's own
    tokens, `completion_attention` every real token."""
    samples: list[Sample]
    """The grader's view: the last assistant turn's text, every tool call of the episode
    (`output_tools`), and the trace id its tools saw."""
    items: list[dict[str, Any]]
    dropped: list[bool]
    """A tool server failed for good: exclude the episode like a grader error."""
    trace_ids: list[str]
    messages: list[list[dict[str, Any]]]
    """Each episode's conversation: the row's messages, then its assistant and tool messages."""
    turns: list[int]
    """Model turns per episode."""
    tool_results: list[list[ToolResult]]
    """Per episode, its calls' results in order (latency, error, attempts)."""
    tool_tokens: list[list[int]]
    """Per episode, the tokens of each tool message's content."""

    @property
    def texts(self) -> list[str]:
        return self.rollouts.texts

    @property
    def finish_reasons(self) -> list[str]:
        """ "stop" (answered), "length" (out of tokens or context), "tool_calls" (step cap)."""
        return self.rollouts.finish_reasons

    @property
    def tool_calls(self) -> list[int]:
        """Calls run per episode (a step-capped turn's calls are not run)."""
        return [len(results) for results in self.tool_results]

    @property
    def tool_errors(self) -> list[int]:
        return [sum(r.error for r in results) for results in self.tool_results]

    @property
    def tool_latencies(self) -> list[list[float]]:
        return [[r.latency_s for r in results] for results in self.tool_results]

    def tool_metrics(self) -> dict[str, float]:
        """Over every episode: calls per rollout, latency mean and p95 (seconds), errors,
        tokens per tool message, dropped episodes."""
        latencies = sorted(x for row in self.tool_latencies for x in row)
        tokens = [t for row in self.tool_tokens for t in row]
        episodes = max(1, len(self.tool_results))
        return {
            "tool_calls_per_rollout": sum(self.tool_calls) / episodes,
            "tool_latency_mean": sum(latencies) / len(latencies) if latencies else 0.0,
            "tool_latency_p95": _p95(latencies),
            "tool_errors": float(sum(self.tool_errors)),
            "tool_tokens_per_call": sum(tokens) / len(tokens) if tokens else 0.0,
            "dropped_rollouts": float(sum(self.dropped)),
        }


def _p95(ordered: list[float]) -> float:
    """Nearest-rank 95th percentile of sorted values (0 for none)."""
    if not ordered:
        return 0.0
    return ordered[max(0, -(-95 * len(ordered) // 100) - 1)]
