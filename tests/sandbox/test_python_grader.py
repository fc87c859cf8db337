"""The `python` grader type on top of the pool: G7's rules and Part D 20-21 at validation."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from openrft.errors import GraderValidationError
from openrft.graders import GraderContext, Sample
from openrft.graders.python import agrade, check_source
from openrft.sandbox import SandboxPool
from tests.sandbox.conftest import SMALL

FUZZY = """
from rapidfuzz import fuzz
def grade(sample, item):
    return fuzz.ratio(sample["output_text"], item["reference"]) / 100
"""


class Spec:
    name = "py"

    def __init__(self, source: str) -> None:
        self.source = source


@pytest.fixture
async def ctx() -> AsyncIterator[GraderContext]:
    context = GraderContext(sandbox=SandboxPool(2, limits=SMALL), python_timeout=5)
    yield context
    await context.aclose()


async def test_reward_from_the_sandbox(ctx: GraderContext) -> None:
    result = await agrade(Spec(FUZZY), Sample.from_text("hello"), {"reference": "hallo"}, ctx)
    assert result.reward == pytest.approx(0.8) and result.ok
    assert result.execution_time > 0


async def test_sample_is_the_as_dict_shape(ctx: GraderContext) -> None:
    source = (
        "def grade(sample, item):\n"
        "    assert sample['output_json'] == {'a': 1}, sample\n"
        "    assert sample['output_tools'] == [] and sample['choices'][0]['index'] == 0\n"
        "    return float(item['n'])\n"
    )
    result = await agrade(Spec(source), Sample.from_text('{"a": 1}'), {"n": 2}, ctx)
    assert result.reward == 2.0 and result.ok


@pytest.mark.parametrize(
    ("source", "detail"),
    [
        ("def grade(s, i):\n    return float('nan')\n", "invalid_return"),
        ("def grade(s, i):\n    return None\n", "invalid_return"),
        ("def grade(s, i):\n    return 10**400\n", "invalid_return"),
        ("def grade(s, i):\n    raise ValueError('boom')\n", "boom"),
        ("def grade(s, i):\n    while True:\n        pass\n", "timeout"),
    ],
)
async def test_failures_are_runtime_errors(ctx: GraderContext, source: str, detail: str) -> None:
    ctx.python_timeout = 1
    result = await agrade(Spec(source), Sample.from_text("x"), {}, ctx)
    assert result.reward == 0.0 and result.errors is not None
    assert result.errors["python_grader_runtime_error"] is True
    assert detail in result.errors["python_grader_runtime_error_details"]


async def test_bool_is_a_reward(ctx: GraderContext) -> None:
    result = await agrade(
        Spec("def grade(s, i):\n    return True\n"), Sample.from_text(""), {}, ctx
    )
    assert result.reward == 1.0 and result.ok


async def test_default_pool_is_created_once_and_kept() -> None:
    context = GraderContext()
    try:
        first = await agrade(Spec(FUZZY), Sample.from_text("a"), {"reference": "a"}, context)
        pool = context.sandbox
        second = await agrade(Spec(FUZZY), Sample.from_text("a"), {"reference": "b"}, context)
        assert isinstance(pool, SandboxPool) and context.sandbox is pool
        assert (first.reward, second.reward) == (1.0, 0.0)
    finally:
        await context.aclose()


def test_21_oversized_or_non_utf8_source_is_rejected_unexecuted(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    side_effect = f"open({str(marker)!r}, 'w').write('x')\ndef grade(s, i):\n    return 1\n"
    with pytest.raises(GraderValidationError, match="256 KiB") as caught:
        check_source(side_effect + "#" * (256 * 1024))
    assert caught.value.param == "source" and caught.value.status == 400
    with pytest.raises(GraderValidationError, match="UTF-8"):
        check_source(side_effect + "'\ud800'\n")
    check_source(side_effect)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("def grade(s, i:\n    return 1\n", "does not compile"),
        ("def score(s, i):\n    return 1\n", "must define"),
        ("def grade(s):\n    return 1\n", "two positional"),
        ("def grade(s, i, *rest):\n    return 1\n", "two positional"),
        ("def grade(s, i, *, k):\n    return 1\n", "two positional"),
    ],
)
def test_20_validation_catches_broken_sources(source: str, message: str) -> None:
    with pytest.raises(GraderValidationError, match=message):
        check_source(source)


def test_20_grade_bound_by_assignment_is_left_to_run_time() -> None:
    check_source("from math import fsum as grade\n")
    check_source("grade = lambda sample, item: 1.0\n")


PACKAGES = """
import jsonschema, numpy, pandas, pydantic, rapidfuzz, scipy.stats, sympy, yaml
from nltk.corpus import wordnet
from rouge_score import rouge_scorer

def grade(sample, item):
    frame = pandas.DataFrame({"x": numpy.arange(4)})
    scorer = rouge_scorer.RougeScorer(["rouge1"])
    checks = [
        frame["x"].sum() == 6,
        float(sympy.sqrt(16)) == 4.0,
        scipy.stats.norm.cdf(0) == 0.5,
        len(wordnet.synsets("dog")) > 0,
        scorer.score("a b", "a b")["rouge1"].fmeasure == 1.0,
        yaml.safe_load("a: 1") == {"a": 1},
    ]
    return float(all(checks))
"""


@pytest.mark.slow
async def test_the_promised_packages_work_inside() -> None:
    async with SandboxPool(1) as pool:  # default limits: pandas + scipy + sympy need headroom
        verdict = await pool.grade(PACKAGES, {"output_text": ""}, {}, timeout=60)
    assert verdict.score == 1.0, verdict
