"""The two loopback services the agent demo starts itself: the `lookup` tool and an endpoint
grader, in the JSON of Azure's agentic RFT (docs/agents.md).

Tool, `POST /tools/lookup`: a Responses `function_call` (`type`, `id`, `call_id`, `name`,
`arguments` as a JSON string, `item`, `trace_id`) in, a `function_call_output` (`type`,
`call_id`, `output`, `id`) out; `output` is the code of the row's item (`item.key`), or a
sentence saying the key is unknown. A body that is not such a call is a 400 without `output`
(what the model is then shown is the error payload).
Grader, `POST /grade`: `{"sample", "item", "trace_id"}` in, `{"score"}` out: 1 for the item's
code as the final answer, `CALL_CREDIT` for an episode whose trace id called the tool about
the item, else 0.

Guarantees: both listen on 127.0.0.1 on a free port, answer only with the secret header the
demo gives them (401 otherwise), refuse bodies over 1 MB (413), and stop when the context
ends. Not guaranteed: persistence (the trace ids seen live in memory) or any rate limit.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from openrft.models import lookup_task

CALL_CREDIT = 0.2
"""The grader's partial credit for calling the tool and answering wrong."""
MAX_BODY = 1 << 20
HEADER = "X-Demo-Key"


@dataclass
class Ledger:
    """What the tool has answered, by trace id: the keys each episode asked for."""

    keys: dict[str, set[str]] = field(default_factory=dict)
    calls: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, trace_id: str, key: str) -> None:
        with self.lock:
            self.keys.setdefault(trace_id, set()).add(key)
            self.calls += 1

    def asked(self, trace_id: Any, key: Any) -> bool:
        with self.lock:
            return isinstance(trace_id, str) and key in self.keys.get(trace_id, set())


def lookup_key(body: Any) -> str | None:
    """The key of the item a `lookup` function_call body is about (its `item`, the dataset
    row), or None for a body that is not such a call."""
    if not isinstance(body, dict) or body.get("type") != "function_call":
        return None
    item = body.get("item")
    key = item.get("key") if isinstance(item, dict) else None
    return key if isinstance(key, str) and isinstance(body.get("call_id"), str) else None


def tool_output(body: dict[str, Any], key: str) -> dict[str, Any]:
    """The `function_call_output` answering a `lookup` call about item `key`."""
    output = lookup_task.code(key) if lookup_task.known(key) else f"no item has the key {key!r}"
    return {"type": "function_call_output", "call_id": body["call_id"], "output": output,
            "id": body.get("id") or body["call_id"]}  # fmt: skip


def score(body: Any, ledger: Ledger) -> float:
    """The endpoint grader's score for `{"sample", "item", "trace_id"}`."""
    sample, item = body.get("sample") or {}, body.get("item") or {}
    text = sample.get("output_text") if isinstance(sample, dict) else None
    if isinstance(text, str) and text.strip() == item.get("reference_answer"):
        return 1.0
    return CALL_CREDIT if ledger.asked(body.get("trace_id"), item.get("key")) else 0.0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        if self.headers.get(HEADER) != self.server.secret:
            return self._send(401, {"error": {"message": f"missing or wrong {HEADER} header"}})
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return self._send(413, {"error": {"message": "the body is over 1 MB"}})
        try:
            body = json.loads(self.rfile.read(length) or b"null")
        except ValueError:
            body = None
        self._route(body)

    def _route(self, body: Any) -> None:
        if self.path == "/tools/lookup":
            key = lookup_key(body)
            if key is None:
                return self._send(400, {"error": {"message": "expected a lookup function_call"}})
            if lookup_task.known(key):
                self.server.ledger.record(str(body.get("trace_id")), key)
            return self._send(200, tool_output(body, key))
        if self.path == "/grade" and isinstance(body, dict):
            return self._send(200, {"score": score(body, self.server.ledger)})
        self._send(404, {"error": {"message": f"no route POST {self.path} for this body"}})

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the demo prints its own progress."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, secret: str, ledger: Ledger):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.secret, self.ledger = secret, ledger


@dataclass
class AgentServices:
    base: str
    """`http://127.0.0.1:PORT`."""
    headers: dict[str, str]
    ledger: Ledger

    @property
    def tool_url(self) -> str:
        return f"{self.base}/tools/lookup"

    @property
    def grader_url(self) -> str:
        return f"{self.base}/grade"


@contextmanager
def agent_services(secret: str) -> Iterator[AgentServices]:
    """The tool and the grader on one loopback port (`/tools/lookup`, `/grade`), both asking
    for header `X-Demo-Key: secret`; stopped when the context ends."""
    ledger = Ledger()
    server = _Server(secret, ledger)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        yield AgentServices(f"http://127.0.0.1:{port}", {HEADER: secret}, ledger)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
