"""A job with tools draws episodes: `EpisodeDrawer` puts `openrft.agent` behind the step's
`Agent` seam.

One drawer per job: it holds the job's `Toolbox` (one HTTP client, at most
`settings.tool_concurrency` calls in flight over all of a step's episodes) and closes it with
the job. Each draw runs `run_episodes` on the policy's model with the step's seed, so a step
re-run after a resume draws the same turns (given the same tool answers) under the same trace
ids (the job's id and the seed are the key), and hands the step
its rollouts, samples, which episodes were dropped (with the first failed call's reason) and
the split's tool use for the metrics.
"""

from __future__ import annotations

from typing import Any

from openrft.agent import Episodes, Toolbox, run_episodes, tool_servers
from openrft.train.metrics import ToolStats
from openrft.train.spec import Reinforcement
from openrft.train.step import Drawn, Policy

__all__ = ["EpisodeDrawer"]


class EpisodeDrawer:
    def __init__(self, reinforcement: Reinforcement, concurrency: int, job_id: str):
        self.job_id = job_id
        tools = [tool.model_dump() for tool in reinforcement.tools]
        self.toolbox = Toolbox(tool_servers(tools), max_concurrency=concurrency)
        self.max_steps = reinforcement.max_episode_steps

    def draw(self, policy: Policy, rows: list[dict[str, Any]], n: int, seed: int) -> Drawn:
        episodes = run_episodes(
            policy.completer, rows, n, seed, policy.settings, self.toolbox, self.max_steps,
            trace_key=f"{self.job_id}:{seed}",
        )  # fmt: skip
        return Drawn(
            episodes.rollouts,
            episodes.samples,
            list(episodes.items),
            _reasons(episodes),
            tool_stats(episodes),
        )

    def close(self) -> None:
        self.toolbox.close()


def tool_stats(episodes: Episodes) -> ToolStats:
    return ToolStats(
        calls=list(episodes.tool_calls),
        latencies=[x for row in episodes.tool_latencies for x in row],
        call_tokens=[t for row in episodes.tool_tokens for t in row],
        errors=sum(episodes.tool_errors),
        dropped=sum(episodes.dropped),
    )


def _reasons(episodes: Episodes) -> list[str | None]:
    """Per episode, None when kept, else why it was dropped (its first call that failed for
    good: the tool's name and what came back; never a header)."""
    reasons: list[str | None] = []
    for dropped, results in zip(episodes.dropped, episodes.tool_results, strict=True):
        failed = next((r for r in results if r.dropped), None)
        if not dropped:
            reasons.append(None)
        elif failed is None:
            reasons.append("a tool call failed after its retries")
        else:
            status = f"HTTP {failed.status}" if failed.status is not None else "no answer"
            reasons.append(
                f"tool {failed.name!r} failed after {failed.attempts} attempts ({status}): "
                f"{failed.output[:300]}"
            )
    return reasons
