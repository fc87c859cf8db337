"""openrft-tiny's chat template renders whole tool-calling episodes, as the model writes them."""

from __future__ import annotations

import json
import random

from openrft.models import lookup_task, tiny
from openrft.models.chat import parse_tool_calls, render_prompt

EPISODE = [
    {"role": "user", "content": "code of item BKQ?"},
    {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": "call_1",
                "type": "function",
                "function": {"name": "lookup", "arguments": json.dumps({"key": "BKQ"})},
            }
        ],
    },
    {"role": "tool", "tool_call_id": "call_1", "content": "0247"},
    {"role": "assistant", "content": "0247"},
]
CALL = '<tool_call>{"name": "lookup", "arguments": {"key": "BKQ"}}</tool_call>'


def test_an_episode_renders_its_calls_and_tool_answers() -> None:
    tokenizer = tiny.build_tokenizer()
    text = render_prompt(tokenizer, EPISODE, [lookup_task.TOOL], generation_prompt=False)
    assert text == (
        "<|system|>tools: lookup()<|end|><|user|>code of item BKQ?<|end|>"
        f"<|assistant|>{CALL}<|end|><|tool|>0247<|end|><|assistant|>0247<|end|>"
    )
    # What the template writes for a call is what the parser reads back as that call.
    rest, calls = parse_tool_calls(CALL)
    assert rest == "" and calls[0]["function"]["name"] == "lookup"
    assert json.loads(calls[0]["function"]["arguments"]) == {"key": "BKQ"}


def test_tools_are_listed_by_name_and_argument_names() -> None:
    tool = {"type": "function", "function": {"name": "add", "parameters": {
        "type": "object", "properties": {"a": {}, "b": {}}}}}  # fmt: skip
    bare = {"type": "function", "function": {"name": "now"}}
    text = render_prompt(tiny.build_tokenizer(), EPISODE[:1], [tool, bare])
    assert text.startswith("<|system|>tools: add(a,b) now()<|end|><|user|>")


def test_the_agent_warm_start_trains_only_on_what_the_model_writes() -> None:
    tokenizer = tiny.build_tokenizer(tiny.AGENT_EOS)
    episode = lookup_task.demonstration(random.Random(1), p_call=1.0, p_right=1.0)
    ids, labels = tiny._episode_ids(tokenizer, episode)
    trained = tokenizer.decode([i for i, label in zip(ids, labels, strict=True) if label != -100])
    code = episode[-1]["content"]
    call = '<tool_call>{"name": "lookup", "arguments": {}}</tool_call>'
    assert trained == f"{call}<|end|>{code}<|end|>"
    assert tokenizer.decode(ids).endswith(f"<|tool|>{code}<|end|><|assistant|>{code}<|end|>")
    assert tokenizer.eos_token == "<|end|>"
