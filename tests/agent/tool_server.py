"""A real tool server on 127.0.0.1 for the agent tests: threaded `http.server`, one behaviour
per path, and a record of what it was sent.

    POST /lookup        {"output": TABLE[arguments.key]} (404 with an error body if unknown)
    POST /sleep/MS      the lookup, after MS milliseconds
    POST /hold          the lookup, once the test sets `release` (bounded wait)
    POST /status/CODE   HTTP CODE with `{"error": {"message": "nope"}}`
    POST /status/CODE/output   HTTP CODE with `{"output": "partial"}`
    POST /big           a 200 whose body is over 1 MB
    POST /object        `{"output": {"value": 1}}` (not a string)
    POST /nothing       a 200 without `output`
    POST /redirect      a 302 to /lookup
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TABLE = {"a": "alpha", "b": "bravo", "c": "charlie", "d": "delta"}
HOLD_BOUND_S = 60.0
"""A held request answers anyway after this long, so a broken test fails instead of hanging."""


class ToolServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.requests: list[dict[str, Any]] = []
        """Per request: path, headers (lower-cased names) and JSON body, in arrival order."""
        self.active = 0
        self.most_active = 0
        """The most requests in progress at once."""
        self.release = threading.Event()
        self.stopping = threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def count(self, path: str) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r["path"] == path)

    def enter(self, record: dict[str, Any]) -> None:
        with self.lock:
            self.requests.append(record)
            self.active += 1
            self.most_active = max(self.most_active, self.active)

    def leave(self) -> None:
        with self.lock:
            self.active -= 1

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (a timeout test) closes its end: not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    server: ToolServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        headers = {k.lower(): v for k, v in self.headers.items()}
        self.server.enter({"path": self.path, "headers": headers, "body": body})
        try:
            self._answer(body)
        finally:
            self.server.leave()

    def _answer(self, body: dict[str, Any]) -> None:
        parts = self.path.strip("/").split("/")
        if parts[0] == "sleep":
            self.server.stopping.wait(int(parts[1]) / 1000)
        if parts[0] == "hold":
            self.server.release.wait(HOLD_BOUND_S)
        if parts[0] == "status":
            shown = (
                {"output": "partial"} if parts[-1] == "output" else {"error": {"message": "nope"}}
            )
            return self._send(int(parts[1]), shown)
        if parts[0] == "big":
            return self._send(200, {"output": "x" * 1_100_000})
        if parts[0] == "object":
            return self._send(200, {"output": {"value": 1}})
        if parts[0] == "nothing":
            return self._send(200, {"type": "function_call_output"})
        if parts[0] == "redirect":
            self.send_response(302)
            self.send_header("location", "/lookup")
            self.send_header("content-length", "0")
            self.end_headers()
            return None
        key = json.loads(body["arguments"]).get("key")
        if key not in TABLE:
            return self._send(404, {"error": {"message": f"no key {key!r}"}})
        answer = {"type": "function_call_output", "call_id": body["call_id"], "output": TABLE[key]}
        return self._send(200, answer)

    def _send(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@contextmanager
def running() -> Iterator[ToolServer]:
    server = ToolServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.release.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def wait_for(condition: Any, bound: float = 30.0) -> bool:
    """Poll `condition()` until true or `bound` seconds pass (a bound, never an assertion)."""
    deadline = time.monotonic() + bound
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True
