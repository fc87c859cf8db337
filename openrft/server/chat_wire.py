"""Chat completion responses: the `chat.completion` object and its streamed chunks.

`Chunks` writes a stream (`openrft.server.chat_stream` sends it): a role delta per choice,
content deltas as the text is generated, then what is left (`rest_deltas`: held-back text and
tool calls, which are parsed from the whole text), a finish per choice, usage when asked for,
and `[DONE]`.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from openrft.store.ids import new_id

__all__ = ["Chunks", "chat_object", "rest_deltas", "sse"]

_PIECE = re.compile(r"\S*\s*")


def _get(obj: Any, key: str, default: Any = None) -> Any:
    return obj.get(key, default) if isinstance(obj, dict) else getattr(obj, key, default)


def _tool_calls(completion: Any) -> list[dict[str, Any]] | None:
    calls = _get(completion, "tool_calls") or []
    out = []
    for call in calls:
        function = _get(call, "function")
        out.append({
            "id": _get(call, "id") or new_id("call_"),
            "type": "function",
            "function": {"name": _get(function, "name"), "arguments": _get(function, "arguments")},
        })  # fmt: skip
    return out or None


def assistant_message(completion: Any) -> dict[str, Any]:
    calls = _tool_calls(completion)
    text = _get(completion, "text")
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    message["refusal"] = None
    if calls:
        message["tool_calls"] = calls
    return message


def usage(completions: list[Any]) -> dict[str, Any]:
    prompt = int(_get(completions[0], "prompt_tokens", 0)) if completions else 0
    completion = sum(int(_get(item, "completion_tokens", 0)) for item in completions)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_usage(completions: list[Any]) -> dict[str, Any]:
    """A chat completion's usage: `reasoning_tokens` (a thinking section's) are counted in
    `completion_tokens` and named in its details, as OpenAI does."""
    reasoning = sum(int(_get(item, "reasoning_tokens", 0)) for item in completions)
    return usage(completions) | {"completion_tokens_details": {"reasoning_tokens": reasoning}}


def chat_object(model: str, completions: list[Any]) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": index,
                "message": assistant_message(completion),
                "finish_reason": _get(completion, "finish_reason") or "stop",
                "logprobs": None,
            }
            for index, completion in enumerate(completions)
        ],
        "usage": chat_usage(completions),
    }


ROLE = {"role": "assistant", "content": ""}
DONE = "data: [DONE]\n\n"


def sse(body: dict[str, Any]) -> str:
    """One server-sent event carrying a JSON body."""
    return f"data: {json.dumps(body)}\n\n"


class Chunks:
    """The `chat.completion.chunk` events of one response, as server-sent-event lines."""

    def __init__(self, model: str, include_usage: bool):
        self.id, self.created = new_id("chatcmpl-"), int(time.time())
        self.model, self.include_usage = model, include_usage

    def event(self, choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model, "choices": choices, **extra}  # fmt: skip
        if self.include_usage:
            body.setdefault("usage", None)
        return sse(body)

    def delta(self, index: int, delta: dict[str, Any]) -> str:
        return self.event(
            [{"index": index, "delta": delta, "finish_reason": None, "logprobs": None}]
        )

    def finish(self, index: int, completion: Any) -> str:
        reason = _get(completion, "finish_reason") or "stop"
        return self.event(
            [{"index": index, "delta": {}, "finish_reason": reason, "logprobs": None}]
        )

    def close(self, completions: list[Any]) -> Iterator[str]:
        """Usage (when asked for) and `[DONE]`."""
        if self.include_usage:
            yield self.event([], usage=chat_usage(completions))
        yield DONE


def rest_deltas(completion: Any, sent: str) -> Iterator[dict[str, Any]]:
    """The deltas a client still needs once `sent` (a prefix of the text) has been streamed:
    the rest of the text in word pieces, then the tool calls."""
    text = _get(completion, "text") or ""
    for piece in _PIECE.findall(text[len(sent) :] if text.startswith(sent) else ""):
        if piece:
            yield {"content": piece}
    for index, call in enumerate(_tool_calls(completion) or []):
        yield {"tool_calls": [{"index": index, **call}]}
