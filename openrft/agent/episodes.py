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
"""

from __future__ import annotations

import logging
import uuid
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Protocol

import torch

from openrft.agent.tools import Toolbox, ToolResult
from openrft.errors import InvalidRequestError
from openrft.graders.sample import Sample
from openrft.models.chat import parse_tool_calls, render_prompt
from openrft.models.completion import RolloutSettings
from openrft.models.generate import context_length
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Rollouts, Turn, key_generator, sample_turns

__all__ = ["LINGER_S", "Episodes", "LoadedTurns", "TurnModel", "run_episodes", "turn_model"]

log = logging.getLogger(__name__)

LINGER_S = 0.05
"""Once one episode's tool results are in, how long to wait for others' to join its round."""


class TurnModel(Protocol):
    """What episodes need of a model: its tokenizer, and one turn per prompt of token ids."""

    tokenizer: Any
    device: str
    context_length: int | None

    def turns(
        self, prompts: list[list[int]], keys: list[str], settings: RolloutSettings
    ) -> list[Turn]:
        """One turn per prompt; `keys` (one per prompt) seed each row's draws."""
        ...


class LoadedTurns:
    """A loaded model's turns: `sample_turns`, one generator per row from its key."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.context_length = context_length(loaded)

    def turns(
        self, prompts: list[list[int]], keys: list[str], settings: RolloutSettings
    ) -> list[Turn]:
        return sample_turns(
            self.loaded,
            prompts,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            generators=[key_generator(key) for key in keys],
            think_limit=settings.think_limit,
        )


def turn_model(model: Any) -> TurnModel:
    """A `TurnModel` from a `LoadedModel`, an in-process completer (`LocalCompleter`, which
    holds one) or a `TurnModel`. Episodes keep token ids, so they need the model itself."""
    if callable(getattr(model, "turns", None)):
        return model
    loaded = getattr(model, "loaded", model)
    if isinstance(loaded, LoadedModel):
        return LoadedTurns(loaded)
    raise TypeError(f"episodes need an in-process model, not {type(model).__name__}")


@dataclass
class Episodes:
    """`n` episodes per row, grouped like `Rollouts`: episode r belongs to row r // n."""

    rollouts: Rollouts
    """Token ids for the loss (the module docstring): `completion_mask` marks the model's own
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
) -> Episodes:
    """`n` episodes per row (the module docstring says how they run); `settings` bound each
    turn (`max_new_tokens`, `temperature`, `think_limit`; a `schema` is not applied, since
    a turn may call a tool instead of answering)."""
    model = turn_model(loaded_or_completer)
    episodes = [e for row in rows for e in _start(model.tokenizer, row, n)]
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
    calls = [{**call, "id": f"call_{uuid.uuid4().hex[:24]}"} for call in calls]
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
    try:
        added = _added_text(tokenizer, episode, replies)
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


def _added_text(tokenizer: Any, episode: _Episode, replies: list[dict[str, Any]]) -> str:
    """What the chat template writes after the model's last turn: the tool messages and the
    next assistant header. The template's rendering of the assistant turn itself is skipped
    (the model's sampled tokens stand for it), up to its end-of-turn token."""
    tools = episode.row.get("tools")
    before = render_prompt(tokenizer, episode.messages, tools, generation_prompt=False)
    after = render_prompt(tokenizer, episode.messages + replies, tools)
    stop = episode.stop_text
    if after.startswith(before):
        return _after_stop(before, stop) + after[len(before) :]
    # Some templates render a turn differently once it is not the last (Qwen3 drops the empty
    # thinking section): skip the re-rendered assistant turn up to its end-of-turn token.
    start = _shared_prefix(before, after)
    end = after.find(stop, start) if stop else -1
    if end < 0:
        log.warning("chat template re-renders an assistant turn; its tokens may repeat")
        return after[start:]
    return after[end + len(stop) :]


def _shared_prefix(a: str, b: str) -> int:
    """How many leading characters `a` and `b` share."""
    pairs = zip(a, b, strict=False)
    return next((i for i, (x, y) in enumerate(pairs) if x != y), min(len(a), len(b)))


def _after_stop(rendered: str, stop: str) -> str:
    """Whitespace the template writes after the end-of-turn token (ChatML's newline)."""
    at = rendered.rfind(stop) if stop else -1
    tail = rendered[at + len(stop) :] if at >= 0 else ""
    return tail if not tail.strip() else ""


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
    """Prompts left-padded, completions right-padded: the layout `sample` returns."""
    pad = model.tokenizer.pad_token_id or 0
    width = max([1, *(len(e.prompt) for e in episodes)])
    length = max([1, *(len(e.completion) for e in episodes)])

    def tensor(rows: list[list[int]]) -> torch.Tensor:
        size = (len(rows), len(rows[0]) if rows else 1)
        return torch.tensor(rows, dtype=torch.long, device=model.device).reshape(size)

    def left(values: list[int], fill: int) -> list[int]:
        return [fill] * (width - len(values)) + values

    def right(values: list[int], fill: int) -> list[int]:
        return values + [fill] * (length - len(values))

    return Rollouts(
        prompt_ids=tensor([left(e.prompt, pad) for e in episodes]),
        prompt_mask=tensor([left([1] * len(e.prompt), 0) for e in episodes]),
        completion_ids=tensor([right(e.completion, pad) for e in episodes]),
        completion_mask=tensor([right(e.loss, 0) for e in episodes]),
        texts=[e.text for e in episodes],
        finish_reasons=[e.finish for e in episodes],
        reasoning_tokens=[e.reasoning for e in episodes],
        completion_attention=tensor([right([1] * len(e.completion), 0) for e in episodes]),
    )
