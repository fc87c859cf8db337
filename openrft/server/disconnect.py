"""Work for a client that may leave: when its connection closes, the work is cancelled.

Starlette does not cancel a handler whose client disconnected, so a chat request would go on
generating for nobody and hold the generation thread from everyone else. `while_connected`
runs the work beside a watch on the connection (once the body is read, `receive()` answers
`http.disconnect` when the client is gone) and cancels the work if the client goes first.
Cancelling `Engine.complete` sets its request's cancel event: a queued request is dropped, a
generating one stops at the next token. What it does not do: notice a client that is still
connected but no longer reading (its socket's buffers fill, then the server's writes wait).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request
from fastapi.responses import Response

__all__ = ["ClientGone", "gone_response", "while_connected"]

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was ready; its work was cancelled."""


async def while_connected(request: Request, work: Awaitable[T]) -> T:
    """The result of `work`, or `ClientGone` (with `work` cancelled) if the client leaves."""
    task = asyncio.ensure_future(work)
    gone = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, gone}, return_when=asyncio.FIRST_COMPLETED)
    finally:  # also when this handler is cancelled (the server is stopping)
        gone.cancel()
        if not task.done():
            task.cancel()
    if task.cancelled() or not task.done():
        raise ClientGone()
    return task.result()


def gone_response() -> Response:
    """What the log shows for a client that left (nginx's 499); nobody reads it."""
    return Response(status_code=499)


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass
