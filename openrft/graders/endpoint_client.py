"""The endpoint graders' HTTP client: one JSON POST per grade, to a URL the operator allows.

Guarantees, per `score()` call:
- the URL passes the outbound allow-list (`openrft.outbound`) right before every attempt;
- redirects are never followed (a 3xx is a final failure: it would lead around the list);
- a body over `MAX_PAYLOAD` is never sent, an answer over `MAX_ANSWER` is never read whole;
- each attempt ends within `TIMEOUT` seconds;
- a failed attempt (5xx, 408, 425, 429, no connection, a timeout, an answer that is not
  `{"score": number}`) is retried at most `MAX_RETRIES` times, with backoff (`retry-after`
  honoured); any other 4xx is final;
- attempts to one `(url, rate_limit)` start at least `1 / rate_limit` seconds apart, across
  every concurrent caller of this client (retries included);
- a failure's message never holds a header value (they are secrets) nor the URL's query.

What it does not do: cache answers (a grader endpoint may be stateful), or bound how many
calls are in flight (the caller's concurrency does).

The `httpx.AsyncClient` (its connection pool) belongs to the event loop it was first used
on, so there is one per loop, closed when that loop shuts down or by `aclose()`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

from openrft.graders.judge.http import backoff, retry_after
from openrft.outbound import OutboundPolicy

__all__ = ["MAX_PAYLOAD", "MAX_RETRIES", "TIMEOUT", "EndpointClient", "EndpointError"]

log = logging.getLogger(__name__)

TIMEOUT = 600.0
"""Seconds one attempt may take, connection to last byte (Azure's 10 minutes)."""
MAX_RETRIES = 3
"""Attempts after the first one."""
MAX_PAYLOAD = 1024 * 1024
"""Bytes: a larger request body is not sent (Azure's 1 MB input payload)."""
MAX_ANSWER = 1024 * 1024
"""Bytes of an answer read at most; a longer one is a bad answer."""
BACKOFF_BASE = 0.5
"""Seconds before the first retry (doubling, half of it jittered), unless `retry-after`."""
BACKOFF_MAX = 8.0
_RETRIED = {408, 425, 429}


class EndpointError(Exception):
    """No score: every attempt failed, or none could be made. `details` is safe to show."""

    def __init__(self, details: str, attempts: int):
        super().__init__(details)
        self.details = details
        self.attempts = attempts


class _Failed(Exception):
    """One failed attempt; `wait`: the seconds the endpoint asked us to wait (`retry-after`)."""

    def __init__(self, retryable: bool, details: str, wait: float | None = None):
        super().__init__(details)
        self.retryable, self.details, self.wait = retryable, details, wait


class Spacing:
    """Start times at least `1 / rate` seconds apart, for callers on any loop or thread."""

    def __init__(self, rate: float):
        self.interval = 1.0 / rate
        self._next = 0.0
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take the next free start time; the seconds to wait until it."""
        with self._lock:
            now = time.monotonic()
            start = max(now, self._next)
            self._next = start + self.interval
            return start - now


@dataclass
class _LoopClient:
    http: httpx.AsyncClient
    closer: AsyncGenerator[None, None] = field(repr=False)


class EndpointClient:
    def __init__(self, transport: httpx.AsyncBaseTransport | None = None):
        self.transport = transport
        """Replaces the network (tests); None: real connections."""
        self.requests = 0
        """Attempts sent, retries included."""
        self._spacing: dict[tuple[str, float], Spacing] = {}
        self._lock = threading.Lock()
        self._loops: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _LoopClient] = (
            weakref.WeakKeyDictionary()
        )

    async def score(
        self, url: str, headers: Mapping[str, str], rate_limit: float | None, body: bytes
    ) -> float:
        """POST `body` (JSON) to `url` and return the answer's `score`, or raise
        `EndpointError` after at most `1 + MAX_RETRIES` attempts."""
        secrets = [value for value in headers.values() if value]
        if len(body) > MAX_PAYLOAD:
            raise EndpointError(
                f"the request is {len(body)} bytes; the limit is {MAX_PAYLOAD} (1 MiB): not sent", 0
            )
        sent = {**headers, "Content-Type": "application/json"}
        attempt = 0
        while True:
            try:
                return await self._attempt(url, sent, rate_limit, body)
            except _Failed as failed:
                details = _scrub(failed.details, secrets)
                if not failed.retryable or attempt >= MAX_RETRIES:
                    tries = f" (after {attempt + 1} attempts)" if attempt else ""
                    raise EndpointError(details + tries, attempt + 1) from None
                wait = failed.wait
            delay = backoff(attempt, BACKOFF_BASE, BACKOFF_MAX, wait)
            log.info("endpoint grader retry %d in %.2f s: %s", attempt + 1, delay, details)
            await asyncio.sleep(delay)
            attempt += 1

    async def _attempt(
        self, url: str, headers: dict[str, str], rate_limit: float | None, body: bytes
    ) -> float:
        if rate_limit is not None:
            await asyncio.sleep(self._spacing_for(url, rate_limit).reserve())
        problem = OutboundPolicy.from_env().problem(url)  # now: the list may have changed
        if problem is not None:
            raise _Failed(False, f"not sent: {problem}")
        http = await self._client()
        where = _where(url)
        self.requests += 1
        try:
            async with asyncio.timeout(TIMEOUT):
                async with http.stream("POST", url, content=body, headers=headers) as response:
                    raw = await _read(response)
        except TimeoutError:
            raise _Failed(True, f"{where} did not answer within {TIMEOUT:g} s") from None
        except httpx.TimeoutException:
            raise _Failed(True, f"{where} did not answer within {TIMEOUT:g} s") from None
        except httpx.TransportError as exc:
            raise _Failed(True, f"could not reach {where}: {type(exc).__name__}: {exc}") from None
        return _answer(response, raw, where)

    def _spacing_for(self, url: str, rate: float) -> Spacing:
        with self._lock:
            return self._spacing.setdefault((url, rate), Spacing(rate))

    async def _client(self) -> httpx.AsyncClient:
        """This loop's client, made on first use."""
        loop = asyncio.get_running_loop()
        state = self._loops.get(loop)
        if state is None:
            http = httpx.AsyncClient(
                transport=self.transport, follow_redirects=False, timeout=TIMEOUT, trust_env=False
            )
            state = self._loops[loop] = _LoopClient(http, _closes_with_loop(http, self._loops))
            await anext(state.closer)
        return state.http

    async def aclose(self) -> None:
        """Close this loop's connections now (they are closed with the loop otherwise)."""
        state = self._loops.get(asyncio.get_running_loop())
        if state is not None:
            await state.closer.aclose()


async def _closes_with_loop(
    http: httpx.AsyncClient, loops: weakref.WeakKeyDictionary[Any, Any]
) -> AsyncGenerator[None, None]:
    """Parked on first use: `asyncio.run` closes it before closing the loop (see judge.loop)."""
    try:
        yield
    finally:
        loops.pop(asyncio.get_running_loop(), None)
        await http.aclose()


async def _read(response: httpx.Response) -> bytes | None:
    """The answer's bytes, or None past `MAX_ANSWER`."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(response: httpx.Response, raw: bytes | None, where: str) -> float:
    status = response.status_code
    text = "" if raw is None else raw[:300].decode("utf-8", "replace")
    if 300 <= status < 400:
        target = _where(response.headers.get("location", "")) or "nowhere"
        raise _Failed(False, f"{where} answered HTTP {status}, a redirect to {target}; "
                      "redirects are not followed: give the final URL")  # fmt: skip
    if status >= 400:
        retryable = status >= 500 or status in _RETRIED
        wait = retry_after(response.headers) if retryable else None
        raise _Failed(retryable, f"{where} answered HTTP {status}: {text}", wait)
    if raw is None:
        raise _Failed(True, f"{where} answered more than {MAX_ANSWER} bytes")
    score = _score(raw)
    if score is None:
        raise _Failed(True, f'{where} answered {text!r}, not {{"score": <number>}}')
    return score


def _score(raw: bytes) -> float | None:
    try:
        answer = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    score = answer.get("score") if isinstance(answer, dict) else None
    if isinstance(score, bool) or not isinstance(score, int | float):
        return None
    try:
        value = float(score)
    except OverflowError:  # an integer past float range
        return None
    return value if math.isfinite(value) else None


def _where(url: str) -> str:
    """The URL without its query and fragment (a key may hide in `?code=`)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "the endpoint"
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = host + (f":{port}" if port else "")
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else parts.path


def _scrub(text: str, secrets: list[str]) -> str:
    """`text` with every header value masked (an endpoint may echo a header in its error)."""
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
