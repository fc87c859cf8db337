"""A job's validation runs (openrft.jobs.validation_runs), on a real store: a step validated
again after a resume replaces its run; a deleted eval is left deleted and never fails training.
Each test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from openrft.evals.records import EvalStore
from openrft.graders import GradeResult, Sample, validate_grader
from openrft.jobs.validation_runs import ValidationRuns, job_eval_fields
from openrft.store.db import Database, loads

pytestmark = pytest.mark.usefixtures("store_backend")

GRADER = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
          "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
ROWS = [{"messages": [{"role": "user", "content": f"q{i}"}], "answer": str(i)} for i in range(3)]


def job_with_eval(db: Database, store: EvalStore) -> dict[str, object]:
    evaluation = store.create_eval("alpha", job_eval_fields("ftjob-x", GRADER))
    return {"id": "ftjob-x", "project": "alpha", "eval_id": evaluation["id"], "model": "m",
            "fine_tuned_model": None, "validation_file": "file-v", "training_file": "file-t"}  # fmt: skip


def answers(text: str) -> list[tuple[dict[str, object], Sample, GradeResult, int]]:
    return [(row, Sample(text), GradeResult(float(row["answer"] == text)), 2) for row in ROWS]


def test_a_step_validated_again_replaces_its_run(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = EvalStore(db)
    job = job_with_eval(db, store)
    hook = ValidationRuns(store, job, validate_grader(GRADER))  # type: ignore[arg-type]
    hook(3, answers("0"))
    hook(3, answers("1"))  # the same step after a resume, answered differently
    hook(4, answers("2"))
    runs, more = store.run_page("alpha", str(job["eval_id"]), None, 10, "asc", None)
    assert [run["name"] for run in runs] == ["step 3", "step 4"] and not more
    items, _ = store.item_page("alpha", str(job["eval_id"]), runs[0]["id"], None, 10, "asc", None)
    assert [item["status"] for item in items] == ["fail", "pass", "fail"]  # the second answers
    assert db.one("SELECT SUM(row_count) AS n FROM eval_chunks")["n"] == 6  # type: ignore[index]


def test_a_deleted_eval_is_left_deleted(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = EvalStore(db)
    job = job_with_eval(db, store)
    store.delete_eval("alpha", str(job["eval_id"]))
    ValidationRuns(store, job, validate_grader(GRADER))(1, answers("0"))  # type: ignore[arg-type]
    assert db.one("SELECT COUNT(*) AS n FROM eval_runs")["n"] == 0  # type: ignore[index]
    assert db.one("SELECT COUNT(*) AS n FROM evals")["n"] == 0  # type: ignore[index]


def test_a_job_with_an_eval_grader_gets_its_grades_as_a_second_criterion(tmp_path: Path) -> None:
    db = Database(tmp_path)
    store = EvalStore(db)
    judge = {**GRADER, "operation": "ne"}  # same name: the eval's criterion is told apart
    evaluation = store.create_eval("alpha", job_eval_fields("ftjob-y", GRADER, judge))
    job = {"id": "ftjob-y", "project": "alpha", "eval_id": evaluation["id"], "model": "m",
           "fine_tuned_model": None, "validation_file": "file-v", "training_file": "file-t"}  # fmt: skip
    hook = ValidationRuns(store, job, validate_grader(GRADER), validate_grader(judge))  # type: ignore[arg-type]
    rewards = answers("0")
    hook(1, rewards, eval_grades=[GradeResult(1.0 - g.reward) for _, _, g, _ in rewards])
    runs, _ = store.run_page("alpha", str(job["eval_id"]), None, 10, "asc", None)
    per = {c["testing_criteria"]: c for c in loads(runs[0]["per_criteria"])}
    assert (per["exact-ftjob-y"]["passed"], per["exact-ftjob-y"]["failed"]) == (1, 2)
    assert (per["exact (eval)-eval-ftjob-y"]["passed"],
            per["exact (eval)-eval-ftjob-y"]["failed"]) == (2, 1)  # fmt: skip
    items, _ = store.item_page("alpha", str(job["eval_id"]), runs[0]["id"], None, 10, "asc", None)
    names = [[r["name"] for r in item["results"]] for item in items]
    assert names == [["exact", "exact (eval)"]] * 3
