"""Agentic rollouts: multi-turn episodes whose tool calls go to the user's tool servers.

    from openrft.agent import Toolbox, ToolServer, run_episodes, Episodes

    servers = tool_servers(method["reinforcement"]["tools"])    # name, server_url, headers
    with Toolbox(servers, max_concurrency=16) as toolbox:        # one per job: HTTP + the cap
        episodes = run_episodes(loaded, rows, n, seed, settings, toolbox, max_steps=10)
    episodes.rollouts      # token ids for GRPO: the loss only on the model's own tokens
    episodes.samples       # per episode, the grader's Sample (last text, every call, trace id)
    episodes.dropped       # a tool server failed for good: exclude like a grader error
    episodes.tool_metrics()

    tools.py     ToolServer, Toolbox: the HTTP side (payload, errors, retries, limits)
    episodes.py  run_episodes, Episodes: the loop, batching, token bookkeeping

Imports torch (episodes.py): import it where rollouts are drawn (train, evals).
"""

from openrft.agent.episodes import Episodes, TurnModel, run_episodes
from openrft.agent.tools import Toolbox, ToolResult, ToolServer, tool_servers

__all__ = [
    "Episodes",
    "ToolResult",
    "ToolServer",
    "Toolbox",
    "TurnModel",
    "run_episodes",
    "tool_servers",
]
