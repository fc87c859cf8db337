"""Prompts in, messages out: chat templates, tools, and tool calls parsed from text.

A model calls a tool by writing `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
(the convention of openrft-tiny's template and of Qwen-style templates). Each parsed call
becomes a Chat Completions `tool_calls` entry; unparsable blocks stay in the text.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def render_prompt(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    **template: Any,
) -> str:
    """The prompt text, ending with the assistant's generation prompt; `template` holds
    extra chat-template switches (`enable_thinking`)."""
    text = tokenizer.apply_chat_template(
        _normalise(messages),
        tools=tools or None,
        add_generation_prompt=True,
        tokenize=False,
        **template,
    )
    return str(text)


def _normalise(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Content parts joined to text; `developer` is `system` for templates that predate it."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
        role = "system" if message.get("role") == "developer" else message.get("role")
        out.append({**message, "role": role, "content": content or ""})
    return out


def parse_tool_calls(text: str) -> tuple[str, list[dict[str, Any]]]:
    """(text without the parsed calls, the calls in Chat Completions shape)."""
    calls: list[dict[str, Any]] = []

    def take(match: re.Match[str]) -> str:
        try:
            body = json.loads(match.group(1))
        except ValueError:
            return match.group(0)
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            return match.group(0)
        calls.append(_call(body["name"], body.get("arguments", {}), len(calls), text))
        return ""

    rest = _TOOL_CALL.sub(take, text)
    return (rest.strip() if calls else text), calls


def _call(name: str, arguments: Any, index: int, text: str) -> dict[str, Any]:
    digest = hashlib.sha256(f"{index}:{text}".encode()).hexdigest()[:24]
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)
    return {
        "id": f"call_{digest}",
        "type": "function",
        "function": {"name": name, "arguments": args},
    }
