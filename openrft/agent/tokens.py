"""An episode's tokens: the text a chat template adds after a model turn, and the batch
layout the trainer reads.

After a turn, the template would write the assistant message, the tool messages and the next
assistant header. The model's sampled tokens stand for the assistant message, so only what
follows its end-of-turn token is added (and tokenized on its own): the difference between the
conversation rendered with the tool messages and a generation prompt, and rendered up to the
assistant message. Two template habits are handled: whitespace written after the end-of-turn
token (ChatML's newline after `<|im_end|>`) belongs to the added text, and a template that
renders the last assistant turn differently from earlier ones (Qwen3's empty thinking section)
is skipped up to its end-of-turn token rather than repeated.
"""

from __future__ import annotations

import logging
from typing import Any

import torch

from openrft.models.chat import render_prompt

__all__ = ["added_text", "pack"]

log = logging.getLogger(__name__)


def added_text(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    replies: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    stop: str,
) -> str:
    """What the template writes after the model's last turn (the last of `messages`): the
    `replies` (tool messages) and the next assistant header. `stop`: the end-of-turn token
    that closed the turn, as text ("" when none did)."""
    before = render_prompt(tokenizer, messages, tools, generation_prompt=False)
    after = render_prompt(tokenizer, messages + replies, tools)
    if after.startswith(before):
        return _after_stop(before, stop) + after[len(before) :]
    # Some templates render a turn differently once it is not the last (Qwen3 drops the empty
    # thinking section): skip the re-rendered assistant turn up to its end-of-turn token.
    start = _shared_prefix(before, after)
    # (The renderings may part inside the end-of-turn text itself.)
    end = after.find(stop, max(0, start - len(stop) + 1)) if stop else -1
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


def pack(
    prompts: list[list[int]],
    completions: list[list[int]],
    losses: list[list[int]],
    pad: int,
    device: str,
) -> dict[str, torch.Tensor]:
    """The `Rollouts` tensors: prompts left-padded, completions right-padded (the layout
    `sample` returns); `losses` is each completion's loss mask, the attention mask covers
    every real token."""
    width = max([1, *map(len, prompts)])
    length = max([1, *map(len, completions)])

    def tensor(rows: list[list[int]]) -> torch.Tensor:
        size = (len(rows), len(rows[0]) if rows else 1)
        return torch.tensor(rows, dtype=torch.long, device=device).reshape(size)

    def left(values: list[int], fill: int) -> list[int]:
        return [fill] * (width - len(values)) + values

    def right(values: list[int], fill: int) -> list[int]:
        return values + [fill] * (length - len(values))

    return {
        "prompt_ids": tensor([left(p, pad) for p in prompts]),
        "prompt_mask": tensor([left([1] * len(p), 0) for p in prompts]),
        "completion_ids": tensor([right(c, pad) for c in completions]),
        "completion_mask": tensor([right(m, 0) for m in losses]),
        "completion_attention": tensor([right([1] * len(c), 0) for c in completions]),
    }
