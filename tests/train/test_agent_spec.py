"""An agentic job's contract, its metrics and its dropped-episode rule, without a model:
the stored method redacts header values and the secrets put them back; the metrics event's
`tools` section is defined in the measures registry; a dropped episode is never graded, sits
out of the advantage, and too many of them fail the job (`tool_error_rate`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from openrft.errors import InvalidRequestError
from openrft.evals import measures
from openrft.graders import GradeResult, Sample, validate_grader
from openrft.jobs.secrets import with_secrets, write_secrets
from openrft.models.sampling import Rollouts
from openrft.store.db import Database
from openrft.store.jobs import JobTable
from openrft.train.grpo import group_advantages
from openrft.train.metrics import SplitStats, ToolStats, metrics_data
from openrft.train.rewards import GraderErrorRate, ToolErrorRate, check_drop_rate, check_error_rate
from openrft.train.spec import JobSpec, Method, TrainSettings
from openrft.train.step import Drawn
from tests.evals.test_measures import _number_keys
from tests.train.helpers import demo_grader

SECRET = "unit-secret-31"
TOOLS = [{"name": "lookup", "server_url": "http://127.0.0.1:1/t", "headers": {"X-Key": SECRET}},
         {"name": "clock", "server_url": "http://127.0.0.1:1/c"}]  # fmt: skip


def method(**extra: Any) -> Method:
    body = {"grader": demo_grader(), "tools": TOOLS, **extra}
    return Method.model_validate({"type": "reinforcement", "reinforcement": body})


def test_the_stored_method_redacts_and_the_secrets_restore_it() -> None:
    given = method(max_episode_steps=5)
    stored = given.to_json()
    assert SECRET not in str(stored) and SECRET not in repr(given)
    shown = stored["reinforcement"]
    assert shown["tools"][0]["headers"] == {"X-Key": "***"}
    assert "headers" not in shown["tools"][1] and shown["max_episode_steps"] == 5
    parsed = Method.model_validate(stored)
    assert parsed.with_tool_secrets({"lookup": {"X-Key": SECRET}}) == given
    with pytest.raises(InvalidRequestError) as caught:
        parsed.with_tool_secrets({})  # never sent as "***"
    assert caught.value.code == "tool_secrets_missing"
    plain = Method.model_validate({"type": "reinforcement",
                                   "reinforcement": {"grader": demo_grader()}})  # fmt: skip
    assert set(plain.to_json()["reinforcement"]) == {"grader", "response_format",
                                                     "hyperparameters"}  # fmt: skip


def test_the_jobs_secrets_put_the_values_back_until_it_finishes(tmp_path: Path) -> None:
    given = method()
    jobs = JobTable(Database(tmp_path))
    jobs.insert({"id": "ftjob-s", "project": "p", "created_ns": 1, "status": "running",
                 "model": "openrft-tiny", "training_file": "file-x", "seed": 1,
                 "method": given.to_json()})  # fmt: skip
    write_secrets(jobs, "ftjob-s", given)
    row = {"messages": [{"role": "user", "content": "x"}]}
    spec = JobSpec(id="ftjob-s", model="openrft-tiny", training_rows=[row],
                   method=given.to_json())  # fmt: skip
    assert with_secrets(spec, jobs).method == given
    assert SECRET not in str(jobs.get("ftjob-s"))  # apart from the job's row
    assert jobs.move("ftjob-s", {"running"}, "succeeded")
    assert jobs.secrets("ftjob-s") is None  # gone with the job's last run
    with pytest.raises(InvalidRequestError) as caught:
        with_secrets(spec, jobs)
    assert caught.value.code == "tool_secrets_missing"


def _stats(tools: ToolStats | None) -> SplitStats:
    return SplitStats([GradeResult(1.0), GradeResult(0.0)], [3, 4], prompts=1, tools=tools)


def test_the_tools_section_of_a_metrics_event() -> None:
    grader = validate_grader(demo_grader())
    train = ToolStats(calls=[2, 0, 1], latencies=[0.1, 0.3, 0.2], call_tokens=[5, 7, 9],
                      errors=1, dropped=1)  # fmt: skip
    data = metrics_data(grader, step=1, total_steps=2, train=_stats(train), valid=None, timing={})
    tools = data["tools"]
    assert tools["train_tool_calls_per_rollout_mean"] == 1.0
    assert tools["train_tool_latency_mean"] == pytest.approx(0.2)
    assert tools["train_tool_latency_p95"] == 0.3
    assert (tools["train_tool_errors_count"], tools["train_dropped_rollouts_count"]) == (1, 1)
    assert tools["train_tool_call_tokens_mean"] == 7.0
    assert tools["valid_tool_latency_p95"] is None  # no validation this step
    valid = _stats(ToolStats(calls=[0, 0]))
    both = metrics_data(grader, step=2, total_steps=2, train=_stats(train), valid=valid, timing={})
    assert both["tools"]["valid_tool_calls_per_rollout_mean"] == 0.0
    keys = {key for key, _ in _number_keys(both)}
    assert len([k for k in keys if "tool" in k or "dropped" in k]) == 12
    assert not keys - set(measures.MEASURES)
    plain = metrics_data(grader, step=1, total_steps=2, train=_stats(None), valid=None, timing={})
    assert "tools" not in plain  # only a job with tools has them


def _drawn(dropped: list[str | None]) -> Drawn:
    rows = len(dropped)
    ones = torch.ones(rows, 2, dtype=torch.long)
    rollouts = Rollouts(ones, ones, ones, ones, ["a"] * rows, ["stop"] * rows, [0] * rows)
    samples = [Sample(str(i)) for i in range(rows)]
    return Drawn(rollouts, samples, list(range(rows)), dropped, ToolStats(calls=[1] * rows))


def test_a_dropped_episode_is_not_graded_and_sits_out_of_the_advantage() -> None:
    drawn = _drawn([None, "tool 'lookup' failed", None, None])
    samples, items = drawn.graded()
    assert items == [0, 2, 3] and [s.output_text for s in samples] == ["0", "2", "3"]
    results = drawn.spread([GradeResult(1.0), GradeResult(0.0), GradeResult(1.0)])
    assert results[1] is None and drawn.kept_tokens() == [2, 2, 2]
    rewards = torch.tensor([r.reward if r else 0.0 for r in results]).view(1, -1)
    keep = torch.tensor([r is not None and r.ok for r in results]).view(1, -1)
    advantages = group_advantages(rewards, keep).view(-1)
    assert advantages[1] == 0.0 and advantages[0] > 0 > advantages[2]


def test_dropped_episodes_have_their_own_error_rate_rule() -> None:
    check_drop_rate([None] * 7 + ["down"])  # one in eight: the step goes on
    check_error_rate([GradeResult(1.0)] * 7)  # the grader's rule sees only graded samples
    with pytest.raises(ToolErrorRate) as caught:
        check_drop_rate(["tool 'lookup' failed after 4 attempts (HTTP 503): busy"] * 8)
    assert caught.value.code == "tool_error_rate" and "HTTP 503" in caught.value.message
    with pytest.raises(ToolErrorRate):
        check_drop_rate([None] * 100 + ["down"] * 51)  # more than max(50, 20%)
    with pytest.raises(GraderErrorRate):
        check_error_rate([GradeResult(0.0, errors={"other_error": True})] * 51)


def test_the_jobs_secrets_put_its_endpoint_graders_header_values_back(tmp_path: Path) -> None:
    """The grader (here a `multi`'s sub-grader) and `settings.eval_grader`: stored `***`, kept
    in `job_secrets` until the job finishes, put back for the job's child."""
    endpoint = {"type": "endpoint", "name": "e", "url": "http://127.0.0.1:1/g",
                "headers": {"X-Functions-Key": SECRET}}  # fmt: skip
    grader = validate_grader({"type": "multi", "graders": {"e": endpoint},
                              "calculate_output": "e"}, for_training=True)  # fmt: skip
    given = Method.model_validate({"type": "reinforcement", "reinforcement": {"grader": grader}})
    settings = TrainSettings(eval_grader=validate_grader(endpoint, for_training=True))
    stored, stored_settings = given.to_json(), settings.model_dump(exclude_unset=True)
    assert SECRET not in str(stored) and SECRET not in str(stored_settings)
    jobs = JobTable(Database(tmp_path))
    jobs.insert({"id": "ftjob-g", "project": "p", "created_ns": 1, "status": "running",
                 "model": "openrft-tiny", "training_file": "file-x", "seed": 1,
                 "method": stored, "settings": stored_settings})  # fmt: skip
    write_secrets(jobs, "ftjob-g", given, settings)
    row = {"messages": [{"role": "user", "content": "x"}]}
    spec = JobSpec(id="ftjob-g", model="openrft-tiny", training_rows=[row], method=stored,
                   settings=stored_settings)  # fmt: skip
    restored = with_secrets(spec, jobs)
    assert restored.method == given and restored.settings.eval_grader == settings.eval_grader
    assert jobs.move("ftjob-g", {"running"}, "failed")
    with pytest.raises(InvalidRequestError) as caught:  # gone with the job: never sent as `***`
        with_secrets(spec, jobs)
    assert caught.value.code == "header_secrets_missing"
    assert "'X-Functions-Key'" in caught.value.message and SECRET not in caught.value.message
