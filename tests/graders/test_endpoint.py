"""`endpoint` graders against a real HTTP grader on loopback: the wire, retries, limits, the
allow-list, rate limits and secrets (the routes, jobs and evals are tested in their folders)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import pytest

from openrft.errors import GraderValidationError
from openrft.graders import GraderContext, Sample, grade_many, run_grader, validate_grader
from openrft.graders import endpoint_client as client_module
from openrft.outbound import ENV
from tests.support.endpoint_grader import Reply, ScriptedEndpoint, endpoint_server

SECRET = "Bearer s3cret-token-123"
ITEM = {"question": "2+2?", "answer": "4"}


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[ScriptedEndpoint, str]]:
    with endpoint_server() as served:
        yield served


@pytest.fixture
def endpoint(live: tuple[ScriptedEndpoint, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    server, url = live
    server.reset()
    monkeypatch.setattr(client_module, "BACKOFF_BASE", 0.01)
    monkeypatch.setattr(client_module, "BACKOFF_MAX", 0.02)
    monkeypatch.delenv(ENV, raising=False)
    server.url = url  # type: ignore[attr-defined]
    return server


def spec(server: Any, path: str = "/grade", **extra: Any) -> dict[str, Any]:
    grader = {"type": "endpoint", "name": "mine", "url": server.url + path}
    grader["headers"] = {"Authorization": SECRET, "X-Team": "evals"}
    return grader | extra


def errors_of(response: dict[str, Any]) -> dict[str, Any]:
    errors: dict[str, Any] = response["metadata"]["errors"]
    return errors


# --- the wire ---------------------------------------------------------------------------


def test_the_score_is_the_reward_and_the_request_has_azures_shape(endpoint: Any) -> None:
    endpoint.reset(Reply(score=7.5))
    response = run_grader(spec(endpoint), "4", ITEM)
    assert response["reward"] == 7.5
    assert not any(v for k, v in errors_of(response).items() if k.endswith("error"))
    assert response["metadata"]["type"] == "endpoint" and response["metadata"]["name"] == "mine"
    [call] = endpoint.calls
    assert set(call.body) == {"sample", "item", "trace_id"}
    assert call.body["item"] == ITEM
    sample = call.body["sample"]
    assert sample["output_text"] == "4" and sample["output_tools"] == []
    assert sample["choices"][0]["message"] == {"role": "assistant", "content": "4"}
    assert call.body["trace_id"].startswith("trace_") and len(call.body["trace_id"]) > 20
    assert call.headers["authorization"] == SECRET and call.headers["x-team"] == "evals"
    assert call.headers["content-type"] == "application/json"


def test_an_episodes_trace_id_and_tool_calls_reach_the_endpoint(endpoint: Any) -> None:
    tool_call = {"id": "call_1", "type": "function",
                 "function": {"name": "lookup", "arguments": "{\"q\": \"x\"}"}}  # fmt: skip
    sample = Sample("4", output_tools=[tool_call], trace_id="trace_abc123")
    grader = validate_grader(spec(endpoint))
    report = grade_many(grader, [(sample, ITEM), (Sample("5"), ITEM)])
    assert [r.reward for r in report.results.rows()] == [1.0, 0.0]
    bodies = {call.body["sample"]["output_text"]: call.body for call in endpoint.calls}
    assert bodies["4"]["trace_id"] == "trace_abc123"
    assert bodies["4"]["sample"]["output_tools"] == [tool_call]
    assert bodies["5"]["trace_id"] != "trace_abc123"  # a fresh id for a sample of no episode


def test_inside_a_multi_grader(endpoint: Any) -> None:
    endpoint.reset(Reply(score=0.5))
    exact = {"type": "string_check", "input": "{{sample.output_text}}",
             "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
    multi = {"type": "multi", "graders": {"remote": spec(endpoint), "exact": exact},
             "calculate_output": "remote + exact"}  # fmt: skip
    response = run_grader(multi, "4", ITEM)
    assert response["reward"] == 1.5 and response["sub_rewards"] == {"remote": 0.5, "exact": 1.0}
    endpoint.reset(*[Reply(status=500)] * 4)
    failed = run_grader(multi, "4", ITEM)
    assert failed["sub_rewards"]["remote"] == 0.0 and errors_of(failed)["unresponsive_reward_error"]


# --- failures: retried, final, never sent -------------------------------------------------


def test_a_5xx_is_retried_and_a_later_score_counts(endpoint: Any) -> None:
    endpoint.reset(Reply(status=503), Reply(status=502), Reply(score=0.25))
    response = run_grader(spec(endpoint), "4", ITEM)
    assert response["reward"] == 0.25 and not errors_of(response)["unresponsive_reward_error"]
    assert endpoint.hits() == 3
    assert len({call.body["trace_id"] for call in endpoint.calls}) == 1  # one grade, one id


def test_three_retries_then_an_errored_sample_whose_details_hold_no_secret(
    endpoint: Any, caplog: pytest.LogCaptureFixture
) -> None:
    echo = Reply(status=500, raw=json.dumps({"error": f"bad key {SECRET}"}))
    endpoint.reset(echo, echo, echo, echo, echo)
    with caplog.at_level(logging.DEBUG):
        response = run_grader(spec(endpoint), "4", ITEM)
    assert "gave no score" in caplog.text and "s3cret" not in caplog.text
    assert endpoint.hits() == 4  # the first attempt and 3 retries, no more
    errors = errors_of(response)
    assert response["reward"] == 0.0 and errors["unresponsive_reward_error"] is True
    details = errors["endpoint_grader_error_details"]
    assert "HTTP 500" in details and "after 4 attempts" in details and "/grade" in details
    assert SECRET not in json.dumps(response) and "s3cret" not in details


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_a_4xx_is_final(endpoint: Any, status: int) -> None:
    endpoint.reset(Reply(status=status, raw='{"error": "no such item"}'))
    response = run_grader(spec(endpoint), "4", ITEM)
    assert endpoint.hits() == 1
    details = errors_of(response)["endpoint_grader_error_details"]
    assert f"HTTP {status}" in details and "no such item" in details


def test_429_is_retried_after_the_wait_it_asks_for(endpoint: Any) -> None:
    endpoint.reset(Reply(status=429, headers={"retry-after-ms": "50"}), Reply(score=1.0))
    assert run_grader(spec(endpoint), "4", ITEM)["reward"] == 1.0
    first, second = endpoint.calls
    assert second.at - first.at >= 0.04


@pytest.mark.parametrize(
    "raw",
    ["not json", "[1, 2]", '{"score": "high"}', '{"score": true}', '{"points": 3}', "{",
     '{"score": NaN}', '{"score": 1e400}', '{"score": 1' + "0" * 400 + "}"],
)  # fmt: skip
def test_an_answer_that_is_not_a_score_is_retried_then_errored(endpoint: Any, raw: str) -> None:
    endpoint.reset(*[Reply(raw=raw)] * 4)
    response = run_grader(spec(endpoint), "4", ITEM)
    assert endpoint.hits() == 4
    assert 'not {"score": <number>}' in errors_of(response)["endpoint_grader_error_details"]


def test_a_timeout_is_retried_then_errored(endpoint: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "TIMEOUT", 0.2)
    endpoint.reset(*[Reply(delay=1.0)] * 4)
    response = run_grader(spec(endpoint), "4", ITEM)
    assert endpoint.hits() == 4
    details = errors_of(response)["endpoint_grader_error_details"]
    assert "did not answer within 0.2 s" in details


def test_a_slow_answer_within_the_timeout_counts(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "TIMEOUT", 30.0)
    endpoint.reset(Reply(score=0.75, delay=0.3))
    assert run_grader(spec(endpoint), "4", ITEM)["reward"] == 0.75


def test_an_oversize_request_is_not_sent(endpoint: Any) -> None:
    item = {"answer": "4", "context": "x" * client_module.MAX_PAYLOAD}
    response = run_grader(spec(endpoint), "4", item)
    assert endpoint.hits() == 0
    details = errors_of(response)["endpoint_grader_error_details"]
    assert "the limit is 1048576" in details and "not sent" in details


def test_an_answer_over_the_cap_is_a_bad_answer(
    endpoint: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(client_module, "MAX_ANSWER", 64)
    endpoint.reset(*[Reply(raw=json.dumps({"score": 1, "pad": "y" * 200}))] * 4)
    details = errors_of(run_grader(spec(endpoint), "4", ITEM))["endpoint_grader_error_details"]
    assert "more than 64 bytes" in details


def test_a_redirect_is_never_followed(endpoint: Any) -> None:
    response = run_grader(spec(endpoint, "/moved"), "4", ITEM)
    assert endpoint.hits("/moved") == 1 and endpoint.hits("/grade") == 0
    details = errors_of(response)["endpoint_grader_error_details"]
    assert "HTTP 307" in details and "redirects are not followed" in details


def test_an_unreachable_endpoint_is_retried_then_errored(endpoint: Any) -> None:
    from openrft.demo.server import free_port

    grader = {"type": "endpoint", "url": f"http://127.0.0.1:{free_port()}/grade"}
    details = errors_of(run_grader(grader, "4", ITEM))["endpoint_grader_error_details"]
    assert "could not reach" in details and "after 4 attempts" in details


def test_the_allow_list_is_checked_again_before_each_request(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(ENV, "grader.example.com")
    grader = validate_grader({"type": "endpoint", "url": "https://grader.example.com/grade"})
    monkeypatch.delenv(ENV)  # the operator narrowed the list since
    context = GraderContext()
    response = run_grader(grader, "4", ITEM, context=context)
    details = errors_of(response)["endpoint_grader_error_details"]
    assert "not sent" in details and "not an allowed host" in details
    assert context.endpoint is not None and context.endpoint.requests == 0


# --- rate limit --------------------------------------------------------------------------


def arrived_no_earlier_than_spacing_allows(times: list[float], start: float, rate: float) -> bool:
    """The k-th arrival (0-based, in order) is no earlier than `start + k / rate`.

    Guaranteed by spacing whatever the machine's speed (an arrival is never before its send,
    and of the first k + 1 arrivals one was sent k-th or later); without spacing all of them
    arrive at once. The server is in this process: one monotonic clock."""
    return all(at >= start + k / rate - 1e-3 for k, at in enumerate(sorted(times)))


def test_rate_limit_spaces_concurrent_requests(endpoint: Any) -> None:
    rate, count = 10.0, 8  # a request every 0.1 s at most
    grader = validate_grader(spec(endpoint, rate_limit=rate))
    rows = [(Sample("4"), ITEM) for _ in range(count)]
    start = time.monotonic()
    report = grade_many(grader, rows, concurrency=count)
    assert [r.reward for r in report.results.rows()] == [1.0] * count
    times = [call.at for call in endpoint.calls]
    assert len(times) == count and arrived_no_earlier_than_spacing_allows(times, start, rate)


def test_rate_limit_is_shared_by_every_caller_of_one_context(endpoint: Any) -> None:
    grader = validate_grader(spec(endpoint, rate_limit=20))
    context = GraderContext()

    async def both() -> None:
        from openrft.graders import agrade_many

        rows = [(Sample("4"), ITEM)] * 3
        await asyncio.gather(
            agrade_many(grader, rows, context=context, concurrency=3),
            agrade_many(grader, rows, context=context, concurrency=3),
        )
        await context.aclose()

    start = time.monotonic()
    asyncio.run(both())
    times = [call.at for call in endpoint.calls]
    assert len(times) == 6 and arrived_no_earlier_than_spacing_allows(times, start, 20)


# --- validation --------------------------------------------------------------------------


def test_validation_echoes_the_typed_grader() -> None:
    grader = validate_grader({"type": "endpoint", "url": "http://localhost:9/grade",
                              "rate_limit": 50, "pass_threshold": 8})  # fmt: skip
    assert grader.type == "endpoint" and grader.rate_limit == 50 and grader.headers is None
    dumped = grader.model_dump(mode="json", exclude_none=True)
    assert dumped == {"type": "endpoint", "url": "http://localhost:9/grade",
                      "rate_limit": 50.0, "pass_threshold": 8.0}  # fmt: skip


@pytest.mark.parametrize(
    ("grader", "param", "words"),
    [
        ({"url": "http://169.254.169.254/latest"}, "grader.url", "not an allowed host"),
        ({"url": "ftp://localhost/x"}, "grader.url", "http:// or https://"),
        ({"url": "http://user:pw@localhost/x"}, "grader.url", "credentials"),
        ({}, "grader.url", "Missing required field"),
        ({"url": "http://localhost/", "rate_limit": 0}, "grader.rate_limit", "greater than 0"),
        ({"url": "http://localhost/", "rate_limit": -5}, "grader.rate_limit", "greater than 0"),
        ({"url": "http://localhost/", "rate_limit": "fast"}, "grader.rate_limit", "number"),
        ({"url": "http://localhost/", "headers": ["a"]}, "grader.headers", "dictionary"),
        ({"url": "http://localhost/", "headers": {"A": 5}}, "grader.headers.A", "string"),
        ({"url": "http://localhost/", "headers": {"Bad Name": "x"}}, "grader.headers",
         "not a valid HTTP header name"),
        ({"url": "http://localhost/", "headers": {"Host": "x"}}, "grader.headers", "set by openrft"),
        ({"url": "http://localhost/", "headers": {"Authorization": "a\r\nX-Evil: 1"}},
         "grader.headers", "line break"),
        ({"url": "http://localhost/", "headers": {"Authorization": "clé-X-Evil"}},
         "grader.headers", "not printable ASCII"),
        ({"url": "http://localhost/", "header": {}}, "grader.header", "did you mean 'headers'"),
        ({"url": "http://localhost/", "headers": {"Authorization": "***"}},
         "grader.headers.Authorization", "never echoed back"),
    ],
)  # fmt: skip
def test_a_bad_endpoint_grader_is_a_400_naming_its_field(
    grader: dict[str, Any], param: str, words: str
) -> None:
    with pytest.raises(GraderValidationError) as caught:
        validate_grader({"type": "endpoint", **grader})
    assert caught.value.param == param and words in caught.value.message
    assert "X-Evil" not in caught.value.message  # a header value is never quoted back


def test_a_disallowed_url_is_url_not_allowed_inside_a_multi_too() -> None:
    bad = {"type": "endpoint", "url": "https://grader.example.com/grade"}
    multi = {"type": "multi", "graders": {"remote": bad}, "calculate_output": "remote"}
    with pytest.raises(GraderValidationError) as caught:
        validate_grader(multi, for_training=True, param="method.reinforcement.grader")
    assert caught.value.code == "url_not_allowed"
    assert caught.value.param == "method.reinforcement.grader.graders.remote.url"


def test_the_operators_hosts_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "*.example.com")
    grader = validate_grader({"type": "endpoint", "url": "https://grader.example.com/grade"})
    assert grader.url == "https://grader.example.com/grade"


def test_pass_threshold_decides_pass_fail() -> None:
    from openrft.graders import GradeResult, passed

    grader = validate_grader({"type": "endpoint", "url": "http://localhost/", "pass_threshold": 8})
    assert passed(grader, GradeResult(8.0)) and not passed(grader, GradeResult(7.9))
    bare = validate_grader({"type": "endpoint", "url": "http://localhost/"})
    assert passed(bare, GradeResult(1.0)) and not passed(bare, GradeResult(0.9))
