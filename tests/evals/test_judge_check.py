"""`openrft judge-check` against a scripted judge on loopback, its statistics by hand, and
what readiness makes of its report."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from openrft.evals.judge_check import (
    JudgeRule,
    LabelledRow,
    acheck_judge,
    cohen_kappa,
    fisher_ci,
    judge_status,
    ranks,
    readiness_items,
    spearman,
)
from openrft.evals.stats import wilson
from openrft.graders import GraderContext, Sample, validate_grader
from openrft.graders.judge import JudgeClient, JudgeSettings
from tests.graders.scripted_judge import Reply, ScriptedJudge
from tests.support.loopback import serve

SCALE = {
    "type": "score_model",
    "name": "helpfulness",
    "model": "judge-mini",
    "range": [1, 5],
    "input": [{"role": "user", "content": "Rate 1-5: {{sample.output_text}}"}],
}
LABELS = {
    "type": "label_model",
    "name": "verdict",
    "model": "judge-mini",
    "input": [{"role": "user", "content": "Label: {{sample.output_text}}"}],
    "labels": ["good", "bad"],
    "passing_labels": ["good"],
}


def _quality(body: dict[str, Any]) -> int:
    """The quality the sample text claims (`answer of quality 4`): what people scored."""
    match = re.search(r"quality (\d)", body["messages"][-1]["content"])
    assert match, body
    return int(match.group(1))


def agreeing(body: dict[str, Any]) -> Reply:
    return Reply(result=_quality(body))


def contrary(body: dict[str, Any]) -> Reply:
    """A judge that scores backwards: 5 where people gave 1."""
    return Reply(result=6 - _quality(body))


@pytest.fixture(scope="module")
def judge_server() -> Iterator[tuple[ScriptedJudge, str]]:
    judge = ScriptedJudge()
    with serve(judge.app) as url:
        yield judge, f"{url}/v1"


def _labelled(path: Path, rows: int = 60) -> Path:
    lines = [
        {"item": {"id": i}, "sample": f"answer of quality {1 + i % 5}", "human": 1 + i % 5}
        for i in range(rows)
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _cli(*args: str, cwd: Path, judge_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160", "OPENRFT_JUDGE_BASE_URL": judge_url}
    command = [sys.executable, "-m", "openrft.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def test_judge_check_passes_an_agreeing_judge_and_flags_a_contrary_one(
    judge_server: tuple[ScriptedJudge, str], tmp_path: Path
) -> None:
    judge, url = judge_server
    data = _labelled(tmp_path / "labelled.jsonl")
    grader = tmp_path / "judge.json"
    grader.write_text(json.dumps(SCALE), encoding="utf-8")
    judge.reset()
    judge.handler = agreeing
    good = _cli("judge-check", "-g", str(grader), "-d", str(data), "--report",
                str(tmp_path / "good"), cwd=tmp_path, judge_url=url)  # fmt: skip
    assert good.returncode == 0, good.stdout + good.stderr
    assert len(judge.requests) == 60
    report = json.loads((tmp_path / "good.json").read_text())
    assert report["status"] == "go" and report["n"] == 60
    assert report["spearman"] == pytest.approx(1.0)
    assert report["exact"]["rate"] == 1.0 and report["within_one"]["rate"] == 1.0
    judge.reset()
    judge.handler = contrary
    bad = _cli("judge-check", "-g", str(grader), "-d", str(data), "--report",
               str(tmp_path / "bad"), cwd=tmp_path, judge_url=url)  # fmt: skip
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert "no-go" in bad.stdout
    report = json.loads((tmp_path / "bad.json").read_text())
    assert report["status"] == "no-go"
    assert report["spearman"] == pytest.approx(-1.0)
    # exact only where 6 - q == q (quality 3: 12 of 60); within 1 where |6 - 2q| <= 1 (q = 3)
    assert (report["exact"]["agree"], report["exact"]["total"]) == (12, 60)
    assert report["within_one"]["agree"] == 12
    assert (tmp_path / "bad.html").read_text().count("NO-GO") >= 1


def test_readiness_is_no_go_with_a_judge_check_below_the_rule(tmp_path: Path) -> None:
    """Readiness, run whole from the CLI, reads the judge-check report it is given."""
    from tests.support import scripted_model

    rows = [{"messages": [{"role": "user", "content": f"sort {d}:"}],
             "reference": "".join(sorted(d))} for d in ("321", "9172", "55501", "804213", "97",
                                                        "6612", "31", "90210", "2111", "3829")]  # fmt: skip
    train, valid = tmp_path / "train.jsonl", tmp_path / "valid.jsonl"
    train.write_text("".join(json.dumps(r) + "\n" for r in rows[:7]))
    valid.write_text("".join(json.dumps(r) + "\n" for r in rows[7:]))
    grader = {"type": "string_check", "name": "exact", "input": "{{ sample.output_text }}",
              "reference": "{{ item.reference }}", "operation": "eq"}  # fmt: skip
    (tmp_path / "grader.json").write_text(json.dumps(grader))
    spec = validate_grader(grader).model_dump(mode="json", exclude_none=True)
    check = {"n": 60, "spearman": 0.55, "spearman_ci": [0.35, 0.7], "grader": "exact",
             "spec": spec}  # fmt: skip
    (tmp_path / "check.json").write_text(json.dumps(check))
    with serve(scripted_model.app()) as base:
        common = ["readiness", "-d", str(train), "--valid", str(valid), "-g",
                  str(tmp_path / "grader.json"), "-m", "coin", "--base-url", f"{base}/v1",
                  "--samples", "4"]  # fmt: skip
        done = _cli(*common, "--judge-check", str(tmp_path / "check.json"), "--report",
                    str(tmp_path / "r"), cwd=tmp_path, judge_url="http://127.0.0.1:9/v1")  # fmt: skip
        assert done.returncode == 1, done.stdout + done.stderr
        data = json.loads((tmp_path / "r.json").read_text())
        assert data["decision"] == "no-go"
        assert any("Spearman ρ 0.550" in reason for reason in data["reasons"]), data["reasons"]
        check["spearman"], check["spearman_ci"] = 0.9, [0.84, 0.94]
        (tmp_path / "check.json").write_text(json.dumps(check))
        done = _cli(*common, "--judge-check", str(tmp_path / "check.json"), "--report",
                    str(tmp_path / "r2"), cwd=tmp_path, judge_url="http://127.0.0.1:9/v1")  # fmt: skip
        assert done.returncode == 0, done.stdout + done.stderr
        (tmp_path / "check.json").write_text('{"rows": 3}')
        done = _cli(*common, "--judge-check", str(tmp_path / "check.json"),
                    cwd=tmp_path, judge_url="http://127.0.0.1:9/v1")  # fmt: skip
        assert done.returncode == 2 and "not a judge-check report" in done.stderr
        assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("n", "rho", "ci", "status", "words"),
    [
        (60, 0.79, (0.67, 0.87), "no-go", "on 60 labelled samples"),
        (50, 0.8, (0.67, 0.88), "go", "Spearman ρ 0.800"),
        (20, 0.7, (0.37, 0.87), "warn", "insufficient evidence"),
        (20, -0.2, (-0.6, 0.27), "no-go", "even the top of the 95% interval"),
        (60, None, None, "no-go", "no rank order"),
        (3, None, None, "warn", "no rank order"),
    ],
)
def test_readiness_judge_rule(n: int, rho: float | None, ci: Any, status: str, words: str) -> None:
    got, detail = judge_status({"n": n, "spearman": rho, "spearman_ci": ci}, JudgeRule())
    assert got == status and words in detail, detail


def test_statistics_against_hand_computed_values() -> None:
    assert ranks([3, 1, 4, 1, 5]) == [3, 1.5, 4, 1.5, 5]
    # no ties: ρ = 1 - 6 Σd² / (n (n² - 1)) = 1 - 6 * 4 / 120 = 0.8
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    # ties: Pearson of ranks (1, 2.5, 2.5, 4) and (1, 2, 3, 4) = 4.5 / sqrt(4.5 * 5) = 3/sqrt(10)
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10))
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    # Fisher z with var 1.06 / (n - 3): tanh(atanh(0.8) ± 1.959964 * sqrt(1.06 / 2))
    low, high = fisher_ci(0.8, 5) or (0.0, 0.0)
    assert (low, high) == (pytest.approx(-0.31696, abs=1e-5), pytest.approx(0.98728, abs=1e-5))
    assert fisher_ci(0.8, 3) is None
    # Wilson 4 / 5: (p + z²/2n ± z sqrt(p(1-p)/n + z²/4n²)) / (1 + z²/n)
    interval = wilson(4, 5) or (0.0, 0.0)
    assert interval == (pytest.approx(0.37553, abs=1e-5), pytest.approx(0.96378, abs=1e-5))
    # κ: p_o = 3/4, p_e = (2*3 + 2*1) / 16 = 1/2 → (0.75 - 0.5) / 0.5
    labels = [("a", "a"), ("a", "a"), ("b", "b"), ("b", "a")]
    assert cohen_kappa(labels) == pytest.approx(0.5)


@pytest.fixture
async def judge_context(judge_server: tuple[ScriptedJudge, str]) -> AsyncIterator[GraderContext]:
    settings = JudgeSettings(
        base_url=judge_server[1], backoff_base=0.01, timeout=5.0, max_retries=0
    )
    context = GraderContext(judge=JudgeClient(settings))
    yield context
    await context.judge.aclose()


async def test_label_judge_confusion_and_failed_rows_left_out(
    judge_server: tuple[ScriptedJudge, str], judge_context: GraderContext
) -> None:
    """The callable form training can use: labelled rows + a grader + a context."""
    judge = judge_server[0]
    judge.reset()
    humans = ["good", "good", "good", "bad", "bad", "bad"]
    said = ["good", "good", "bad", "bad", "bad", "good"]

    def label(body: dict[str, Any]) -> Reply:  # by the row's text: requests arrive in any order
        row = int(body["messages"][-1]["content"].rsplit(" ", 1)[1])
        return Reply(result=said[row]) if row < len(said) else Reply(status=400, error="no")

    judge.handler = label  # the 7th row: a grading failure
    rows = [LabelledRow(Sample(f"answer {i}"), {}, human, i + 1)
            for i, human in enumerate([*humans, "good"])]  # fmt: skip
    check = await acheck_judge(rows, validate_grader(LABELS), context=judge_context)
    assert (check.rows, check.errored, check.n) == (7, 1, 6)
    assert check.confusion == {"good": {"good": 2, "bad": 1}, "bad": {"good": 1, "bad": 2}}
    assert (check.exact.agree, check.exact.total) == (4, 6)
    assert check.kappa == pytest.approx(1 / 3)  # p_o 4/6, p_e 1/2
    assert check.within_one is None
    assert check.spearman == pytest.approx(1 / 3)  # phi of the passing indicators
    assert check.pairs[6]["errors"] and check.pairs[6]["judge"] is None


def test_bad_labelled_rows_are_one_line_errors(
    judge_server: tuple[ScriptedJudge, str], tmp_path: Path
) -> None:
    grader = tmp_path / "judge.json"
    grader.write_text(json.dumps(LABELS), encoding="utf-8")
    cases = {
        '{"item": {}, "sample": "x"}': "(missing: human)",
        '{"item": {}, "sample": "x", "human": "meh"}': "one of the grader's labels",
        '{"item": {}, "sample": "x", "human": "good", "score": 1}': "unexpected: score",
        '{"item": [], "sample": "x", "human": "good"}': '"item" must be an object',
    }
    for line, words in cases.items():
        data = tmp_path / "rows.jsonl"
        data.write_text('{"item": {}, "sample": "ok", "human": "good"}\n' + line + "\n")
        done = _cli("judge-check", "-g", str(grader), "-d", str(data), cwd=tmp_path,
                    judge_url=judge_server[1])  # fmt: skip
        assert done.returncode == 2, done.stdout
        assert words in done.stderr and "rows.jsonl:2" in done.stderr, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1
    scale = tmp_path / "scale.json"
    scale.write_text(json.dumps(SCALE), encoding="utf-8")
    data.write_text('{"sample": "x", "human": true}\n')
    done = _cli("judge-check", "-g", str(scale), "-d", str(data), cwd=tmp_path,
                judge_url=judge_server[1])  # fmt: skip
    assert done.returncode == 2 and "finite number" in done.stderr


def test_readiness_says_when_the_check_is_of_another_grader_or_missing() -> None:
    judge = validate_grader(SCALE)
    report = {"n": 80, "spearman": 0.9, "spearman_ci": [0.85, 0.93], "grader": "helpfulness",
              "spec": judge.model_dump(mode="json", exclude_none=True)}  # fmt: skip
    assert [status for status, _ in readiness_items(judge, report, JudgeRule())] == ["go"]
    other = readiness_items(validate_grader({**SCALE, "model": "judge-max"}), report, JudgeRule())
    assert [status for status, _ in other] == ["go", "warn"] and "another grader" in other[1][1]
    ((status, detail),) = readiness_items(judge, None, JudgeRule())
    assert status == "warn" and "judge-check" in detail
    rule_based = {"type": "string_check", "input": "a", "reference": "a", "operation": "eq"}
    assert readiness_items(validate_grader(rule_based), None, JudgeRule()) == []
