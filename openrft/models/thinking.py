"""`reasoning_effort` for models with a thinking section (`<think>` … `</think>`, as Qwen3 and
DeepSeek-R1 style templates write it).

A model has a thinking section when its tokenizer has both tags as single tokens. Then
`none` turns thinking off where the chat template has the `enable_thinking` switch, and the
other levels bound it: once a row has thought for its share of the completion budget
(`SHARE`), `</think>` is forced, so the answer always gets the rest. A model without the tags
accepts `reasoning_effort` and ignores it (docs/server.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

SHARE = {"minimal": 0.125, "low": 0.25, "medium": 0.5, "high": 0.75, "xhigh": 1.0, "max": 1.0}
"""Of the completion-token budget, the most a row may spend thinking."""


@dataclass(frozen=True)
class ThinkingTags:
    start: int
    end: int


def thinking_tags(tokenizer: Any) -> ThinkingTags | None:
    """The `<think>` / `</think>` token ids, or None for a model without a thinking section."""
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    start, end = vocab.get("<think>"), vocab.get("</think>")
    return ThinkingTags(start, end) if start is not None and end is not None else None


def template_switch(tokenizer: Any, effort: str | None) -> dict[str, Any]:
    """Chat-template kwargs: `enable_thinking=False` for `none` where the template has it."""
    template = getattr(tokenizer, "chat_template", None)
    if effort is None or not isinstance(template, str) or "enable_thinking" not in template:
        return {}
    return {"enable_thinking": effort != "none"}


def budget(effort: str | None, max_new_tokens: int) -> int | None:
    """Thinking tokens a row may spend; None: no bound beyond the completion budget."""
    share = SHARE.get(effort or "")
    if share is None or share >= 1.0:
        return None
    return max(1, int(max_new_tokens * share))


class ThinkingBudget:
    """A logits processor: a row that opened `<think>` and has thought `limit` tokens
    without closing it gets `</think>` as its only choice."""

    def __init__(self, tags: ThinkingTags, limit: int):
        self.tags, self.limit = tags, limit
        self._start = -1

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self._start < 0:
            self._start = input_ids.shape[1]
        generated = input_ids[:, self._start :]  # [R, T]
        for row in range(generated.shape[0]):
            if self._over(generated[row].tolist()):
                forced = torch.full_like(scores[row], float("-inf"))
                forced[self.tags.end] = 0.0
                scores[row] = forced
        return scores

    def _over(self, tokens: list[int]) -> bool:
        if self.tags.start not in tokens or self.tags.end in tokens:
            return False
        return len(tokens) - tokens.index(self.tags.start) - 1 >= self.limit
