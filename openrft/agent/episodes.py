"""Multi-turn tool-calling episodes: the rollouts of an agentic job.

An episode starts from a row's `messages` and `tools` (the function schemas the model reads in
its prompt), rendered by the model's own chat template. Each model turn is parsed for tool
calls in the model's own format (`openrft.models.chat.parse_tool_calls`); the calls are POSTed
to their servers (`tools.Toolbox`), the assistant message and one `tool` message per call are
appended, and the model goes on. An episode ends when the model answers without a call, when
a turn runs out of tokens, after `max_steps` model turns (the last turn's calls are then
recorded but not run), when its context would overflow, or when a tool server fails for good
(the episode is *dropped*: kept in the batch, flagged, for the trainer to exclude).

Scheduling: every episode ready for a turn is generated in one batched call; episodes whose
tools are still running sit that round out and rejoin the next round after their results are
in, so a slow tool never holds the others. Tools run on the toolbox's threads while the model
generates; a round waits at most `LINGER_S` for other tool results to join it.

Tokens: an episode is one sequence, kept as token ids from start to end. Its prompt is the
first prompt's tokens; its completion is every later token in order: what the model sampled,
exactly as sampled (loss mask 1), and the text the chat template adds for the tool messages and
the next assistant header, tokenized on its own (loss mask 0, attended to). Model output is
never re-tokenized, so each turn was generated from exactly the tokens the trainer scores, and
the model sees its earlier turns as it wrote them (thinking included), not as the template
would re-render them. Draws are seeded per episode and turn, so a run is reproducible from
`seed` whatever the tools' timing (given the same tool answers).

Trace ids: with a `trace_key` (a job passes its id and the draw's seed), an episode's
`trace_id` is a digest of the key, its row's place and its sample number, so a step drawn
again after a resume sends its tool calls under the same trace ids (and, sampling the same
turns, the same `call_id`s): a tool can make its side effects idempotent per
(`trace_id`, `call_id`). Without one, each episode gets a random id.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

from openrft.agent.record import Episodes
from openrft.agent.tokens import added_text, pack
from openrft.agent.tools import Toolbox, ToolResult
from openrft.agent.turns import TurnModel, turn_model
from openrft.errors import InvalidRequestError
from openrft.graders import Sample
from openrft.models.chat import parse_tool_calls, render_prompt
from openrft.models.completion import RolloutSettings
from openrft.models.sampling import Rollouts, Turn

__all__ = ["LINGER_S", "Episodes", "run_episodes"]

log = logging.getLogger(__name__)

LINGER_S = 0.05
"""Once one episode's tool results are in, how long to wait for others' to join its round."""


@dataclass(eq=False)
class _Episode:
    row: dict[str, Any]
    sample: int
    """Which of the row's `n` episodes (the draws' key)."""
    prompt_text: str
    prompt: list[int]
    messages: list[dict[str, Any]]
    trace_id: str = field(default_factory=lambda: f"trace_{uuid.uuid4().hex}")
    completion: list[int] = field(default_factory=list)
    loss: list[int] = field(default_factory=list)
    turns: int = 0
    text: str = ""
    finish: str = "stop"
    reasoning: int = 0
    calls: list[dict[str, Any]] = field(default_factory=list)
    results: list[ToolResult] = field(default_factory=list)
    tool_tokens: list[int] = field(default_factory=list)
    stop_text: str = ""
    """The end-of-turn token that closed the last turn, as text."""
    pending: list[futures.Future[ToolResult]] = field(default_factory=list)
    dropped: bool = False
    over: bool = False

    def context(self) -> list[int]:
        return self.prompt + self.completion

    def returned(self) -> bool:
        return all(f.done() for f in self.pending)


def run_episodes(
    loaded_or_completer: Any,
    rows: list[dict[str, Any]],
    n: int,
    seed: int,
    settings: RolloutSettings,
    toolbox: Toolbox,
    max_steps: int = 10,
    trace_key: str | None = None,
) -> Episodes:
    """`n` episodes per row (the module docstring says how they run); `settings` bound each
    turn (`max_new_tokens`, `temperature`, `think_limit`; a `schema` is not applied, since
    a turn may call a tool instead of answering)."""
    model = turn_model(loaded_or_completer)
    episodes = [e for row in rows for e in _start(model.tokenizer, row, n)]
    for i, episode in enumerate(episodes):
        if trace_key is not None:
            episode.trace_id = _trace_id(trace_key, i // n, episode.sample)
    ready, waiting = list(episodes), list[_Episode]()
    while ready or waiting:
        if ready:
            _round(model, ready, settings, toolbox, max_steps, seed)
            waiting += [e for e in ready if e.pending]
        ready = _returned(waiting)
        waiting = [e for e in waiting if e not in ready]
        for episode in ready:
            _take_results(model.tokenizer, episode)
        ready = [e for e in ready if not e.over]
    return _collect(model, episodes)


def _trace_id(key: str, row: int, sample: int) -> str:
    return "trace_" + hashlib.sha256(f"{key}:{row}:{sample}".encode()).hexdigest()[:32]


def _call_id(episode: _Episode, index: int) -> str:
    """Unique in the episode (its trace id, turn and place in the turn), the same on a redraw."""
    key = f"{episode.trace_id}:{episode.turns}:{index}"
    return "call_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def _start(tokenizer: Any, row: dict[str, Any], n: int) -> list[_Episode]:
    text = render_prompt(tokenizer, row["messages"], row.get("tools"))
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [_Episode(row, j, text, list(ids), list(row["messages"])) for j in range(n)]


def _round(
    model: TurnModel,
    ready: list[_Episode],
    settings: RolloutSettings,
    toolbox: Toolbox,
    max_steps: int,
    seed: int,
) -> None:
    """One batched generate call for every ready episode; their calls go to the toolbox."""
    live = [e for e in ready if _fits(e, model.context_length, settings.max_new_tokens)]
    if not live:
        return
    keys = [f"{seed}:{e.sample}:{e.turns}:{e.prompt_text}" for e in live]
    turns = model.turns([e.context() for e in live], keys, settings)
    for episode, turn in zip(live, turns, strict=True):
        _after_turn(model.tokenizer, episode, turn, toolbox, max_steps)


def _fits(episode: _Episode, context: int | None, budget: int) -> bool:
    """A later turn must fit the model's context (the first is the row's own prompt, sampled
    as a single-turn rollout would be); one that does not ends the episode at "length"."""
    if episode.turns == 0 or context is None or len(episode.context()) + budget <= context:
        return True
    episode.finish, episode.over = "length", True
    return False


def _after_turn(
    tokenizer: Any, episode: _Episode, turn: Turn, toolbox: Toolbox, max_steps: int
) -> None:
    episode.completion += turn.ids
    episode.loss += [1] * len(turn.ids)
    episode.turns += 1
    episode.reasoning += turn.reasoning_tokens
    text, calls = parse_tool_calls(turn.text) if episode.row.get("tools") else (turn.text, [])
    calls = [{**call, "id": _call_id(episode, i)} for i, call in enumerate(calls)]
    episode.text, episode.calls = text, episode.calls + calls
    message: dict[str, Any] = {"role": "assistant", "content": text}
    if calls:
        message["tool_calls"] = calls
    episode.messages.append(message)
    episode.stop_text = tokenizer.decode(turn.ids[-1:]) if turn.finished else ""
    if not turn.finished or not calls or episode.turns >= max_steps:
        episode.finish = "length" if not turn.finished else "tool_calls" if calls else "stop"
        episode.over = True
        return
    episode.finish = "tool_calls"
    episode.pending = [toolbox.submit(c, episode.row, episode.trace_id) for c in calls]


def _returned(waiting: list[_Episode]) -> list[_Episode]:
    """Episodes whose every call is answered: blocks until there is one (none when nobody
    waits), then lingers briefly so results that land together share the next round."""
    if not waiting:
        return []
    while not any(e.returned() for e in waiting):
        pending = [f for e in waiting for f in e.pending]
        futures.wait(pending, return_when=futures.FIRST_COMPLETED)
    others = [f for e in waiting if not e.returned() for f in e.pending]
    if others:
        futures.wait(others, timeout=LINGER_S)
    return [e for e in waiting if e.returned()]


def _take_results(tokenizer: Any, episode: _Episode) -> None:
    """Append the tool messages (tokens with loss mask 0), or drop the episode."""
    results = [
        _outcome(f, call) for f, call in zip(episode.pending, _last_calls(episode), strict=True)
    ]
    episode.pending = []
    episode.results += results
    episode.tool_tokens += [_count(tokenizer, r.output) for r in results]
    if any(r.dropped for r in results):
        episode.dropped = episode.over = True
        return
    replies = [
        {"role": "tool", "tool_call_id": r.call_id, "name": r.name, "content": r.output}
        for r in results
    ]
    tools = episode.row.get("tools")
    try:
        added = added_text(tokenizer, episode.messages, replies, tools, episode.stop_text)
    except InvalidRequestError as exc:  # the template cannot render tool messages
        log.warning("episode %s dropped: %s", episode.trace_id, exc.message)
        episode.dropped = episode.over = True
        return
    ids = tokenizer(added, add_special_tokens=False)["input_ids"]
    episode.completion += ids
    episode.loss += [0] * len(ids)
    episode.messages += replies


def _last_calls(episode: _Episode) -> list[dict[str, Any]]:
    return list(episode.messages[-1].get("tool_calls") or [])


def _outcome(future: futures.Future[ToolResult], call: dict[str, Any]) -> ToolResult:
    """The call's result; a toolbox failure (a bug, never a tool's answer) drops the episode."""
    try:
        return future.result()
    except Exception as exc:  # a bad rollout is data, not a crashed step
        log.exception("tool call failed")
        name = str(call.get("function", {}).get("name", ""))
        return ToolResult(str(call.get("id", "")), name, str(exc), error=True, dropped=True)


def _count(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _collect(model: TurnModel, episodes: list[_Episode]) -> Episodes:
    return Episodes(
        rollouts=_rollouts(model, episodes),
        samples=[_sample(e) for e in episodes],
        items=[e.row for e in episodes],
        dropped=[e.dropped for e in episodes],
        trace_ids=[e.trace_id for e in episodes],
        messages=[e.messages for e in episodes],
        turns=[e.turns for e in episodes],
        tool_results=[e.results for e in episodes],
        tool_tokens=[e.tool_tokens for e in episodes],
    )


def _sample(episode: _Episode) -> Sample:
    last = next(m for m in reversed(episode.messages) if m["role"] == "assistant")
    choice = {"index": 0, "message": last, "finish_reason": episode.finish}
    return Sample(
        episode.text, output_tools=episode.calls, choices=[choice], trace_id=episode.trace_id
    )


def _rollouts(model: TurnModel, episodes: list[_Episode]) -> Rollouts:
    pad = model.tokenizer.pad_token_id or 0
    prompts, completions = [e.prompt for e in episodes], [e.completion for e in episodes]
    tensors = pack(prompts, completions, [e.loss for e in episodes], pad, model.device)
    return Rollouts(
        **tensors,
        texts=[e.text for e in episodes],
        finish_reasons=[e.finish for e in episodes],
        reasoning_tokens=[e.reasoning for e in episodes],
    )
