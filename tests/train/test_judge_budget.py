"""A job's cap on judge tokens (`settings.judge_max_tokens`): spent across steps, kept over a
resume, and a clear failure when it runs out."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openrft.train.checkpoints import CheckpointStore
from openrft.train.runner import run_job
from tests.graders.scripted_judge import Reply, ScriptedJudge
from tests.support.loopback import serve
from tests.train.helpers import ListSink, demo_spec

PER_CALL = 120  # the scripted judge's usage: 100 prompt + 20 completion tokens


@pytest.fixture
def judge(monkeypatch: pytest.MonkeyPatch) -> Iterator[ScriptedJudge]:
    scripted = ScriptedJudge()
    scripted.handler = lambda body: Reply(result=0.5)
    with serve(scripted.app) as url:
        monkeypatch.setenv("OPENRFT_JUDGE_BASE_URL", f"{url}/v1")
        monkeypatch.setenv("OPENRFT_JUDGE_CACHE", "off")
        yield scripted


def judged_spec(steps: int, budget: int | None, **hp: Any) -> Any:
    spec = demo_spec(steps, batch=2, valid=2, compute_multiplier=0.25, **hp)  # 2 samples each
    spec.method.reinforcement.grader = {
        "type": "score_model", "name": "judge", "model": "judge-mini", "range": [0, 1],
        "input": [{"role": "user", "content": "Is {{ sample.output_text }} sorted?"}],
    }  # fmt: skip
    spec.settings.judge_max_tokens = budget
    return spec


def test_the_job_fails_clearly_when_its_judge_budget_runs_out(
    judge: ScriptedJudge, home: Path, tmp_path: Path
) -> None:
    spec = judged_spec(3, budget=10 * PER_CALL)  # baseline 2 calls, then 4 + 2 per step
    outcome = run_job(spec, workdir=tmp_path, home=home, events=ListSink())
    assert outcome.status == "failed"
    assert outcome.error["code"] == "judge_budget_exceeded"
    assert f"job {spec.id}" in outcome.error["message"]
    assert len(judge.requests) <= 12  # stopped at the cap, not after the whole job


class PauseAt:
    """A control that pauses the job when polled before step `step`."""

    def __init__(self, step: int):
        self.polls, self.step = 0, step

    def check(self) -> str | None:
        self.polls += 1
        return "pause" if self.polls == self.step else None


def test_the_spend_is_kept_in_checkpoints_and_counted_on_resume(
    judge: ScriptedJudge, home: Path, tmp_path: Path
) -> None:
    spec = judged_spec(4, budget=1_000_000)
    paused = run_job(spec, workdir=tmp_path, home=home, events=ListSink(), control=PauseAt(3))
    assert paused.status == "paused"
    spent = len(judge.requests) * PER_CALL  # the baseline and steps 1 and 2
    latest = CheckpointStore(tmp_path / "checkpoints").latest()
    assert latest is not None and latest.step == 2 and latest.state["judge_tokens"] == spent
    # Resumed with a cap that leaves less than one more step: only a job that remembers what
    # it spent fails at step 3; one that forgot would have budget for several more steps.
    judge.reset()
    judge.handler = lambda body: Reply(result=0.5)
    spec.settings.judge_max_tokens = spent + 3 * PER_CALL
    resumed = run_job(spec, workdir=tmp_path, home=home, events=ListSink())
    assert resumed.status == "failed"
    assert resumed.error["code"] == "judge_budget_exceeded"
    assert len(judge.requests) <= 4 + 2  # one step's samples at most (validation included)
