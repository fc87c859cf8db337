"""Every HTML report, written from realistic results: three checkpoints whose names differ only
at the end, slices far apart (0.057 and 0.486), rewards of exactly 1.0, small slices whose
normal-approximation interval leaves [0, 1], a gate that improves one slice and drops another."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from openrft.cli.demo import write_demo_report
from openrft.data.lint import lint_files
from openrft.demo.run import DemoResult
from openrft.evals import readiness, views
from openrft.evals.audit import audit
from openrft.evals.compare import ModelEval, summarise
from openrft.evals.gate import Thresholds, gate
from openrft.evals.sampling import Answer
from openrft.graders import GradeResult, validate_grader

JOB = "ft:openrft-tiny:openrft:sorter:ab12cd34"
CHECKPOINTS = [f"{JOB}:ckpt-step-25", f"{JOB}:ckpt-step-50", JOB]
JUDGE = validate_grader({
    "type": "score_model", "name": "judge", "model": "judge",
    "input": [{"role": "user", "content": "Rate: {{ sample.output_text }}"}],
})  # fmt: skip
EXACT = {"type": "string_check", "name": "exact", "input": "{{ sample.output_text }}",
         "reference": "{{ item.reference }}", "operation": "eq"}  # fmt: skip


def rows() -> list[dict[str, Any]]:
    """35 rows: 14 tagged `hard`, 7 `edge`, 3 `refusal`, the rest untagged."""
    tags = [["hard"]] * 14 + [["edge"]] * 7 + [["refusal"]] * 3 + [[]] * 11
    return [
        {"messages": [{"role": "user", "content": f"sort {i}{i + 3}1:"}],
         "reference": "".join(sorted(f"{i}{i + 3}1")), "tags": tag}
        for i, tag in enumerate(tags)
    ]  # fmt: skip


def model(name: str, rewards: list[float]) -> ModelEval:
    """`rewards[i]` is row i's one answer; latency and tokens made up but plausible."""
    answers = [[Answer("x", prompt_tokens=12, completion_tokens=4, latency=0.05)] for _ in rewards]
    results = [GradeResult(reward) for reward in rewards]
    return summarise(name, JUDGE, rows(), answers, results)


def rewards(hard: float, edge: list[float], refusal: list[float], rest: float) -> list[float]:
    """`hard` rows: that share score 1, the others 0."""
    ones = round(hard * 14)
    return [1.0] * ones + [0.0] * (14 - ones) + edge + refusal + [rest] * 11


def models() -> list[ModelEval]:
    return [
        model(CHECKPOINTS[0], rewards(1 / 14, [1, 1, 1, 1, 1, 1, 0.3], [0.0, 0.0, 0.3], 0.35)),
        model(CHECKPOINTS[1], rewards(0.5, [1, 1, 1, 1, 1, 1, 0.95], [0.0, 0.3, 0.0], 0.55)),
        model(CHECKPOINTS[2], rewards(7 / 14, [1, 1, 1, 1, 1, 0.3, 0], [0.0, 1.0, 1.0], 0.75)),
    ]


def write_all(folder: Path) -> dict[str, Path]:
    """Every report the CLI writes, by name → its .html."""
    evaluated = models()
    verdict = gate(evaluated[2], evaluated[0], Thresholds(min_gain=0.1, slice_tolerance=0.05))
    pages = {
        "eval": views.write_eval(folder / "eval", evaluated)[0],
        "gate": views.write_gate(folder / "gate", verdict, [evaluated[0], evaluated[2]])[0],
        "readiness": views.write_readiness(folder / "readiness", ready(folder, evaluated[0]))[0],
        "audit": views.write_audit(folder / "audit", audit(validate_grader(EXACT), rows()))[0],
        "demo": write_demo_report(folder / "demo", demo(evaluated[0], evaluated[2]))[0],
    }
    return pages


def ready(folder: Path, baseline: ModelEval) -> readiness.Readiness:
    """Readiness as `openrft readiness` builds it, less the sampling (its baseline is given)."""
    data = rows()
    for split, part in (("train", data[:25]), ("valid", data[25:])):
        text = "".join(json.dumps(row) + "\n" for row in part)
        (folder / f"{split}.jsonl").write_text(text, encoding="utf-8")
    result = readiness.Readiness()
    result.add("grader", "go", "string_check grader validates for training")
    grader = validate_grader(EXACT)
    readiness._data_checks(
        result, lint_files(folder / "train.jsonl", folder / "valid.jsonl", grader)
    )
    result.baseline = baseline
    readiness._signal_checks(result, baseline, 1.0)
    for question in readiness.HUMAN_QUESTIONS:
        result.add("for a person", "ask", question)
    return result


def demo(base: ModelEval, tuned: ModelEval) -> DemoResult:
    result = DemoResult(baseline=base, tuned=tuned, baseline_valid=0.31, seconds=95.0)
    for step in range(1, 51):
        valid = {25: 0.52, 50: 0.78}.get(step)
        result.curve.append({"step": step, "total": 50, "train": 0.3 + step / 100, "valid": valid})
    result.checkpoints = [
        {"step_number": step, "fine_tuned_model_checkpoint": name,
         "metrics": {"full_valid_mean_reward": reward}}
        for step, name, reward in ((25, CHECKPOINTS[0], 0.52), (50, CHECKPOINTS[1], 0.78))
    ]  # fmt: skip
    result.validation_runs = [
        {"step": step, "run": f"evalrun_{step}", "passed": passed, "failed": 100 - passed,
         "errored": 0, "total": 100}
        for step, passed in ((0, 31), (25, 52), (50, 78))
    ]  # fmt: skip
    result.verdict = gate(tuned, base, Thresholds(min_gain=0.1, slice_tolerance=0.5))
    result.chat = {"prompt": "Sort the digits 93172 in ascending order.", "answer": "12379"}
    result.job = {"id": "ftjob-1", "fine_tuned_model": JOB, "status": "succeeded"}
    return result
