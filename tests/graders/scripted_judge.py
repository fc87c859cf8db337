"""A judge that speaks Chat Completions on loopback and answers from a script.

Each test queues `Reply`s (served in order) or sets `handler` (a function of the request body);
every request body is recorded with its arrival time, so tests assert what the judge was sent
and how many times it was asked.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from openrft.graders import PROJECT_HEADER

JUDGE_MODEL = "judge-mini-2026-01-01"


@dataclass
class Reply:
    result: Any = 0.5
    """The `result` of the JSON answer (used when `content` is None)."""
    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    status: int = 200
    error: str = "scripted failure"
    param: str | None = None
    """The `error.param` of a failure."""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: tuple[int, int] = (100, 20)
    model: str = JUDGE_MODEL
    raw: str | None = None
    """A whole response body sent instead of a completion (as JSON if it starts with `{`)."""

    def answer(self) -> str:
        if self.content is not None:
            return self.content
        steps = [{"description": "read the answer", "conclusion": "scored it"}]
        return json.dumps({"steps": steps, "result": self.result})

    def completion(self) -> dict[str, Any]:
        prompt, completion = self.usage
        message = {"role": "assistant", "content": None if self.refusal else self.answer()}
        message["refusal"] = self.refusal
        return {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": self.model,
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish_reason}],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": 7},
            },
        }


class ScriptedJudge:
    def __init__(self) -> None:
        self.reset()
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self._completions)

    def reset(self) -> None:
        self.queue: list[Reply] = []
        self.handler: Callable[[dict[str, Any]], Reply] = lambda body: Reply()
        self.requests: list[tuple[float, dict[str, Any]]] = []
        self.projects: list[str | None] = []
        """The `OpenRFT-Project` header of each request (None when absent)."""
        self.in_flight = 0
        self.max_in_flight = 0

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.requests]

    async def _completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append((time.monotonic(), body))
        self.projects.append(request.headers.get(PROJECT_HEADER))
        reply = self.queue.pop(0) if self.queue else self.handler(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(reply.delay)
        finally:
            self.in_flight -= 1
        if reply.raw is not None:
            kind = "application/json" if reply.raw.startswith("{") else "text/plain"
            return Response(reply.raw, media_type=kind)
        if reply.status != 200:
            error = {"message": reply.error, "type": "error", "param": reply.param, "code": None}
            return JSONResponse({"error": error}, reply.status, headers=reply.headers)
        return JSONResponse(reply.completion(), headers=reply.headers)


def rejects_response_format(answer: str) -> Callable[[dict[str, Any]], Reply]:
    """A judge without structured outputs: 400 on `response_format`, else `answer` as text."""

    def handle(body: dict[str, Any]) -> Reply:
        if "response_format" in body:
            return Reply(status=400, error="response_format json_schema is not supported")
        return Reply(content=answer)

    return handle
