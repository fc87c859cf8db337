"""`GraderContext`: the clients graders get, and the project a grading is for.

A server keeps one context and grades each request through `for_project(caller)`: the view names
the project (the judge's `OpenRFT-Project` header, python-grader slots) and shares the clients
of the context it came from, which alone closes them.
"""

from __future__ import annotations

import pytest

from openrft.graders import GraderContext, JudgeClient, JudgeSettings, agrade_many, validate_grader
from tests.graders.scripted_judge import Reply, ScriptedJudge

GRADER = {"type": "score_model", "name": "judge", "model": "judge-mini",
          "input": [{"role": "user", "content": "Rate {{ sample.output_text }}"}]}  # fmt: skip
ROWS = [("a", {}), ("b", {})]


@pytest.fixture
def judge(server: tuple[ScriptedJudge, str]) -> ScriptedJudge:
    server[0].reset()
    server[0].handler = lambda body: Reply(result=0.5)
    return server[0]


def client(server: tuple[ScriptedJudge, str]) -> JudgeClient:
    return JudgeClient(JudgeSettings(base_url=server[1], cache="off", max_retries=0))


async def test_a_project_view_grades_as_its_project_with_the_shared_judge(
    server: tuple[ScriptedJudge, str], judge: ScriptedJudge
) -> None:
    root = GraderContext(judge=client(server), python_timeout=5.0, extras={"run": 1})
    view = root.for_project("alpha")
    report = await agrade_many(validate_grader(GRADER), ROWS, context=view)
    assert [result.reward for result in report.results] == [0.5, 0.5]
    assert judge.projects == ["alpha", "alpha"]
    assert view.root() is root and view.judge is None  # the client stays on the root
    assert (view.python_timeout, view.extras) == (5.0, root.extras)
    await view.aclose()  # a view closes nothing: the next project still grades
    await agrade_many(validate_grader(GRADER), ROWS, context=root.for_project("beta"))
    assert judge.projects[2:] == ["beta", "beta"]
    await root.aclose()


async def test_a_plain_context_grades_as_the_default_project(
    server: tuple[ScriptedJudge, str], judge: ScriptedJudge
) -> None:
    context = GraderContext(judge=client(server))
    await agrade_many(validate_grader(GRADER), ROWS, context=context)
    await context.aclose()
    assert judge.projects == ["default", "default"]


async def test_a_judge_built_from_the_environment_is_kept_on_the_root(
    server: tuple[ScriptedJudge, str], judge: ScriptedJudge, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENRFT_JUDGE_BASE_URL", server[1])
    root = GraderContext()
    await agrade_many(validate_grader(GRADER), ROWS[:1], context=root.for_project("alpha"))
    assert isinstance(root.judge, JudgeClient) and root.judge.settings.base_url == server[1]
    await root.aclose()
    assert judge.projects == ["alpha"]
