"""eval, gate, readiness and audit against a scripted model served over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from openrft.evals.audit import audit
from openrft.evals.compare import evaluate
from openrft.evals.gate import Thresholds, gate
from openrft.evals.sampling import EndpointSampler, SamplingParams
from openrft.graders import validate_grader
from tests.support import scripted_model
from tests.support.loopback import serve

EXACT = {
    "type": "string_check",
    "name": "exact",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.reference }}",
    "operation": "eq",
}


def _rows() -> list[dict[str, Any]]:
    rows = []
    for digits in ["321", "9172", "55501", "804213", "97", "6612", "31", "90210", "2111", "3829"]:
        rows.append({"messages": [{"role": "user", "content": f"sort {digits}:"}],
                     "reference": "".join(sorted(digits)), "tags": ["edge"] if len(digits) < 3 else []})  # fmt: skip
    for bad in ["12a", "x", "9-1", "one two"]:
        rows.append({"messages": [{"role": "user", "content": f"sort {bad}:"}],
                     "reference": "I can't sort that.", "tags": ["refusal"]})  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with serve(scripted_model.app()) as base:
        yield f"{base}/v1"


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


async def _eval(endpoint: str, model: str, n: int = 1) -> Any:
    sampler = EndpointSampler(endpoint)
    try:
        return await evaluate(model, _rows(), validate_grader(EXACT), sampler, SamplingParams(n=n))
    finally:
        await sampler.aclose()


async def test_eval_reports_quality_cost_latency_and_slices(endpoint: str) -> None:
    result = await _eval(endpoint, "no-refusals", n=2)
    assert result.overall.rows == 14 and result.samples_per_row == 2
    assert result.overall.mean_reward == pytest.approx(10 / 14)
    assert result.slices["refusal"].mean_reward == 0.0 and result.slices["edge"].mean_reward == 1.0
    low, high = result.overall.reward_ci or (0.0, 0.0)
    assert low < result.overall.mean_reward < high
    assert result.prompt_tokens_per_item > 0 and result.completion_tokens_per_item > 0
    assert 0 < result.latency_p50_s <= result.latency_p95_s
    assert result.pass_at_k == pytest.approx(10 / 14) and result.no_signal_share == 1.0


async def test_gate_fails_a_candidate_that_regresses_on_the_refusal_slice(endpoint: str) -> None:
    baseline = await _eval(endpoint, "reverser")  # refuses well, sorts the wrong way
    candidate = await _eval(endpoint, "no-refusals")  # sorts well, never refuses
    verdict = gate(candidate, baseline, Thresholds(min_gain=0.1))
    assert candidate.overall.mean_reward > baseline.overall.mean_reward + 0.1
    assert not verdict.passed
    assert [c.name for c in verdict.checks if not c.passed] == ["slice:refusal"]
    assert "refusal" in verdict.reasons[0]


async def test_gate_passes_a_clean_improvement_and_enforces_ceilings(endpoint: str) -> None:
    baseline = await _eval(endpoint, "reverser")
    candidate = await _eval(endpoint, "sorter")
    assert gate(candidate, baseline, Thresholds(min_gain=0.3)).passed
    strict = gate(candidate, baseline, Thresholds(max_latency_p95_s=0.0, max_cost_ratio=0.5))
    assert {c.name for c in strict.checks if not c.passed} == {"latency", "cost"}


def test_audit_flags_a_hackable_like_grader() -> None:
    rows = [{"messages": [{"role": "user", "content": f"Is claim {i} compliant?"}],
             "reference": "yes" if i % 3 else "no"} for i in range(12)]  # fmt: skip
    hackable = validate_grader({**EXACT, "operation": "like"})
    report = audit(hackable, rows)
    flagged = {p.name: p for p in report.flagged}
    assert flagged["answer_everything"].severity == "error"
    assert flagged["answer_everything"].mean_reward == 1.0
    assert "padded_reference" in flagged
    sound = audit(validate_grader(EXACT), rows)
    assert sound.flagged == []
    assert {p.name for p in sound.probes} >= {
        "empty",
        "echo_prompt",
        "judge_injection",
        "very_long",
    }


def test_audit_counts_copying_only_where_the_prompt_exposes_the_reference() -> None:
    rows = [{"messages": [{"role": "user", "content": f"Answer is {i}. Repeat it."}],
             "reference": str(i)} for i in range(5)]  # fmt: skip
    report = audit(validate_grader(EXACT), rows)
    copy = next(p for p in report.probes if p.name == "copy_reference")
    assert copy.flagged and copy.rows == 5 and copy.mean_reward == 1.0


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "160"}
    command = [sys.executable, "-m", "openrft.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=180, env=env)


def test_readiness_says_no_go_when_the_baseline_already_scores_1(
    endpoint: str, tmp_path: Path
) -> None:
    train = _write(tmp_path / "train.jsonl", _rows()[:8])
    valid = _write(tmp_path / "valid.jsonl", _rows()[8:])
    grader = tmp_path / "grader.json"
    grader.write_text(json.dumps(EXACT))
    common = ["readiness", "--data", str(train), "--valid", str(valid), "-g", str(grader),
              "--base-url", endpoint, "--samples", "4"]  # fmt: skip
    done = _cli(*common, "-m", "sorter", "--report", str(tmp_path / "r1"), cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    data = json.loads((tmp_path / "r1.json").read_text())
    assert data["decision"] == "no-go"
    assert any("nothing to learn" in reason for reason in data["reasons"])
    assert (tmp_path / "r1.html").read_text().count("<svg") >= 1
    coin = _cli(*common, "-m", "coin", "--report", str(tmp_path / "r2"), cwd=tmp_path)
    report = json.loads((tmp_path / "r2.json").read_text())
    assert report["decision"] == "go", report["reasons"]
    assert coin.returncode == 0


def test_eval_gate_and_audit_commands_write_reports(endpoint: str, tmp_path: Path) -> None:
    valid = _write(tmp_path / "valid.jsonl", _rows())
    grader = tmp_path / "grader.json"
    grader.write_text(json.dumps(EXACT))
    done = _cli("eval", "-m", "reverser", "-m", "sorter", "-d", str(valid), "-g", str(grader),
                "--base-url", endpoint, "--report", str(tmp_path / "eval"), "--seed", "7",
                cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = len(_rows())  # the table says what its numbers are over
    assert f"{rows} rows × 1 answer sampled at T=1, seed 7 on every request, grader exact" in (
        " ".join(done.stdout.split())
    )
    models = json.loads((tmp_path / "eval.json").read_text())["models"]
    assert [m["model"] for m in models] == ["reverser", "sorter"]
    assert models[1]["overall"]["mean_reward"] == 1.0
    assert "refusal" in models[0]["slices"]
    html = (tmp_path / "eval.html").read_text()
    assert html.startswith("<!doctype html>") and "<svg" in html and "<script" not in html
    gated = _cli("gate", "--candidate", "no-refusals", "--baseline", "reverser", "-d", str(valid),
                 "-g", str(grader), "--base-url", endpoint, "--report", str(tmp_path / "gate"), cwd=tmp_path)  # fmt: skip
    assert gated.returncode == 1 and "FAIL" in gated.stdout
    assert json.loads((tmp_path / "gate.json").read_text())["verdict"] == "fail"
    audited = _cli(
        "audit",
        "-g",
        str(grader),
        "-d",
        str(valid),
        "--report",
        str(tmp_path / "audit"),
        cwd=tmp_path,
    )
    assert audited.returncode == 0, audited.stdout
    assert json.loads((tmp_path / "audit.json").read_text())["verdict"] == "no probe earned reward"
