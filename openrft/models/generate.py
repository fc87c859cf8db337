"""Chat completions over a loaded model: the engine behind `/v1/chat/completions`.

Requests that share sampling settings are generated together in one batch (`n` samples each).
A seeded request's samples are drawn from generators of its own, so it gives the same answer
alone or batched (a seed changes nothing in greedy decoding). `stop` strings cut the text
after generation. A request with `on_text` hears its text as it is generated (`streaming`).
A `response_format` JSON schema constrains sampling (see `constrain`);
`tools` go to the chat template, and `<tool_call>` blocks come back as `tool_calls`.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from openrft.models.chat import parse_tool_calls, render_prompt
from openrft.models.registry import LoadedModel
from openrft.models.sampling import sample
from openrft.models.streaming import OnText, Row, TextDeltas
from openrft.models.structured import schema_of
from openrft.models.thinking import ThinkingBudget, budget, template_switch, thinking_tags

DEFAULT_MAX_TOKENS = 256


@dataclass
class ChatRequest:
    messages: list[dict[str, Any]]
    n: int = 1
    max_tokens: int | None = None
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    stop: list[str] | None = None
    reasoning_effort: str | None = None
    """Bounds a thinking section (`openrft.models.thinking`); ignored by other models."""
    on_text: OnText | None = None
    """Streaming: called with (choice index, new text) as tokens come (not with `tools`)."""


@dataclass
class Completion:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: Literal["stop", "length", "tool_calls"] = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


def chat_completions(loaded: LoadedModel, requests: list[ChatRequest]) -> list[list[Completion]]:
    """`n` completions for each request, in request order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, request in enumerate(requests):
        groups[_group_key(request)].append(index)
    answers: dict[int, list[Completion]] = {}
    for members in groups.values():
        for index, completions in zip(
            members, _run(loaded, [requests[i] for i in members]), strict=True
        ):
            answers[index] = completions
    return [answers[i] for i in range(len(requests))]


def _group_key(request: ChatRequest) -> str:
    settings = [
        request.n,
        request.max_tokens,
        request.temperature,
        request.top_p,
        request.response_format,
        request.reasoning_effort,
        _seeded(request),
    ]
    return json.dumps(settings, sort_keys=True)


def _seeded(request: ChatRequest) -> bool:
    return request.seed is not None and request.temperature > 0


def _run(loaded: LoadedModel, batch: list[ChatRequest]) -> list[list[Completion]]:
    first = batch[0]
    thinking = template_switch(loaded.tokenizer, first.reasoning_effort)
    prompts = [render_prompt(loaded.tokenizer, r.messages, r.tools, **thinking) for r in batch]
    max_new = min(first.max_tokens or DEFAULT_MAX_TOKENS, _context(loaded))
    rollouts = sample(
        loaded,
        prompts,
        n=first.n,
        max_new_tokens=max_new,
        temperature=first.temperature,
        top_p=first.top_p,
        schema=schema_of(first.response_format),
        seeds=[int(r.seed or 0) for r in batch] if _seeded(first) else None,
        streamer=_streamer(loaded, batch),
        processors=_thinking_budget(loaded, first.reasoning_effort, max_new),
    )
    prompt_tokens = rollouts.prompt_mask.sum(dim=1).tolist()
    completion_tokens = rollouts.completion_mask.sum(dim=1).tolist()
    out: list[list[Completion]] = []
    for number, request in enumerate(batch):
        rows = range(number * first.n, (number + 1) * first.n)
        out.append(
            [
                _completion(
                    rollouts.texts[r],
                    rollouts.finish_reasons[r],
                    request,
                    prompt_tokens[r],
                    completion_tokens[r],
                )
                for r in rows
            ]
        )
    return out


def _context(loaded: LoadedModel) -> int:
    """The model's context: no completion is longer (a static cache is sized by the cap)."""
    length = getattr(loaded.model.config, "max_position_embeddings", None)
    return length if isinstance(length, int) and length > 0 else 1 << 30


def _thinking_budget(loaded: LoadedModel, effort: str | None, max_new: int) -> list[Any]:
    tags, limit = thinking_tags(loaded.tokenizer), budget(effort, max_new)
    return [ThinkingBudget(tags, limit)] if tags is not None and limit is not None else []


def _streamer(loaded: LoadedModel, batch: list[ChatRequest]) -> TextDeltas | None:
    """Deltas for the requests that stream, one row per generated sequence (a greedy batch
    generates one per request and repeats it, so that row speaks for all `n` choices)."""
    if not any(r.on_text and not r.tools for r in batch):
        return None
    n = batch[0].n
    per_row = [range(n)] if batch[0].temperature <= 0 else [range(c, c + 1) for c in range(n)]

    def targets(request: ChatRequest, choices: range) -> list[tuple[OnText, int]]:
        if request.on_text is None or request.tools:
            return []
        return [(request.on_text, choice) for choice in choices]

    rows = [Row(targets(r, choices), r.stop or []) for r in batch for choices in per_row]
    return TextDeltas(loaded.tokenizer, rows, loaded.tokenizer.eos_token_id)


def _completion(text: str, finish: str, request: ChatRequest, prompt: int, used: int) -> Completion:
    text, finish = _apply_stop(text, finish, request.stop)
    calls: list[dict[str, Any]] = []
    if request.tools:
        text, calls = parse_tool_calls(text)
    reason: Any = "tool_calls" if calls else finish
    return Completion(text, calls, reason, prompt, used)


def _apply_stop(text: str, finish: str, stop: list[str] | None) -> tuple[str, str]:
    cuts = [text.find(s) for s in stop or [] if s and s in text]
    return (text[: min(cuts)], "stop") if cuts else (text, finish)
