"""What a failed judge request means: retry it (and after how long), fall back, or give up.

The SDK's own retries are off (`max_retries=0`) so that we count attempts ourselves and honour
`retry-after-ms` / `retry-after` exactly. Retried: timeouts, connection errors, 408, 409, 429
and 5xx. Anything else (400, 401, 404, an unreadable body) is final on the first try.
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from typing import Any

MAX_RETRY_AFTER = 120.0
"""Seconds: a longer `retry-after` is capped (a judge asking for an hour is broken)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """One failed attempt, classified."""

    retryable: bool
    details: str
    """For `model_grader_server_error_details`."""
    status: int | None = None
    body: str = ""
    retry_after: float | None = None
    """Seconds the judge asked us to wait, when it said so."""
    param: str | None = None
    """The request parameter the judge's error names (OpenAI's `error.param`), if any."""


def classify(exc: BaseException, timeout: float) -> Failure:
    import openai

    if isinstance(exc, openai.APITimeoutError | TimeoutError):
        return Failure(True, f"judge request timed out after {timeout:g} s")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc
        return Failure(True, f"could not reach the judge: {type(cause).__name__}: {cause}")
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        body = _body_text(exc)
        retryable = status in (408, 409, 429) or status >= 500
        wait = retry_after(exc.response.headers)
        details = f"judge answered HTTP {status}: {body[:500]}"
        return Failure(retryable, details, status, body, wait, _param(exc))
    return Failure(False, f"judge request failed: {type(exc).__name__}: {exc}")


def _param(exc: Any) -> str | None:
    body = exc.body
    param = body.get("param") if isinstance(body, dict) else None
    return param if isinstance(param, str) and param else None


def _body_text(exc: Any) -> str:
    body = exc.body
    if isinstance(body, dict) and isinstance(body.get("message"), str):
        return str(body["message"])
    try:
        return str(exc.response.text)
    except Exception:
        return str(exc.message)


def retry_after(headers: Any) -> float | None:
    """Seconds from `retry-after-ms` (preferred) or `retry-after` (seconds or an HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return _capped(float(millis) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return _capped(float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return _capped(when.timestamp() - time.time())


def _capped(seconds: float) -> float | None:
    if seconds != seconds:  # NaN
        return None
    return min(max(0.0, seconds), MAX_RETRY_AFTER)


def backoff(attempt: int, base: float, cap: float, hint: float | None = None) -> float:
    """Seconds to wait before retry number `attempt + 1`: the judge's hint when it gave one,
    else exponential with jitter (half fixed, half random, so waits never collapse to 0)."""
    if hint is not None:
        return hint
    ceiling = min(cap, base * 2**attempt)
    return ceiling / 2 + random.uniform(0, ceiling / 2)


def rejects_schema(failure: Failure, first_call: bool) -> bool:
    """G6: the judge does not do structured outputs. Any 400/422 on the first structured call
    counts, unless it names another parameter as its cause (`error.param`: a judge that
    rejects `reasoning_effort` would reject it without `response_format` too); later, only one
    whose message names `response_format` or `json_schema`."""
    if failure.status not in (400, 422):
        return False
    if failure.param is not None and not failure.param.startswith("response_format"):
        return False
    if first_call:
        return True
    text = failure.body.lower()
    return "response_format" in text or "json_schema" in text
