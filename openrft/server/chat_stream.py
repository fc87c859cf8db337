"""`stream: true` chat completions, sent as the model generates them.

The request goes to the engine with an `on_text` listener; the generation thread hands each
choice's new text to this event loop, which sends it as a content delta. When the batch is
done, each choice gets what was held back (text after a possible stop string, tool calls),
its finish reason, then usage and `[DONE]`.

Errors keep their status where they can: until the first text arrives nothing has been sent,
so a failure then is the usual JSON error. A failure after that is an `error` event (the
SDK raises it) with the message of an openrft error, or a generic one with the request's
place in the log.

A client that leaves cancels its request, before its first text (the route's
`while_connected`) or during the stream (Starlette cancels the stream, which cancels the
request): generation stops at the next token. A request that already sent text is never run
again, so no text is sent twice (`openrft.serve.batching`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from openrft.errors import OpenRFTError
from openrft.server.chat_wire import DONE, ROLE, Chunks, rest_deltas, sse
from openrft.server.errors import error_body

log = logging.getLogger(__name__)
Delta = tuple[int, str]


async def live_stream(
    engine: Any, target: str, params: dict[str, Any], model: str, include_usage: bool
) -> StreamingResponse:
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Delta] = asyncio.Queue()

    def on_text(choice: int, text: str) -> None:  # on the generation thread
        loop.call_soon_threadsafe(queue.put_nowait, (choice, text))

    task = asyncio.ensure_future(engine.complete(target, {**params, "on_text": on_text}))
    task.add_done_callback(_settle)
    first: asyncio.Future[Delta] = asyncio.ensure_future(queue.get())
    waiting: set[asyncio.Future[Any]] = {task, first}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # the client left before the first text
        first.cancel()
        task.cancel()
        raise
    error = None if first.done() else task.exception()
    if error is not None:  # nothing sent yet: the usual JSON error
        first.cancel()
        raise error
    events = _events(Chunks(model, include_usage), params["n"], task, queue, first)
    return StreamingResponse(events, media_type="text/event-stream")


async def _events(
    chunks: Chunks,
    n: int,
    task: asyncio.Future[list[Any]],
    queue: asyncio.Queue[Delta],
    pending: asyncio.Future[Delta] | None,
) -> AsyncIterator[str]:
    sent = [""] * n
    for index in range(n):
        yield chunks.delta(index, ROLE)
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(queue.get())
            waiting: set[asyncio.Future[Any]] = {task, pending}
            await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if not pending.done():  # the batch is done: what it said is already queued
                break
            index, text = pending.result()
            pending = None
            sent[index] += text
            yield chunks.delta(index, {"content": text})
        while not queue.empty():
            index, text = queue.get_nowait()
            sent[index] += text
            yield chunks.delta(index, {"content": text})
    finally:  # also when the client left mid-stream: stop generating for nobody
        if pending is not None:
            pending.cancel()
        if not task.done():
            task.cancel()
    try:
        completions = task.result()
    except Exception as exc:
        yield _error_event(exc)
        yield DONE
        return
    for index, completion in enumerate(completions):
        for delta in rest_deltas(completion, sent[index]):
            yield chunks.delta(index, delta)
        yield chunks.finish(index, completion)
    for line in chunks.close(completions):
        yield line


def _error_event(exc: Exception) -> str:
    if isinstance(exc, OpenRFTError):
        return sse(exc.to_body())
    log.error("chat stream failed", exc_info=exc)
    message = "The server had an error while generating this completion."
    return sse(error_body(message, "server_error"))


def _settle(task: asyncio.Future[Any]) -> None:
    """Read the outcome, so a stream the client left does not log 'never retrieved'."""
    if not task.cancelled():
        task.exception()
