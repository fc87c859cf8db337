"""The judge's SDK client for one event loop, closed when that loop shuts down.

An `AsyncOpenAI` client (its connection pool) and an `asyncio.Semaphore` belong to the loop
they were first used on, and `grade_many` runs every batch in a fresh `asyncio.run`. So a
`JudgeClient` keeps one `LoopClient` per running loop. Nobody has to remember to close it:
`asyncio.run` (and pytest-asyncio) close every suspended async generator before closing their
loop, and each `LoopClient` parks one whose `finally` closes the client and forgets the loop.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from openrft.graders.judge.settings import JudgeSettings

Loops = weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, "LoopClient"]


@dataclass
class LoopClient:
    client: Any
    """`openai.AsyncOpenAI` with `base_url` = the judge, SDK retries off."""
    gate: asyncio.Semaphore
    """At most `settings.concurrency` requests in flight on this loop."""
    closer: AsyncGenerator[None, None] = field(repr=False)

    async def post(
        self, body: dict[str, Any], headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """POST /chat/completions; the response body as JSON."""
        # The SDK's generic `post` with the body as it is: `chat.completions.create` re-walks
        # the body against its TypedDicts and builds a typed model from the answer, which was
        # 40% of the client's CPU per grade in bench/model_grader.py. We need five fields.
        options: Any = {"headers": headers} if headers else {}
        completion = await self.client.post(
            "/chat/completions", body=body, cast_to=object, options=options
        )
        if not isinstance(completion, dict):
            raise ValueError(f"the judge's answer is not a JSON object: {completion!r:.200}")
        return completion

    async def aclose(self) -> None:
        await self.closer.aclose()


async def open_client(settings: JudgeSettings, loops: Loops) -> LoopClient:
    """This loop's client, made on first use."""
    loop = asyncio.get_running_loop()
    state = loops.get(loop)
    if state is None:
        from openai import AsyncOpenAI

        client = AsyncOpenAI(
            base_url=settings.base_url,
            api_key=settings.api_key or "openrft",
            max_retries=0,  # we retry ourselves, to count attempts and honour retry-after
            timeout=settings.timeout,
        )
        gate = asyncio.Semaphore(max(1, settings.concurrency))
        state = loops[loop] = LoopClient(client, gate, _closes_with_loop(client, loops))
        await anext(state.closer)
    return state


async def _closes_with_loop(client: Any, loops: Loops) -> AsyncGenerator[None, None]:
    try:
        yield
    finally:
        # The entry refers to its loop, so its weak key would never die on its own.
        loops.pop(asyncio.get_running_loop(), None)
        await client.close()
