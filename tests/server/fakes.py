"""A scripted model backend for the server tests: no torch, deterministic answers.

The answer to a chat is the last user message reversed (or a JSON object / a tool call when
the request asks for one); `delay` seconds per model call make batching measurable. Like the
real backend, a call fails whole when one request's `response_format` schema does not
compile, and the model reports a context length.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from openrft.models.structured import JsonAutomaton, schema_of


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
        self.hold: threading.Event | None = None
        """When set, a streamed answer stops after its first word until a test sets the event."""
        self.gate: threading.Event | None = None
        """When set, a model call for the prompt `__gate__` waits until a test sets the event."""
        self.requests: list[dict[str, Any]] = []
        """Every request the model was called with."""
        self.context = 4096

    def load(self, target: str) -> str:
        return target

    def request(self, **params: Any) -> dict[str, Any]:
        return params

    def context_length(self, loaded: str) -> int:
        return self.context

    def complete(self, loaded: str, requests: list[dict[str, Any]]) -> list[list[Completion]]:
        self.calls.append((loaded, len(requests)))
        self.requests += requests
        time.sleep(self.delay)
        gated = any(_last_user(request["messages"]) == "__gate__" for request in requests)
        if gated and self.gate is not None and not self.gate.wait(10):
            raise TimeoutError("the gate was never opened")
        for request in requests:  # the real backend compiles each schema for the whole batch
            if (schema := schema_of(request.get("response_format"))) is not None:
                JsonAutomaton(schema)
        return [
            [self._one(loaded, request, i) for i in range(request["n"])] for request in requests
        ]

    def _one(self, loaded: str, request: dict[str, Any], index: int) -> Completion:
        prompt = _last_user(request["messages"])
        if prompt == "__crash__":
            raise RuntimeError("secret internal detail")
        on_text = request.get("on_text")
        if on_text is not None and not request.get("tools") and prompt.startswith("stream "):
            return self._streamed(prompt.removeprefix("stream "), on_text, index)
        text, calls, reason = prompt[::-1], None, "stop"
        if request.get("response_format"):
            text = json.dumps({"answer": prompt[::-1]})
        if request.get("tools"):
            # As lenient as the real backend: a malformed tool still gets answered.
            function = request["tools"][0].get("function")
            name = function.get("name", "tool") if isinstance(function, dict) else "tool"
            arguments = json.dumps({"text": prompt})
            calls = [{"id": f"call_{index}", "type": "function",
                      "function": {"name": name, "arguments": arguments}}]  # fmt: skip
            text, reason = "", "tool_calls"
        if request.get("max_tokens") and len(text) > request["max_tokens"]:
            text, reason = text[: request["max_tokens"]], "length"
        return Completion(text, calls, reason, len(prompt), len(text))

    def _streamed(self, words: str, on_text: Any, index: int) -> Completion:
        """Says `words` one at a time through `on_text`, as a model streaming would; the word
        `__crash__` fails the call after what came before it was sent."""
        for number, word in enumerate(words.split(" ")):
            if word == "__crash__":
                raise RuntimeError("secret internal detail")
            on_text(index, word if number == 0 else f" {word}")
            if number == 0 and self.hold is not None and not self.hold.wait(10):
                raise TimeoutError("the first word never reached the client")
        return Completion(words, None, "stop", len(words), len(words.split(" ")))

    def embed(self, loaded: str, texts: list[str]) -> tuple[list[list[float]], int]:
        vectors = []
        for text in texts:
            digest = hashlib.sha256(f"{loaded}/{text}".encode()).digest()
            vectors.append([byte / 255 for byte in digest[:8]])
        return vectors, sum(len(text) for text in texts)
