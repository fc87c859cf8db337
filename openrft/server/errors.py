"""Every error the server sends is OpenAI's body (decision H1), never FastAPI's `{"detail"}`.

    OpenRFTError            its own status and `to_body()`
    RequestValidationError  400, naming the first bad field as `param`
    HTTPException           its status, OpenAI's body; an unknown method on a known path is
                            404 "Invalid URL (METHOD /path)", as OpenAI answers it, not 405
    a full disk             507 `disk_full` (ENOSPC, EDQUOT, SQLite's "database or disk is full")
    anything else           500, logged with the request id; the body says only the id

`RequestMiddleware` gives every response an `x-request-id`, enforces the body-size caps
(413) before a route reads the body, turns away JSON bodies no parser should see (not UTF-8,
nested too deep, lone surrogates: 400, `json_body.py`), and is where the 500 is produced, so
even a crash answers JSON with the id.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

import anyio
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openrft.errors import DiskFullError, OpenRFTError, PayloadTooLargeError
from openrft.server.json_body import check_json_body, is_json
from openrft.store.disk import is_disk_full

__all__ = ["RequestMiddleware", "error_body", "install"]

log = logging.getLogger(__name__)


def error_body(
    message: str, type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def install(app: FastAPI) -> None:
    app.add_exception_handler(OpenRFTError, _openrft_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _validation_error)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]


async def _openrft_error(request: Request, exc: OpenRFTError) -> JSONResponse:
    return JSONResponse(exc.to_body(), status_code=exc.status)


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    first = exc.errors()[0]
    if first.get("type") == "json_invalid":
        message = "We could not parse the JSON body of your request: it is not valid JSON."
        return JSONResponse(error_body(message, "invalid_request_error"), status_code=400)
    param = _param(first)
    where = f" for '{param}'" if param else ""
    # A union ("auto" or a bounded number) fails once per branch: say every branch's reason.
    reasons = dict.fromkeys(e.get("msg", "invalid") for e in exc.errors() if _param(e) == param)
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "missing" and param is None:
        message = "The request body is missing: send a JSON object."
    elif first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid value{where}: {' or '.join(reasons)}"
    return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)


# Location parts pydantic adds for union branches; they are not fields of the request
# (`n_epochs.constrained-int` is `n_epochs` to the client).
_BRANCH = re.compile(
    r"(literal|list|dict|function-\w+)\[.*\]|[\w-]+\[.*\]|(constrained-)?(int|float|str|bool|none)"
)


def _param(error: Any) -> str | None:
    loc = [str(part) for part in error.get("loc", ()) if part not in ("body", "query", "path")]
    return ".".join(part for part in loc if not _BRANCH.fullmatch(part)) or None


async def _http_error(request: Request, exc: HTTPException) -> JSONResponse:
    status, headers = exc.status_code, exc.headers
    if status == 405:  # OpenAI answers a known path with an unknown method as a bad URL
        status, headers = 404, None
    if status == 404:
        message = f"Invalid URL ({request.method} {request.url.path})"
    else:
        message = str(exc.detail)
    kind = "invalid_request_error" if status < 500 else "server_error"
    return JSONResponse(error_body(message, kind), status_code=status, headers=headers)


class RequestMiddleware:
    """Pure ASGI (streaming responses pass through untouched)."""

    def __init__(self, app: ASGIApp, *, max_body: int, max_upload: int):
        self.app = app
        self.max_body = max_body
        # Multipart framing around the file itself: a little headroom over the file cap.
        self.max_upload = max_upload + 64 * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = "req_" + secrets.token_hex(16)
        scope.setdefault("state", {})["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [
                    *message.get("headers", []),
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        cap = self.max_upload if scope["path"].rstrip("/").endswith("/files") else self.max_body
        try:
            _check_length(scope, cap)
            receive = _capped(receive, cap)
            if scope["method"] in _WITH_BODY and is_json(_header(scope, b"content-type")):
                receive = await _checked_json(receive)
            await self.app(scope, receive, send_with_id)
        except OpenRFTError as exc:
            if not started:
                await _send_json(send_with_id, exc.status, exc.to_body())
        except Exception as exc:
            if is_disk_full(exc):
                log.error("request %s: the disk is full: %s", request_id, exc)
                if not started:
                    await _send_json(send_with_id, 507, DiskFullError().to_body())
                return
            log.exception("unhandled error, request %s", request_id)
            if not started:
                message = (
                    f"The server had an error processing your request. Request id: {request_id}"
                )
                await _send_json(send_with_id, 500, error_body(message, "server_error"))


_WITH_BODY = ("POST", "PUT", "PATCH")
_CHECK_OFF_LOOP = 1 << 20
"""Bodies larger than this are checked on a worker thread, not the event loop."""


def _header(scope: Scope, name: bytes) -> bytes | None:
    return next((value for key, value in scope.get("headers", []) if key == name), None)


async def _checked_json(receive: Receive) -> Receive:
    """Reads the whole (capped) body, checks it, and hands it on as one message; a client
    that left before sending it all is passed on as it is."""
    chunks: list[bytes] = []
    message = await receive()
    while message["type"] == "http.request":
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            body = b"".join(chunks)
            if len(body) > _CHECK_OFF_LOOP:
                await anyio.to_thread.run_sync(check_json_body, body)
            else:
                check_json_body(body)
            message = {"type": "http.request", "body": body, "more_body": False}
            break
        message = await receive()
    first: Message | None = message

    async def replay() -> Message:
        nonlocal first
        if first is not None:
            sent, first = first, None
            return sent
        return await receive()

    return replay


def _too_large(cap: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"Request body is larger than the {cap} byte limit")


def _check_length(scope: Scope, cap: int) -> None:
    for name, value in scope.get("headers", []):
        if name == b"content-length" and value.isdigit() and int(value) > cap:
            raise _too_large(cap)


def _capped(receive: Receive, cap: int) -> Receive:
    """`receive` that fails once more than `cap` body bytes arrived (chunked uploads)."""
    seen = 0

    async def wrapped() -> Message:
        nonlocal seen
        message = await receive()
        seen += len(message.get("body", b""))
        if seen > cap:
            raise _too_large(cap)
        return message

    return wrapped


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
