"""The trainer on episodes, in process: openrft-tiny made to call a real tool server on
127.0.0.1 (`tests.train.agent_runner.CallsFirst`), some of whose calls fail for good.

An episode whose tool answers 5xx through its retries is dropped: the step goes on, the
metrics count it (and not as a grader error), the reward means leave it out; when every
episode drops, the job fails with `tool_error_rate` and the tool's answer (J7)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from openrft.agent import tools as agent_tools
from openrft.train.runner import run_job
from openrft.train.spec import JobSpec
from tests.train.agent_runner import CallsFirst
from tests.train.helpers import ListSink

OFFER = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
GRADER = {"type": "text_similarity", "name": "close", "input": "{{ sample.output_text }}",
          "reference": "{{ item.answer }}", "evaluation_metric": "fuzzy_match"}  # fmt: skip


class _Tools(BaseHTTPRequestHandler):
    """`{"output": "alpha"}`, or a 503 for a row marked `"fail": true`."""

    calls: ClassVar[list[bool]] = []
    """Per request, whether it was answered with a 503."""

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["content-length"])))
        failing = bool(body["item"].get("fail"))
        type(self).calls.append(failing)
        data = json.dumps({"error": "busy"} if failing else {"output": "alpha"}).encode()
        self.send_response(503 if failing else 200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture
def tool_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(agent_tools, "BACKOFF_S", 0.01)
    _Tools.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Tools)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/lookup"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def rows(count: int, failing: int) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "user", "content": f"key a? {i}"}], "tools": OFFER,
             "answer": "alpha", **({"fail": True} if i < failing else {})}
            for i in range(count)]  # fmt: skip


def spec(url: str, train: list[Any], valid: list[Any]) -> JobSpec:
    hyper = {"batch_size": 4, "n_epochs": 1, "compute_multiplier": 0.25, "eval_interval": 1}
    method = {"type": "reinforcement", "reinforcement": {"grader": GRADER, "hyperparameters": hyper,
              "tools": [{"name": "lookup", "server_url": url}], "max_episode_steps": 2}}  # fmt: skip
    return JobSpec(id="ftjob-agent", model="openrft-tiny", training_rows=train,
                   validation_rows=valid, method=method,  # type: ignore[arg-type]
                   settings={"max_completion_tokens": 72})  # type: ignore[arg-type]  # fmt: skip


def test_dropped_episodes_are_counted_and_left_out(
    home: Path, tmp_path: Path, tool_url: str
) -> None:
    sink = ListSink()
    job = spec(tool_url, rows(4, failing=1), rows(2, failing=1))
    outcome = run_job(job, workdir=tmp_path / "job", home=home, events=sink, completer=CallsFirst)
    assert outcome.status == "succeeded", outcome.error
    (event,) = sink.metrics()  # one step of 4 prompts × 2 episodes
    data = event["data"]
    tools = data["tools"]
    assert tools["train_dropped_rollouts_count"] == 2  # the failing row's two episodes
    assert tools["valid_dropped_rollouts_count"] == 1
    assert tools["train_tool_calls_per_rollout_mean"] == 1.0
    assert tools["train_tool_errors_count"] == 2  # a call that dropped its episode is an error
    assert data["errored_samples"] == 0  # never graded: not a grader error
    # Each failing call was tried 1 + 3 times: 2 train + 1 validation + 1 baseline episode.
    assert _Tools.calls.count(True) == 4 * 4


def test_a_step_whose_episodes_all_drop_fails_the_job(
    home: Path, tmp_path: Path, tool_url: str
) -> None:
    job = spec(tool_url, rows(4, failing=4), rows(2, failing=2))
    outcome = run_job(job, workdir=tmp_path / "job", home=home, events=ListSink(),
                      completer=CallsFirst)  # fmt: skip
    assert outcome.status == "failed" and outcome.error is not None
    assert outcome.error["code"] == "tool_error_rate"
    assert "2 of 2 episodes were dropped in a validation" in outcome.error["message"]  # baseline
    assert "'lookup'" in outcome.error["message"] and "HTTP 503" in outcome.error["message"]
