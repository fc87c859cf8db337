"""A user's grader endpoint on loopback: answers `{"score": ...}` from a script, records calls.

Each test queues `Reply`s (served in order, then the default: 1.0 when the sample's text is the
item's `answer`, else 0.0) and reads `calls`: every request's JSON body, headers and arrival
time (`time.monotonic()` in this process), so tests count retries and check spacing.
`/moved` answers a redirect to `/grade`, whose hits are counted like any other.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tests.support.loopback import serve


@dataclass
class Reply:
    score: Any = 1.0
    status: int = 200
    raw: str | None = None
    """A whole answer body sent instead of `{"score": score}`."""
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Call:
    path: str
    body: Any
    headers: dict[str, str]
    at: float


class ScriptedEndpoint:
    def __init__(self) -> None:
        self.default: Reply | None = None
        """Sent once the queue is empty, instead of the answer-matching score."""
        self.replies: list[Reply] = []
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.app = FastAPI()
        self.app.add_api_route("/grade", self._grade, methods=["POST"])
        self.app.add_api_route("/moved", self._moved, methods=["POST"])

    def reset(self, *replies: Reply, default: Reply | None = None) -> None:
        with self._lock:
            self.replies, self.calls, self.default = list(replies), [], default

    def hits(self, path: str = "/grade") -> int:
        return sum(1 for call in self.calls if call.path == path)

    async def _record(self, request: Request) -> Any:
        raw = await request.body()
        try:
            body: Any = json.loads(raw)
        except ValueError:
            body = raw
        call = Call(request.url.path, body, dict(request.headers), time.monotonic())
        with self._lock:
            self.calls.append(call)
        return body

    async def _grade(self, request: Request) -> Response:
        body = await self._record(request)
        with self._lock:
            reply = self.replies.pop(0) if self.replies else self.default or _default(body)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.raw is not None:
            return Response(reply.raw, reply.status, reply.headers, media_type="application/json")
        return JSONResponse({"score": reply.score}, reply.status, reply.headers)

    async def _moved(self, request: Request) -> Response:
        await self._record(request)
        return Response(status_code=307, headers={"location": "/grade"})


def _default(body: Any) -> Reply:
    try:
        right = body["sample"]["output_text"] == body["item"]["answer"]
    except (KeyError, TypeError):
        right = False
    return Reply(1.0 if right else 0.0)


@contextmanager
def endpoint_server() -> Iterator[tuple[ScriptedEndpoint, str]]:
    """A scripted endpoint and its base URL (`http://127.0.0.1:PORT`)."""
    endpoint = ScriptedEndpoint()
    with serve(endpoint.app, stop_timeout=10) as url:
        yield endpoint, url
