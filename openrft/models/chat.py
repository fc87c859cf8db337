"""Prompts in, messages out: the model's own chat template, tools, and tool calls parsed
from text.

A model calls a tool by writing `<tool_call>{"name": ..., "arguments": {...}}</tool_call>`
(the convention of openrft-tiny's template and of Qwen-style templates). Each parsed call
becomes a Chat Completions `tool_calls` entry; unparsable blocks stay in the text.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from jinja2 import TemplateError

from openrft.errors import InvalidRequestError
from openrft.models.thinking import close_section, template_switch, thinks

_TOOL_CALL = re.compile(r"<tool_call>\s*(\{.*?\})\s*</tool_call>", re.DOTALL)


def render_prompt(
    tokenizer: Any,
    messages: list[dict[str, Any]],
    tools: list[dict[str, Any]] | None,
    *,
    reasoning_effort: str | None = None,
    structured: bool = False,
    generation_prompt: bool = True,
) -> str:
    """The prompt text by the model's own chat template (system prompts, tools, every turn),
    ending with the assistant's generation prompt (`generation_prompt=False`: ending with the
    last message, as an episode's token bookkeeping compares renderings). A thinking section
    is switched off for `reasoning_effort="none"` and for `structured` (schema-constrained)
    answers; a template that cannot render the messages is a 400 (`param="messages"`)."""
    switch = template_switch(tokenizer, reasoning_effort, structured)
    try:
        text = str(
            tokenizer.apply_chat_template(
                _normalise(messages),
                tools=tools or None,
                add_generation_prompt=generation_prompt,
                tokenize=False,
                **switch,
            )
        )
    # ValueError: the tokenizer has no template; TypeError: a value the template cannot use.
    except (TemplateError, ValueError, TypeError) as exc:
        raise InvalidRequestError(
            f"The model's chat template cannot render these messages: {exc}", param="messages"
        ) from None
    if not generation_prompt or thinks(reasoning_effort, structured):
        return text
    return close_section(tokenizer, text)


def _normalise(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Content parts joined to text (a part's `text`, when it is a string); `developer` is
    `system` for templates that predate it; tool-call arguments as objects, which is what
    templates render (`| tojson`)."""
    out = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = "".join(_part_text(part) for part in content)
        role = "system" if message.get("role") == "developer" else message.get("role")
        normal = {**message, "role": role, "content": content or ""}
        if isinstance(message.get("tool_calls"), list):
            normal["tool_calls"] = [_call_for_template(c) for c in message["tool_calls"]]
        out.append(normal)
    return out


def _part_text(part: Any) -> str:
    text = part.get("text") if isinstance(part, dict) else None
    return text if isinstance(text, str) else ""


def _call_for_template(call: Any) -> Any:
    function = call.get("function") if isinstance(call, dict) else None
    if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
        return call
    try:
        arguments = json.loads(function["arguments"])
    except ValueError:
        return call
    return {**call, "function": {**function, "arguments": arguments}}


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
