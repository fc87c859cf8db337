"""An agentic job end to end: the official SDK creates it on a real server, its episodes call
a real tool server on 127.0.0.1, and the trainer (openrft-tiny, made to call the tool on cue:
`tests.train.agent_runner`) runs it to `succeeded`, killed once mid-step while a tool call is
in flight and resumed from its checkpoint with no step reported twice. The metrics events
carry the tool metrics; the header value reached the tool server and nothing else."""

from __future__ import annotations

import io
import json
import os
import signal
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from openrft.server import Settings
from tests.agent.tool_server import ToolServer, running, wait_for
from tests.server.conftest import Live, live_server

SECRET = "tool-key-5b3e"
GRADER = {"type": "text_similarity", "name": "close", "input": "{{ sample.output_text }}",
          "reference": "{{ item.answer }}", "evaluation_metric": "fuzzy_match"}  # fmt: skip
OFFER = [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
HOLD_FROM = 9
"""The first call of step 2: the baseline's 2 episodes, step 1's 4 and its validation's 2
each made one call (the step cap of 2 turns never runs a second)."""


class HoldingToolServer(ToolServer):
    """The agent tests' tool server, holding every call from the `HOLD_FROM`th on until
    `release` is set (bounded: see `HOLD_BOUND_S`)."""

    def enter(self, record: dict[str, Any]) -> None:
        super().enter(record)
        if len(self.requests) >= HOLD_FROM:
            self.release.wait(60)


@pytest.fixture
def real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Live]:
    monkeypatch.setenv("OPENRFT_JOB_RUNNER", "tests.train.agent_runner")
    with live_server(Settings(home=tmp_path / "home"), backend=None) as server:
        yield server


@pytest.fixture
def tools(monkeypatch: pytest.MonkeyPatch) -> Iterator[ToolServer]:
    monkeypatch.setattr("tests.agent.tool_server.ToolServer", HoldingToolServer)
    with running() as server:
        yield server


def jsonl(count: int) -> io.BytesIO:
    row = {"messages": [{"role": "user", "content": "key a?"}], "tools": OFFER, "answer": "alpha"}
    return io.BytesIO(b"".join(json.dumps(row).encode() + b"\n" for _ in range(count)))


def metrics(sdk: OpenAI, job_id: str) -> list[Any]:
    events = sdk.fine_tuning.jobs.list_events(job_id, limit=100)
    return [event for event in events if event.type == "metrics"]


def test_an_agentic_job_trains_on_episodes_and_resumes_after_a_kill(
    real: Live, tools: ToolServer
) -> None:
    assert isinstance(tools, HoldingToolServer)
    tool = {"name": "lookup", "server_url": f"{tools.url}/lookup", "headers": {"X-Key": SECRET}}
    hyper = {"n_epochs": 1, "batch_size": 2, "compute_multiplier": 0.25, "eval_interval": 1}
    method = {"type": "reinforcement", "reinforcement": {"grader": GRADER, "tools": [tool],
              "max_episode_steps": 2, "hyperparameters": hyper}}  # fmt: skip
    with OpenAI(base_url=real.base_url, api_key="unused", max_retries=0) as sdk:
        train = sdk.files.create(file=("t.jsonl", jsonl(6)), purpose="fine-tune")
        valid = sdk.files.create(file=("v.jsonl", jsonl(2)), purpose="fine-tune")
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=train.id, validation_file=valid.id,
            method=method,  # type: ignore[arg-type]
            extra_body={"settings": {"max_completion_tokens": 72, "tool_concurrency": 2}},
        )  # fmt: skip
        workdir = real.home / "jobs" / job.id
        # Step 2's first call is held: the child is mid-step, waiting on the tool server.
        assert wait_for(lambda: tools.active > 0 and len(tools.requests) >= HOLD_FROM, 240)
        os.kill(int((workdir / "child.pid").read_text()), signal.SIGKILL)
        tools.release.set()
        deadline = time.monotonic() + 300
        while (done := sdk.fine_tuning.jobs.retrieve(job.id)).status not in ("succeeded", "failed"):
            assert time.monotonic() < deadline, f"job still {done.status}"
            time.sleep(0.5)
        assert done.status == "succeeded", done.error
        steps = metrics(sdk, job.id)
        assert [event.data["step"] for event in steps] == [3, 2, 1]  # each step once
        messages = [e.message for e in sdk.fine_tuning.jobs.list_events(job.id, limit=100)]
        assert "Resumed from step 1" in messages
        for event in steps:
            data = event.data["tools"]
            assert data["train_tool_calls_per_rollout_mean"] == 1.0
            assert data["train_tool_latency_mean"] > 0 and data["train_tool_latency_p95"] > 0
            assert data["train_tool_errors_count"] == data["train_dropped_rollouts_count"] == 0
            assert data["train_tool_call_tokens_mean"] > 0
            assert data["valid_tool_calls_per_rollout_mean"] == 1.0
        shown = done.model_dump_json() + json.dumps([e.data for e in steps]) + str(messages)
        assert SECRET not in shown
    # The key reached the tool server, with the row and the episode's trace id.
    first = tools.requests[0]
    assert first["headers"]["x-key"] == SECRET and first["body"]["item"]["answer"] == "alpha"
    assert first["body"]["trace_id"].startswith("trace_") and first["body"]["name"] == "lookup"
    with sqlite3.connect(real.home / "openrft.db") as db:
        assert SECRET not in "\n".join(db.iterdump())
    assert SECRET not in (workdir / "events.jsonl").read_text()
