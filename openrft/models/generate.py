"""Chat completions over a loaded model: the engine behind `/v1/chat/completions`.

Requests that share sampling settings are generated together in one batch (`n` samples each).
A seeded request's samples are drawn from generators of its own, so it gives the same answer
alone or batched (a seed changes nothing in greedy decoding). `stop` strings cut the text
after generation. A request with `on_text` hears its text as it is generated (`streaming`).
A `response_format` JSON schema constrains sampling (see `constrain`);
`tools` go to the chat template, and `<tool_call>` blocks come back as `tool_calls`.
Prompts are the model's own chat template (`chat.render_prompt`); a row ends at any of the
model's end-of-turn tokens (`finish_reason` "stop") or at `max_tokens` ("length"); a thinking
section stays out of the text and is counted as `reasoning_tokens` (`thinking`).

A prompt that leaves no room in the model's context (`max_position_embeddings`) is refused
with a 400 for that request only, before any generation. A request whose `cancel` event is
set (its client is gone) has its rows stopped at the next token; its neighbours go on.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import torch
from transformers import StoppingCriteria

from openrft.errors import InvalidRequestError
from openrft.models.chat import parse_tool_calls, render_prompt
from openrft.models.completion import ChatAnswer, ChatRequest, Completion
from openrft.models.registry import LoadedModel
from openrft.models.sampling import sample, stop_ids
from openrft.models.streaming import OnText, Row, TextDeltas
from openrft.models.structured import schema_of
from openrft.models.thinking import budget, opens, thinking_tags

DEFAULT_MAX_TOKENS = 256


def chat_completions(
    loaded: LoadedModel, requests: Sequence[ChatRequest]
) -> list[list[Completion]]:
    """`n` completions for each request, in request order; raises the first request's error."""
    answers = chat_answers(loaded, requests)
    for answer in answers:
        if isinstance(answer, Exception):
            raise answer
    return answers  # type: ignore[return-value]


def chat_answers(loaded: LoadedModel, requests: Sequence[ChatRequest]) -> list[ChatAnswer]:
    """For each request, in order: its `n` completions, or why it cannot be served (only that
    request fails: a batch of others' requests is not poisoned)."""
    prompts = [_prompt(loaded, r) for r in requests]
    answers: dict[int, ChatAnswer] = {}
    groups: dict[str, list[int]] = defaultdict(list)
    for index, (request, prompt) in enumerate(zip(requests, prompts, strict=True)):
        if isinstance(prompt, InvalidRequestError):
            answers[index] = prompt
        elif (refusal := _too_long(loaded, prompt)) is not None:
            answers[index] = refusal
        else:
            groups[_group_key(request)].append(index)
    for members in groups.values():
        batch = [requests[i] for i in members]
        completed = _run(loaded, batch, [str(prompts[i]) for i in members])
        answers.update(zip(members, completed, strict=True))
    return [answers[i] for i in range(len(requests))]


def _prompt(loaded: LoadedModel, request: ChatRequest) -> str | InvalidRequestError:
    """The request's prompt, or why its messages cannot be rendered (that request's 400)."""
    try:
        return render_prompt(
            loaded.tokenizer,
            request.messages,
            request.tools,
            reasoning_effort=request.reasoning_effort,
            structured=schema_of(request.response_format) is not None,
        )
    except InvalidRequestError as exc:
        return exc


def context_length(loaded: LoadedModel) -> int | None:
    """The model's context in tokens, where its config says."""
    length = getattr(loaded.model.config, "max_position_embeddings", None)
    return length if isinstance(length, int) and length > 0 else None


def _too_long(loaded: LoadedModel, prompt: str) -> InvalidRequestError | None:
    context = context_length(loaded)
    if context is None or len(prompt) < context:  # a token is at least one character
        return None
    tokens = len(loaded.tokenizer(prompt, add_special_tokens=False)["input_ids"])
    if tokens < context:
        return None
    return InvalidRequestError(
        f"This model's maximum context length is {context} tokens. However, your messages "
        f"resulted in {tokens} tokens, which leaves no room for a completion. Please reduce "
        "the length of the messages.",
        param="messages",
        code="context_length_exceeded",
    )


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


def _run(
    loaded: LoadedModel, batch: list[ChatRequest], prompts: list[str]
) -> list[list[Completion]]:
    first = batch[0]
    max_new = min(first.max_tokens or DEFAULT_MAX_TOKENS, context_length(loaded) or 1 << 30)
    rollouts = sample(
        loaded,
        prompts,
        n=first.n,
        max_new_tokens=max_new,
        temperature=first.temperature,
        top_p=first.top_p,
        schema=schema_of(first.response_format),
        seeds=[int(r.seed or 0) for r in batch] if _seeded(first) else None,
        streamer=_streamer(loaded, batch, prompts),
        stopping=_cancelled(batch),
        think_limit=budget(first.reasoning_effort, max_new),
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
                    (completion_tokens[r], rollouts.reasoning_tokens[r]),
                )
                for r in rows
            ]
        )
    return out


def _streamer(
    loaded: LoadedModel, batch: list[ChatRequest], prompts: list[str]
) -> TextDeltas | None:
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

    tags = thinking_tags(loaded.tokenizer)
    rows = [
        Row(targets(r, choices), r.stop or [], thinking=opens(tags, prompt))
        for r, prompt in zip(batch, prompts, strict=True)
        for choices in per_row
    ]
    return TextDeltas(loaded.tokenizer, rows, stop_ids(loaded), tags)


def _rows_per_request(batch: list[ChatRequest]) -> int:
    """Generated rows per request: greedy generates one and repeats it for all `n`."""
    return 1 if batch[0].temperature <= 0 else batch[0].n


def _cancelled(batch: list[ChatRequest]) -> Cancelled | None:
    if all(request.cancel is None for request in batch):
        return None
    rows = _rows_per_request(batch)
    return Cancelled([request.cancel for request in batch for _ in range(rows)])


class Cancelled(StoppingCriteria):
    """Stops each generated row whose request's `cancel` event is set (checked every step)."""

    def __init__(self, events: list[threading.Event | None]):
        self.events = events

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor, **kwargs: Any) -> Any:
        stop = [event is not None and event.is_set() for event in self.events]
        return torch.tensor(stop, dtype=torch.bool, device=input_ids.device)


def _completion(
    text: str, finish: str, request: ChatRequest, prompt: int, used: tuple[int, int]
) -> Completion:
    """`used`: (completion tokens, of which reasoning)."""
    text, finish = _apply_stop(text, finish, request.stop)
    calls: list[dict[str, Any]] = []
    if request.tools:
        text, calls = parse_tool_calls(text)
    reason: Any = "tool_calls" if calls else finish
    return Completion(text, calls, reason, prompt, *used)


def _apply_stop(text: str, finish: str, stop: list[str] | None) -> tuple[str, str]:
    cuts = [text.find(s) for s in stop or [] if s and s in text]
    return (text[: min(cuts)], "stop") if cuts else (text, finish)
