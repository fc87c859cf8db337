"""`openrft demo --agent` end to end at a small size: a real server and trainer, the demo's own
loopback tool and endpoint grader, the official SDK creating the job and running the tool loop."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from openrft.demo.agent import AgentSettings, run_agent_demo, split
from openrft.models import lookup_task


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
def test_the_agent_demo_trains_and_the_sdk_runs_the_tuned_models_tool_calls(
    tmp_path: Path,
) -> None:
    said: list[tuple[str, Any]] = []
    settings = AgentSettings(home=tmp_path / "home", train_rows=64, valid_rows=24,
                             eval_interval=4, chat_rows=6)  # fmt: skip
    result = run_agent_demo(settings, lambda kind, payload: said.append((kind, payload)))
    assert result.job["status"] == "succeeded"
    assert result.job["fine_tuned_model"].startswith("ft:openrft-tiny-agent:")
    # The job's tools keep their headers secret.
    tools = result.job["method"]["reinforcement"]["tools"]
    assert [tool["name"] for tool in tools] == ["lookup"]
    assert "s3" not in str(result.job) and all("***" in str(t["headers"]) for t in tools)
    assert result.valid_before is not None and result.valid_after is not None
    assert result.valid_after > result.valid_before, (result.valid_before, result.valid_after)
    # The fine-tuned model calls the tool through the chat endpoint; the SDK's loop runs it.
    tuned = result.loops["fine-tuned"]
    assert all(loop["calls"] == ["lookup({})"] for loop in tuned), tuned
    assert result.right("fine-tuned") >= 1
    assert result.tool_calls >= len(tuned)
    assert any(kind == "metrics" for kind, _ in said)
