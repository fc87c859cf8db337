"""Every error the server sends is OpenAI's body (decision H1), never FastAPI's `{"detail"}`.

    OpenRFTError            its own status and `to_body()`
    RequestValidationError  400, naming the first bad field as `param`
    HTTPException           its status, OpenAI's body; an unknown method on a known path is
                            404 "Invalid URL (METHOD /path)", as OpenAI answers it, not 405
    anything else           500, logged with the request id; the body says only the id

`RequestMiddleware` gives every response an `x-request-id`, enforces the body-size caps
(413) before a route reads the body, and is where the 500 is produced, so even a crash
answers JSON with the id.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openrft.errors import OpenRFTError, PayloadTooLargeError

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
    loc = [str(part) for part in first.get("loc", ()) if not _wrapper(part)]
    param = ".".join(loc) or None
    where = f" for '{param}'" if param else ""
    if first.get("type") == "extra_forbidden":
        message = f"Unrecognized request argument supplied: {param}"
    elif first.get("type") == "missing":
        message = f"Missing required parameter: '{param}'."
    else:
        message = f"Invalid value{where}: {first.get('msg', 'invalid')}"
    return JSONResponse(error_body(message, "invalid_request_error", param), status_code=400)


_UNION_TAG = re.compile(r"(constrained-)?(int|float|str|bool|none)|[\w-]+\[.*\]")


def _wrapper(part: Any) -> bool:
    """Where pydantic says the error was but the client never wrote: the body itself, or
    the branch of a union (`n_epochs.constrained-int` is `n_epochs` to the client)."""
    if part in ("body", "query", "path"):
        return True
    return isinstance(part, str) and _UNION_TAG.fullmatch(part) is not None


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
            await self.app(scope, _capped(receive, cap), send_with_id)
        except OpenRFTError as exc:
            if not started:
                await _send_json(send_with_id, exc.status, exc.to_body())
        except Exception:
            log.exception("unhandled error, request %s", request_id)
            if not started:
                message = (
                    f"The server had an error processing your request. Request id: {request_id}"
                )
                await _send_json(send_with_id, 500, error_body(message, "server_error"))


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
