"""A training job's judge requests name the job's project (`OpenRFT-Project`), so a judge on
openrft's own server answers as that project and reaches its `ft:` models and no other's."""

from __future__ import annotations

from pathlib import Path

from openrft.train.runner import run_job
from tests.graders.scripted_judge import ScriptedJudge
from tests.train.helpers import ListSink
from tests.train.test_judge_budget import judge, judged_spec

__all__ = ["judge"]  # the scripted-judge fixture


def test_a_jobs_judge_requests_name_its_project(
    judge: ScriptedJudge, home: Path, tmp_path: Path
) -> None:
    spec = judged_spec(1, budget=None)
    spec.project = "alpha"
    outcome = run_job(spec, workdir=tmp_path, home=home, events=ListSink())
    assert outcome.status == "succeeded", outcome.error
    assert judge.projects and set(judge.projects) == {"alpha"}
