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
    episodes.py  run_episodes: the loop and its batching
    record.py    Episodes: what the trainer, graders and metrics read
    tokens.py    the text a chat template adds after a turn; the batch layout
    turns.py     TurnModel, LoadedTurns: what episodes need of a model

Imports torch (episodes.py): import it where rollouts are drawn (train, evals).
"""

from openrft.agent.episodes import run_episodes
from openrft.agent.record import Episodes
from openrft.agent.tools import Toolbox, ToolResult, ToolServer, tool_servers
from openrft.agent.turns import LoadedTurns, TurnModel

__all__ = [
    "Episodes",
    "LoadedTurns",
    "ToolResult",
    "ToolServer",
    "Toolbox",
    "TurnModel",
    "run_episodes",
    "tool_servers",
]
