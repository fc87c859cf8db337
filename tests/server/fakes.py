"""A scripted model backend for the server tests: no torch, deterministic answers.

The answer to a chat is the last user message reversed (or a JSON object / a tool call when
the request asks for one); `delay` seconds per model call make batching measurable.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any


@dataclass
class Completion:
    text: str
    tool_calls: list[dict[str, Any]] | None
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int


def _last_user(messages: list[dict[str, Any]]) -> str:
    users = [message for message in messages if message.get("role") == "user"]
    return str(users[-1]["content"]) if users else ""


class FakeBackend:
    def __init__(self, delay: float = 0.0):
        self.delay = delay
        self.calls: list[tuple[str, int]] = []
        """(model, batch size) per model call."""

    def load(self, target: str) -> str:
        return target

    def request(self, **params: Any) -> dict[str, Any]:
        return params

    def complete(self, loaded: str, requests: list[dict[str, Any]]) -> list[list[Completion]]:
        self.calls.append((loaded, len(requests)))
        time.sleep(self.delay)
        return [
            [self._one(loaded, request, i) for i in range(request["n"])] for request in requests
        ]

    def _one(self, loaded: str, request: dict[str, Any], index: int) -> Completion:
        prompt = _last_user(request["messages"])
        if prompt == "__crash__":
            raise RuntimeError("secret internal detail")
        text, calls, reason = prompt[::-1], None, "stop"
        if request.get("response_format"):
            text = json.dumps({"answer": prompt[::-1]})
        if request.get("tools"):
            name = request["tools"][0]["function"]["name"]
            arguments = json.dumps({"text": prompt})
            calls = [{"id": f"call_{index}", "type": "function",
                      "function": {"name": name, "arguments": arguments}}]  # fmt: skip
            text, reason = "", "tool_calls"
        if request.get("max_tokens") and len(text) > request["max_tokens"]:
            text, reason = text[: request["max_tokens"]], "length"
        return Completion(text, calls, reason, len(prompt), len(text))

    def embed(self, loaded: str, texts: list[str]) -> tuple[list[list[float]], int]:
        vectors = []
        for text in texts:
            digest = hashlib.sha256(f"{loaded}/{text}".encode()).digest()
            vectors.append([byte / 255 for byte in digest[:8]])
        return vectors, sum(len(text) for text in texts)
