"""Chat completion responses: the `chat.completion` object and its streamed chunks.

A completion arrives whole from the engine; streaming splits it into chunks after the fact
(role, content pieces, tool calls, finish, optional usage, `[DONE]`), which is what SDK
stream readers need, without token-by-token latency.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any

from openrft.jobs.ids import new_id

__all__ = ["chat_object", "sse_chunks"]

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


def _message(completion: Any) -> dict[str, Any]:
    calls = _tool_calls(completion)
    text = _get(completion, "text")
    message: dict[str, Any] = {"role": "assistant", "content": text if text or not calls else None}
    message["refusal"] = None
    if calls:
        message["tool_calls"] = calls
    return message


def usage(completions: list[Any]) -> dict[str, int]:
    prompt = int(_get(completions[0], "prompt_tokens", 0)) if completions else 0
    completion = sum(int(_get(item, "completion_tokens", 0)) for item in completions)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def chat_object(model: str, completions: list[Any]) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": index,
                "message": _message(completion),
                "finish_reason": _get(completion, "finish_reason") or "stop",
                "logprobs": None,
            }
            for index, completion in enumerate(completions)
        ],
        "usage": usage(completions),
    }


def sse_chunks(model: str, completions: list[Any], include_usage: bool) -> Iterator[str]:
    """Server-sent events, each `data: {chunk}\\n\\n`, then `data: [DONE]`."""
    chunk_id, created = new_id("chatcmpl-"), int(time.time())

    def chunk(choices: list[dict[str, Any]], **extra: Any) -> str:
        body = {"id": chunk_id, "object": "chat.completion.chunk", "created": created,
                "model": model, "choices": choices, **extra}  # fmt: skip
        if include_usage:
            body.setdefault("usage", None)
        return f"data: {json.dumps(body)}\n\n"

    for index, completion in enumerate(completions):
        for delta in _deltas(completion):
            yield chunk([{"index": index, "delta": delta, "finish_reason": None, "logprobs": None}])
        reason = _get(completion, "finish_reason") or "stop"
        yield chunk([{"index": index, "delta": {}, "finish_reason": reason, "logprobs": None}])
    if include_usage:
        yield chunk([], usage=usage(completions))
    yield "data: [DONE]\n\n"


def _deltas(completion: Any) -> Iterator[dict[str, Any]]:
    yield {"role": "assistant", "content": ""}
    for piece in _PIECE.findall(_get(completion, "text") or ""):
        if piece:
            yield {"content": piece}
    for index, call in enumerate(_tool_calls(completion) or []):
        yield {"tool_calls": [{"index": index, **call}]}
