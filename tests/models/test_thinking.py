"""`reasoning_effort` on a model with a thinking section: `none` switches the template's
thinking off; the other levels force `</think>` once a row has thought its share."""

from __future__ import annotations

from typing import Any

import torch

from openrft.models.chat import render_prompt
from openrft.models.thinking import (
    ThinkingBudget,
    ThinkingTags,
    budget,
    opens,
    split,
    template_switch,
)

THINK, END, WORD = 5, 6, 1


class Tokenizer:
    """Just enough of a chat tokenizer: records the template switches it was given."""

    def __init__(self, template: str):
        self.chat_template = template
        self.given: dict[str, Any] = {}

    def get_vocab(self) -> dict[str, int]:
        return {"<think>": THINK, "</think>": END}

    def apply_chat_template(self, messages: list[Any], **options: Any) -> str:
        self.given = options
        return "prompt"


def test_none_turns_thinking_off_where_the_template_can() -> None:
    qwen = Tokenizer("{% if enable_thinking is defined and enable_thinking is false %}")
    render_prompt(qwen, [{"role": "user", "content": "hi"}], None, reasoning_effort="none")
    assert qwen.given["enable_thinking"] is False
    render_prompt(qwen, [{"role": "user", "content": "hi"}], None, structured=True)
    assert qwen.given["enable_thinking"] is False
    assert template_switch(qwen, "high") == {"enable_thinking": True}
    assert template_switch(qwen, None) == {} and template_switch(Tokenizer("plain"), "none") == {}


def test_levels_bound_the_thinking_share_of_the_budget() -> None:
    assert [budget(e, 64) for e in ("minimal", "low", "medium", "high")] == [8, 16, 32, 48]
    assert budget("xhigh", 64) is None and budget("max", 64) is None and budget(None, 64) is None


def test_a_row_that_thought_its_budget_must_close_the_section() -> None:
    processor = ThinkingBudget(ThinkingTags(THINK, END), limit=2)
    prompt = torch.tensor([[9, 9], [9, 9]])
    scores = torch.zeros(2, 8)
    assert not torch.isinf(processor(prompt, scores.clone())).any()  # first step: nothing yet
    rows = [
        [THINK, WORD, WORD],  # two tokens of thought: over
        [WORD, WORD, WORD],  # no thinking section: free
    ]
    out = processor(torch.cat([prompt, torch.tensor(rows)], dim=1), scores.clone())
    assert int(out[0].argmax()) == END and torch.isinf(out[0]).sum() == 7
    assert not torch.isinf(out[1]).any()
    closed = torch.tensor([[THINK, WORD, END, WORD], [THINK, WORD, WORD, WORD]])
    out = processor(torch.cat([prompt, closed], dim=1), scores.clone())
    assert not torch.isinf(out[0]).any() and int(out[1].argmax()) == END


def test_the_answer_is_what_follows_the_section_whoever_opened_it() -> None:
    tags, answer = ThinkingTags(THINK, END), 7
    # Qwen3 style: the model opens the section; DeepSeek-R1 style: the prompt already did.
    assert split(tags, [THINK, WORD, WORD, END, answer, answer], False) == ([answer, answer], 4)
    assert split(tags, [WORD, END, answer], True) == ([answer], 2)
    assert split(tags, [WORD, WORD], True) == ([], 2)  # cut while thinking: no answer yet
    assert split(tags, [answer, WORD], False) == ([answer, WORD], 0)
    assert split(None, [THINK, WORD], True) == ([THINK, WORD], 0)  # no section: all answer
    assert opens(tags, "<|im_start|>assistant\n<think>\n") and not opens(tags, "assistant\n")


def test_a_row_whose_prompt_opened_the_section_is_bounded_too() -> None:
    processor = ThinkingBudget(ThinkingTags(THINK, END), limit=2, opened=[True, False])
    prompt, scores = torch.tensor([[9], [9]]), torch.zeros(2, 8)
    processor(prompt, scores.clone())
    out = processor(torch.cat([prompt, torch.tensor([[WORD, WORD], [WORD, WORD]])], 1), scores)
    assert int(out[0].argmax()) == END and not torch.isinf(out[1]).any()
