"""The tool-call client against a real tool server on loopback: what each answer shows the
model, retries, drops, limits, the allow-list and the concurrency cap."""

from __future__ import annotations

import json
import threading
from concurrent.futures import wait
from typing import Any

import pytest

from openrft.agent import Toolbox, ToolResult, ToolServer, tool_servers
from openrft.agent import tools as tools_module
from tests.agent import tool_server
from tests.agent.tool_server import ToolServer as Server
from tests.agent.tool_server import running, wait_for

ROW = {"messages": [{"role": "user", "content": "find a"}], "reference": "alpha"}


def lookup(key: str = "a", name: str = "lookup", call_id: str = "call_1") -> dict[str, Any]:
    arguments = json.dumps({"key": key})
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def run(server: Server, path: str, call: dict[str, Any] | None = None, **kw: Any) -> ToolResult:
    with Toolbox([ToolServer("lookup", server.url + path, {"X-Functions-Key": "k3y"})]) as box:
        return box.call(call or lookup(), kw.get("item", ROW), "trace_abc")


def test_a_call_is_posted_as_a_responses_function_call(server: Server) -> None:
    result = run(server, "/lookup")
    assert (result.output, result.error, result.dropped, result.status) == (
        "alpha",
        False,
        False,
        200,
    )
    assert result.attempts == 1 and result.latency_s > 0
    (request,) = server.requests
    body = request["body"]
    assert set(body) == {"type", "id", "call_id", "name", "arguments", "item", "trace_id"}
    assert body["type"] == "function_call" and body["id"].startswith("fc_")
    assert (body["call_id"], body["name"], body["trace_id"]) == ("call_1", "lookup", "trace_abc")
    assert json.loads(body["arguments"]) == {"key": "a"} and body["item"] == ROW
    assert request["headers"]["x-functions-key"] == "k3y"


def test_a_4xx_payload_is_what_the_model_reads(server: Server) -> None:
    result = run(server, "/status/422")
    assert json.loads(result.output) == {"error": {"message": "nope"}}
    assert (result.error, result.dropped, result.status, result.attempts) == (True, False, 422, 1)
    assert server.count("/status/422") == 1  # a 4xx is an answer: never retried
    shown = run(server, "/status/404/output")
    assert (shown.output, shown.error) == ("partial", True)


def test_a_5xx_is_retried_three_times_then_drops_the_rollout(server: Server) -> None:
    result = run(server, "/status/503")
    assert result.dropped and result.error and result.attempts == 4
    assert server.count("/status/503") == 4


def test_a_timeout_is_retried_then_drops(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tools_module, "TIMEOUT_S", 0.2)
    result = run(server, "/sleep/3000")
    assert result.dropped and result.attempts == 4 and "no answer within 0.2 s" in result.output
    assert server.count("/sleep/3000") == 4


def test_a_server_that_is_not_there_drops_the_rollout() -> None:
    with running() as gone:
        url = gone.url
    with Toolbox([ToolServer("lookup", url + "/lookup")]) as box:
        result = box.call(lookup(), ROW, "trace_x")
    assert result.dropped and result.attempts == 4 and result.status is None


def test_a_response_over_1_mb_is_a_413_to_the_model(server: Server) -> None:
    result = run(server, "/big")
    assert (result.error, result.dropped) == (True, False)
    assert json.loads(result.output)["error"]["status"] == 413


def test_a_request_over_1_mb_is_not_sent(server: Server) -> None:
    big_row = {**ROW, "context": "x" * 1_000_001}
    result = run(server, "/lookup", item=big_row)
    assert (result.error, result.dropped, result.attempts) == (True, False, 0)
    assert json.loads(result.output)["error"]["status"] == 413
    assert server.requests == []


def test_odd_answers_are_errors_the_model_reads(server: Server) -> None:
    encoded = run(server, "/object")
    assert (encoded.output, encoded.error) == ('{"value": 1}', False)
    missing = run(server, "/nothing")
    assert missing.error and "no `output`" in missing.output
    moved = run(server, "/redirect")
    assert moved.error and "redirects are not followed" in moved.output
    assert server.count("/lookup") == 0  # the redirect was not followed


def test_an_unknown_function_is_an_error_message_and_sends_nothing(server: Server) -> None:
    result = run(server, "/lookup", lookup(name="search"))
    assert result.error and not result.dropped and result.status is None
    assert "'search'" in result.output and "lookup" in result.output
    assert server.requests == []


def test_the_allow_list_is_checked_before_each_call(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRFT_OUTBOUND_HOSTS", "tools.example.com")
    with Toolbox([ToolServer("lookup", "http://10.9.8.7/tool")]) as box:
        result = box.call(lookup(), ROW, "trace_x")
        assert result.dropped and "not an allowed host" in result.output
        monkeypatch.setenv("OPENRFT_OUTBOUND_HOSTS", "10.9.8.7:9")  # another port: still not
        assert box.call(lookup(), ROW, "trace_x").dropped


def test_calls_share_a_concurrency_cap(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tool_server, "HOLD_BOUND_S", 10.0)
    with Toolbox([ToolServer("lookup", server.url + "/hold")], max_concurrency=2) as box:
        pending = [box.submit(lookup(call_id=f"call_{i}"), ROW, "trace_x") for i in range(6)]
        assert wait_for(lambda: server.active == 2)
        server.release.set()
        wait(pending)
    assert [f.result().output for f in pending] == ["alpha"] * 6
    assert server.most_active == 2


def test_headers_are_never_shown() -> None:
    (tool,) = tool_servers(
        [
            {
                "name": "lookup",
                "server_url": "http://127.0.0.1:1/t",
                "headers": {"Authorization": "Bearer s3cret"},
            }
        ]
    )
    assert tool.headers == {"Authorization": "Bearer s3cret"}
    assert "s3cret" not in repr(tool) and "s3cret" not in str(tool)


def test_the_toolbox_can_be_used_from_many_threads(server: Server) -> None:
    with Toolbox([ToolServer("lookup", server.url + "/lookup")], max_concurrency=4) as box:
        results: list[ToolResult] = []
        threads = [
            threading.Thread(target=lambda k=k: results.append(box.call(lookup(k), ROW, "t")))
            for k in "abcd"
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
    assert sorted(r.output for r in results) == ["alpha", "bravo", "charlie", "delta"]
