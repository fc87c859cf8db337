"""A job's reward from an `endpoint` grader: the Rewarder grades a step's batch through a real
grader endpoint on loopback, and a whole job trains on those rewards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openrft.graders import Sample, validate_grader
from openrft.graders import endpoint_client as client_module
from openrft.train.rewards import Rewarder
from openrft.train.runner import run_job
from tests.support.endpoint_grader import Reply, ScriptedEndpoint, endpoint_server
from tests.train.helpers import ListSink, demo_spec

SECRET = "key-for-the-reward-service"


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[ScriptedEndpoint, str]]:
    with endpoint_server() as served:
        yield served


@pytest.fixture
def endpoint(live: tuple[ScriptedEndpoint, str], monkeypatch: pytest.MonkeyPatch) -> Any:
    server, url = live
    server.reset()
    monkeypatch.setattr(client_module, "BACKOFF_BASE", 0.01)
    monkeypatch.delenv("OPENRFT_OUTBOUND_HOSTS", raising=False)
    return validate_grader(
        {"type": "endpoint", "name": "service", "url": f"{url}/grade",
         "headers": {"X-Functions-Key": SECRET}, "rate_limit": 1000},
        for_training=True,
    )  # fmt: skip


def test_the_rewarder_grades_a_batch_through_the_endpoint(
    live: tuple[ScriptedEndpoint, str], endpoint: Any
) -> None:
    server, _ = live
    server.reset(Reply(status=404, raw='{"error": "unknown item"}'))
    rewarder = Rewarder(endpoint, concurrency=4)
    try:
        samples = [Sample(str(i % 2), trace_id=f"trace_{i:032x}") for i in range(6)]
        results = rewarder(samples, [{"answer": "1"}] * 6)
    finally:
        rewarder.close()
    assert server.hits() == 6
    assert sum(1 for r in results if not r.ok) == 1  # the 404: final, errored, not retried
    failed = next(r for r in results if not r.ok)
    assert failed.errors and failed.errors["unresponsive_reward_error"] is True
    # Whichever request arrived first got the 404; every other sample has its own score.
    expected = [float(sample.output_text == "1") for sample in samples]
    assert [r.reward for r in results if r.ok] == [
        e for r, e in zip(results, expected, strict=True) if r.ok
    ]
    assert {call.headers["x-functions-key"] for call in server.calls} == {SECRET}
    assert {call.body["trace_id"] for call in server.calls} == {f"trace_{i:032x}" for i in range(6)}


def test_a_job_trains_on_the_endpoints_rewards(
    live: tuple[ScriptedEndpoint, str], endpoint: Any, home: Path, tmp_path: Path
) -> None:
    server, _ = live
    server.reset(default=Reply(score=0.25))
    spec = demo_spec(2, batch=2, valid=4)
    spec.method.reinforcement.grader = endpoint
    sink = ListSink()
    outcome = run_job(spec, workdir=tmp_path, home=home, events=sink)
    assert outcome.status == "succeeded", outcome.error
    metrics = sink.metrics()
    assert [m["data"]["scores"]["train_reward_mean"] for m in metrics] == [0.25, 0.25]
    errors = metrics[-1]["data"]["errors"]["graders"][0]
    assert errors["train_unresponsive_reward_error_count"] == 0
    assert metrics[-1]["data"]["scores"]["graders"][0]["type"] == "endpoint"
    assert server.hits() >= 2 * 2 * 8  # every sample of both steps, and the validations
    assert all(call.body["item"]["reference"] for call in server.calls)
    assert SECRET not in repr(sink.events)
