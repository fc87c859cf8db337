"""A scripted OpenAI-compatible chat model on loopback, for tests that need answers.

Each model name maps to a policy: a function from the last user message to the answer. It
speaks `/v1/chat/completions` (with `n` and usage) well enough for the official SDK.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request

Policy = Callable[[str, int], str]


def _digits(prompt: str) -> str | None:
    body = prompt.removeprefix("sort ").removesuffix(":")
    return body if body.isdigit() else None


def ascending(prompt: str, index: int) -> str:
    digits = _digits(prompt)
    return "".join(sorted(digits)) if digits is not None else "I can't sort that."


def descending(prompt: str, index: int) -> str:
    digits = _digits(prompt)
    return "".join(sorted(digits, reverse=True)) if digits is not None else "I can't sort that."


def no_refusals(prompt: str, index: int) -> str:
    """Right on digits, but answers nonsense where it should refuse."""
    digits = _digits(prompt)
    return "".join(sorted(digits)) if digits is not None else "0123"


def coin(prompt: str, index: int) -> str:
    """Ascending or descending, by a hash of the prompt and the sample index."""
    heads = hashlib.sha256(f"{prompt}/{index}".encode()).digest()[0] % 2 == 0
    return ascending(prompt, index) if heads else descending(prompt, index)


POLICIES: dict[str, Policy] = {
    "sorter": ascending,
    "reverser": descending,
    "no-refusals": no_refusals,
    "coin": coin,
}


def app(policies: dict[str, Policy] | None = None) -> FastAPI:
    table = policies or POLICIES
    api = FastAPI()

    @api.post("/v1/chat/completions")
    async def completions(request: Request) -> Any:
        body = await request.json()
        prompt = str(body["messages"][-1]["content"])
        policy = table[body["model"]]
        answers = [policy(prompt, i) for i in range(int(body.get("n") or 1))]
        choices = [
            {"index": i, "finish_reason": "stop",
             "message": {"role": "assistant", "content": text}}
            for i, text in enumerate(answers)
        ]  # fmt: skip
        completion = sum(len(text) for text in answers)
        usage = {"prompt_tokens": len(prompt), "completion_tokens": completion,
                 "total_tokens": len(prompt) + completion}  # fmt: skip
        return {"id": "chatcmpl-test", "object": "chat.completion", "created": 0,
                "model": body["model"], "choices": choices, "usage": usage}  # fmt: skip

    return api
