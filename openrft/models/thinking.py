"""Thinking sections (`<think>` … `</think>`, as Qwen3 and DeepSeek-R1 style templates write
them): kept out of the answer, counted as reasoning tokens, and bounded by `reasoning_effort`.

A model has a thinking section when its tokenizer has both tags as single tokens. The section
is opened either by the model (Qwen3: the completion starts with `<think>`) or by the template
(DeepSeek-R1: the generation prompt ends with `<think>`); `split` reads a completion's tokens
either way. The tags and what lies between them are reasoning: never in the answer text, which
is what graders, `output_text` and message content see (as OpenAI's are), and counted as
`reasoning_tokens`. The answer's leading whitespace (the `\\n\\n` after `</think>`) is dropped.

Bounds: `none` turns thinking off (the template's `enable_thinking` switch where it has one,
else the opened section is closed in the prompt), as does a `response_format` schema (JSON is
constrained from the first token). The other levels bound it: once a row has thought for its
share of the completion budget (`SHARE`), `</think>` is forced, so the answer always gets the
rest. Training rollouts think for the medium share of the job's completion budget, which J2
already scales 0.5×/1×/2× for low/medium/high, so the thinking budget scales the same way.
A model without the tags accepts `reasoning_effort` and ignores it (docs/server.md).
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

SHARE = {"minimal": 0.125, "low": 0.25, "medium": 0.5, "high": 0.75, "xhigh": 1.0, "max": 1.0}
"""Of the completion-token budget, the most a row may spend thinking."""
TAGS = (("<think>", "</think>"), ("<thinking>", "</thinking>"))
"""The thinking tags openrft knows, first match wins."""


@dataclass(frozen=True)
class ThinkingTags:
    start: int
    end: int
    start_text: str = "<think>"
    end_text: str = "</think>"


_KNOWN: weakref.WeakKeyDictionary[Any, ThinkingTags | None] = weakref.WeakKeyDictionary()
"""Per tokenizer: its vocabulary is read once (150k entries for Qwen), not on every batch."""


def thinking_tags(tokenizer: Any) -> ThinkingTags | None:
    """The thinking tags' token ids, or None for a model without a thinking section."""
    try:
        return _KNOWN[tokenizer]
    except KeyError:
        _KNOWN[tokenizer] = found = _find_tags(tokenizer)
        return found
    except TypeError:  # a tokenizer that cannot be weakly referenced
        return _find_tags(tokenizer)


def _find_tags(tokenizer: Any) -> ThinkingTags | None:
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    for start_text, end_text in TAGS:
        start, end = vocab.get(start_text), vocab.get(end_text)
        if start is not None and end is not None:
            return ThinkingTags(start, end, start_text, end_text)
    return None


def template_switch(tokenizer: Any, effort: str | None, structured: bool = False) -> dict[str, Any]:
    """Chat-template kwargs: `enable_thinking=False` for `none` (or a schema) where the
    template has the switch."""
    template = getattr(tokenizer, "chat_template", None)
    if not isinstance(template, str) or "enable_thinking" not in template:
        return {}
    if structured or effort == "none":
        return {"enable_thinking": False}
    return {} if effort is None else {"enable_thinking": True}


def thinks(effort: str | None, structured: bool) -> bool:
    return effort != "none" and not structured


def opens(tags: ThinkingTags | None, prompt: str) -> bool:
    """Whether the prompt leaves a thinking section open (the template opened it)."""
    return tags is not None and prompt.rstrip().endswith(tags.start_text)


def close_section(tokenizer: Any, prompt: str) -> str:
    """The prompt with a section its template opened closed, so the model answers at once."""
    tags = thinking_tags(tokenizer)
    if tags is None or not opens(tags, prompt):
        return prompt
    return f"{prompt.rstrip()}\n\n{tags.end_text}\n\n"  # Qwen3's empty section


def step(tags: ThinkingTags | None, thinking: bool, token: int) -> tuple[bool, bool]:
    """After `token`: (still thinking, whether `token` belongs to the answer)."""
    if tags is None:
        return False, True
    if token == tags.start:
        return True, False
    if token == tags.end:
        return False, False
    return thinking, not thinking


def split(tags: ThinkingTags | None, ids: Sequence[int], opened: bool) -> tuple[list[int], int]:
    """A completion's tokens (without the end-of-turn token): (answer ids, reasoning tokens)."""
    thinking, answer, reasoning = opened, [], 0
    for token in ids:
        thinking, spoken = step(tags, thinking, token)
        if spoken:
            answer.append(token)
        else:
            reasoning += 1
    return answer, reasoning


def answer_text(tags: ThinkingTags | None, text: str) -> str:
    """A thinking model's answer starts at its first word."""
    return text.lstrip() if tags is not None else text


def budget(effort: str | None, max_new_tokens: int) -> int | None:
    """Thinking tokens a row may spend; None: no bound beyond the completion budget."""
    share = SHARE.get(effort or "")
    if share is None or share >= 1.0:
        return None
    return max(1, int(max_new_tokens * share))


def training_budget(completion_tokens: int) -> int | None:
    """A training rollout's thinking tokens: the medium share of the job's completion budget
    (already `reasoning_effort`-scaled by J2, so the bound scales 0.5×/1×/2× with it)."""
    return budget("medium", completion_tokens)


class ThinkingBudget:
    """A logits processor: a row that is thinking (it opened `<think>`, or its prompt did) and
    has thought `limit` tokens without closing the section gets `</think>` as its only choice.
    `opened` is per prompt; rows are grouped by prompt, prompt-major."""

    def __init__(self, tags: ThinkingTags, limit: int, opened: Sequence[bool] = ()):
        self.tags, self.limit, self.opened = tags, limit, list(opened)
        self._start = -1

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self._start < 0:
            self._start = input_ids.shape[1]
        generated = input_ids[:, self._start :]  # [R, T]
        rows = generated.shape[0]
        for row in range(rows):
            if self._over(generated[row].tolist(), self._opened(row, rows)):
                forced = torch.full_like(scores[row], float("-inf"))
                forced[self.tags.end] = 0.0
                scores[row] = forced
        return scores

    def _opened(self, row: int, rows: int) -> bool:
        return bool(self.opened) and self.opened[row * len(self.opened) // rows]

    def _over(self, tokens: list[int], opened: bool) -> bool:
        if self.tags.end in tokens:
            return False
        if self.tags.start in tokens:
            return len(tokens) - tokens.index(self.tags.start) - 1 >= self.limit
        return opened and len(tokens) >= self.limit
