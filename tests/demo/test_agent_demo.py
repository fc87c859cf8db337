"""`openrft demo --agent` end to end at a small size: a real server and trainer, the demo's own
loopback tool and endpoint grader, the official SDK creating the job and running the tool loop."""

from __future__ import annotations

import random
import shutil
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from openrft.demo.agent import MODEL, AgentSettings, run_agent_demo, split, tool_loop
from openrft.demo.agent_servers import agent_services
from openrft.demo.server import local_server
from openrft.models import lookup_task
from openrft.models.tiny import ensure_tiny_agent


@pytest.fixture(scope="module")
def warm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The warm-started base model, built once for this module."""
    return ensure_tiny_agent(tmp_path_factory.mktemp("agent-home"))


def _home_with(warm: Path, home: Path) -> Path:
    shutil.copytree(warm, home / "models" / warm.name)
    return home


def test_the_splits_share_no_item_and_rows_carry_tools_and_answers() -> None:
    train, valid = split(60, 20, seed=3)
    assert len(train) == 60 and len(valid) == 20
    assert not {row["key"] for row in train} & {row["key"] for row in valid}
    row = valid[0]
    assert row["tools"] == [lookup_task.TOOL]
    assert row["reference_answer"] == lookup_task.code(row["key"])


def test_noisy_demonstrations_call_answer_and_guess() -> None:
    rng = random.Random(0)
    episodes = [lookup_task.demonstration(rng, 0.6, 0.5) for _ in range(400)]
    calls = [e for e in episodes if len(e) == 4]
    assert 0.5 < len(calls) / 400 < 0.7
    right = [e for e in calls if e[-1]["content"] == e[-2]["content"]]
    assert 0.4 < len(right) / len(calls) < 0.6
    assert all(e[1]["tool_calls"][0]["function"]["name"] == "lookup" for e in calls)


@pytest.mark.slow
def test_the_sdk_runs_the_served_models_tool_calls_against_the_tool(warm: Path) -> None:
    rows = split(0, 6, seed=5)[1]
    with (
        agent_services("s3cret") as services,
        local_server(warm.parent.parent, base_models=(f"{MODEL}={warm}",)) as base_url,
        OpenAI(base_url=base_url, api_key="demo") as client,
    ):
        loops = [tool_loop(client, MODEL, row, services) for row in rows]
    called = [loop for loop in loops if loop["calls"]]
    assert called, loops
    assert services.ledger.calls == sum(len(loop["calls"]) for loop in loops)
    assert all(loop["calls"][0] == "lookup({})" for loop in called)
    # After the tool's answer the model answers (a digit code) instead of calling again.
    assert all(loop["answer"] is not None for loop in called), called


@pytest.mark.slow
def test_the_agent_demo_trains_and_the_sdk_runs_the_tuned_models_tool_calls(
    tmp_path: Path, warm: Path
) -> None:
    said: list[tuple[str, Any]] = []
    home = _home_with(warm, tmp_path / "home")
    settings = AgentSettings(home=home, train_rows=160, valid_rows=32, chat_rows=6)
    result = run_agent_demo(settings, lambda kind, payload: said.append((kind, payload)))
    assert result.job["status"] == "succeeded"
    assert result.job["fine_tuned_model"].startswith("ft:openrft-tiny-agent:")
    # The job's tools keep their headers secret.
    tools = result.job["method"]["reinforcement"]["tools"]
    assert [tool["name"] for tool in tools] == ["lookup"]
    assert [tool["headers"] for tool in tools] == [{"X-Demo-Key": "***"}]
    assert result.job["method"]["reinforcement"]["grader"]["headers"] == {"X-Demo-Key": "***"}
    assert result.valid_before is not None and result.valid_after is not None
    assert result.valid_after > result.valid_before, (result.valid_before, result.valid_after)
    # The fine-tuned model calls the tool through the chat endpoint; the SDK's loop runs it.
    tuned = result.loops["fine-tuned"]
    assert all(loop["calls"] == ["lookup({})"] for loop in tuned), tuned
    assert result.right("fine-tuned") >= 1
    assert result.tool_calls >= len(tuned)
    assert any(kind == "metrics" for kind, _ in said)
