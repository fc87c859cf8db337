"""Running a model's tool calls against the user's tool servers, Azure's agentic-RFT way.

A job names where each function is served (`method.reinforcement.tools`: `{"name",
"server_url", "headers"?}`). A call is POSTed to its server as a Responses `function_call`
item with the episode's context beside it:

    {"type": "function_call", "id": "fc_…", "call_id": "call_…", "name": …,
     "arguments": "<JSON string>", "item": {the dataset row}, "trace_id": "trace_<32 hex>"}

and the server answers like a `function_call_output`: `{"output": "<string>", …}`. The
`output` is the tool message the model reads next (a non-string is JSON-encoded).

What the model sees, and what a call costs the rollout:

    2xx with `output`            the output
    2xx without one, 3xx         an error message (redirects are never followed)
    4xx                          the error payload, serialized (an `output` in it wins)
    response over 1 MB           a 413 error message
    request over 1 MB            not sent; an error message
    unknown function name        an error message
    5xx, connection error,       retried 3 times, then the call *drops* its rollout: no
    timeout (10 min)             message, and the episode is excluded like a grader error
    URL no longer allowed        the rollout is dropped (the allow-list is checked before
                                 each request: the operator may have narrowed it)

Every error message counts as a tool error. Headers are secrets: sent to their server only,
never logged or repr'd. Calls run on the toolbox's threads, at most `max_concurrency` at a
time across every episode of a job.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from openrft.errors import InvalidRequestError
from openrft.outbound import check_url

__all__ = ["MAX_PAYLOAD", "TIMEOUT_S", "ToolResult", "ToolServer", "Toolbox", "tool_servers"]

log = logging.getLogger(__name__)

MAX_PAYLOAD = 1_000_000
"""Bytes, each way: a larger request is not sent, a larger response is a 413 to the model."""
TIMEOUT_S = 600.0
"""Seconds one attempt may take (read at each call, so tests can shrink it)."""
RETRIES = 3
"""Retries after a 5xx, a connection error or a timeout; then the rollout is dropped."""
BACKOFF_S = 0.5
"""Seconds before the first retry, doubled for each next one."""


@dataclass(frozen=True)
class ToolServer:
    """Where one function is served: an entry of `method.reinforcement.tools`."""

    name: str
    server_url: str
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Sent with every call to this server; secrets, never shown."""


def tool_servers(tools: Sequence[Mapping[str, Any]]) -> list[ToolServer]:
    """The job's `method.reinforcement.tools` as `ToolServer`s (validated by the job spec)."""
    return [ToolServer(t["name"], t["server_url"], dict(t.get("headers") or {})) for t in tools]


@dataclass
class ToolResult:
    """One call's outcome: the tool message the model sees, and what it cost."""

    call_id: str
    name: str
    output: str
    """The tool message's content (an error message when `error`)."""
    error: bool = False
    """The model saw an error message instead of the tool's output."""
    dropped: bool = False
    """The server failed after every retry: the call's rollout is dropped."""
    latency_s: float = 0.0
    """From the first attempt to the answer, retries included."""
    status: int | None = None
    """The last HTTP status; None when no answer came."""
    attempts: int = 0


class Toolbox:
    """Runs tool calls for a job's episodes: thread-safe, one HTTP client, a concurrency cap.
    Close it (or use it as a context manager) when the job ends."""

    def __init__(
        self,
        servers: Sequence[ToolServer],
        *,
        max_concurrency: int = 16,
        transport: httpx.BaseTransport | None = None,
    ):
        self.servers = {server.name: server for server in servers}
        self.max_concurrency = max(1, max_concurrency)
        self._slots = threading.BoundedSemaphore(self.max_concurrency)
        limits = httpx.Limits(max_connections=self.max_concurrency)
        self._client = httpx.Client(follow_redirects=False, limits=limits, transport=transport)
        self._pool = ThreadPoolExecutor(self.max_concurrency, thread_name_prefix="openrft-tool")

    def __enter__(self) -> Toolbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self._client.close()

    def submit(self, call: Mapping[str, Any], item: Any, trace_id: str) -> Future[ToolResult]:
        """`call` (a Chat Completions tool call) run on the toolbox's threads."""
        return self._pool.submit(self.call, call, item, trace_id)

    def call(self, call: Mapping[str, Any], item: Any, trace_id: str) -> ToolResult:
        """Run one tool call (the module docstring says what each outcome shows the model)."""
        function = call.get("function") or {}
        name, call_id = str(function.get("name", "")), str(call.get("id", ""))
        server = self.servers.get(name)
        if server is None:
            known = ", ".join(sorted(self.servers)) or "none"
            message = f"No tool server serves the function {name!r} (served: {known})."
            return ToolResult(call_id, name, _error(None, message), error=True)
        body = {
            "type": "function_call",
            "id": f"fc_{uuid.uuid4().hex}",
            "call_id": call_id,
            "name": name,
            "arguments": str(function.get("arguments", "{}")),
            "item": item,
            "trace_id": trace_id,
        }
        payload = json.dumps(body, ensure_ascii=False).encode()
        if len(payload) > MAX_PAYLOAD:
            message = f"The tool request is {len(payload)} bytes; at most {MAX_PAYLOAD} are sent."
            return ToolResult(call_id, name, _error(413, message), error=True)
        started = time.monotonic()
        result = self._with_retries(server, payload, call_id)
        result.latency_s = time.monotonic() - started
        return result

    def _with_retries(self, server: ToolServer, payload: bytes, call_id: str) -> ToolResult:
        problem = ""
        for attempt in range(1, RETRIES + 2):
            if attempt > 1:
                time.sleep(BACKOFF_S * 2 ** (attempt - 2))
            try:
                check_url(server.server_url, param=f"tools[{server.name}].server_url")
            except InvalidRequestError as exc:
                no = ToolResult(call_id, server.name, exc.message, error=True, dropped=True)
                no.attempts = attempt - 1  # not sent this time
                return no
            outcome = self._attempt(server, payload, call_id)
            if isinstance(outcome, ToolResult):
                outcome.attempts = attempt
                return outcome
            problem = outcome
            log.warning("tool %r: %s (attempt %d)", server.name, problem, attempt)
        message = f"The tool server failed {RETRIES + 1} times: {problem}"
        return ToolResult(
            call_id, server.name, message, dropped=True, error=True, attempts=RETRIES + 1
        )

    def _attempt(self, server: ToolServer, payload: bytes, call_id: str) -> ToolResult | str:
        """One POST: its result, or why it should be retried."""
        headers = {**server.headers, "content-type": "application/json"}
        try:
            with (
                self._slots,
                self._client.stream(
                    "POST", server.server_url, content=payload, headers=headers, timeout=TIMEOUT_S
                ) as response,
            ):
                if response.status_code >= 500:
                    return f"HTTP {response.status_code}"
                body = _read_capped(response)
        except httpx.TimeoutException:
            return f"no answer within {TIMEOUT_S:g} s"
        except httpx.TransportError as exc:
            return f"{type(exc).__name__}: {exc}"
        status = response.status_code
        if body is None:
            message = f"The tool's response is larger than {MAX_PAYLOAD} bytes."
            return ToolResult(call_id, server.name, _error(413, message), error=True, status=status)
        return _answer(call_id, server.name, status, body)


def _read_capped(response: httpx.Response) -> bytes | None:
    """The body, or None once it passes MAX_PAYLOAD (the rest is not read)."""
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > MAX_PAYLOAD:
        return None
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_PAYLOAD:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _answer(call_id: str, name: str, status: int, body: bytes) -> ToolResult:
    """A 2xx's output; a 4xx's payload; anything else an error message."""
    try:
        parsed: Any = json.loads(body)
    except ValueError:
        parsed = None
    output = parsed.get("output") if isinstance(parsed, dict) else None
    if 200 <= status < 300 and output is not None:
        return ToolResult(call_id, name, _as_text(output), status=status)
    if 400 <= status < 500:
        shown = output if output is not None else parsed if parsed is not None else None
        text = _as_text(shown) if shown is not None else body.decode("utf-8", "replace")
        shown_text = text or _error(status, "(empty)")
        return ToolResult(call_id, name, shown_text, error=True, status=status)
    if 300 <= status < 400:
        message = f"The tool server answered HTTP {status}; redirects are not followed."
    else:
        message = "The tool server's answer has no `output`."
    return ToolResult(call_id, name, _error(status, message), error=True, status=status)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _error(status: int | None, message: str) -> str:
    """An error message as the model reads it: a small JSON object."""
    error: dict[str, Any] = {"message": message}
    if status is not None:
        error["status"] = status
    return json.dumps({"error": error}, ensure_ascii=False)
