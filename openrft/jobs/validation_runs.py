"""A reinforcement job's validation steps as runs of the job's eval (spec §5.7).

The server creates one eval per job (`job.eval_id`) whose testing criterion is the job's
grader, and a second one for a job with a `settings.eval_grader` (graded by the trainer on the
same samples: `openrft.train.eval_metric`). Each time the trainer validates (step 0 is the
baseline), the job child writes a completed run named `step N` with one output item per
validation sample: the prompt, the answer, the grade(s). A user reads them with
`client.evals.runs.output_items.list` to see what the policy answered and how the grader scored
it, step by step.

Guarantees: a step validated again after a resume replaces its earlier run, so each step has
one run; an eval the user deleted is left deleted (the job goes on without runs).
"""

from __future__ import annotations

import logging
from typing import Any

from openrft.errors import NotFoundError
from openrft.evals.records import EvalStore
from openrft.evals.scoring import Totals, build_items
from openrft.graders import AnyGrader, GradeResult, Sample
from openrft.store.db import Row, loads

__all__ = ["Answer", "ValidationRuns", "job_eval_fields"]

Answer = tuple[dict[str, Any], Sample, GradeResult, int]
"""One validation sample: its row, the policy's answer, the grade, completion tokens."""

log = logging.getLogger(__name__)

ITEM_SCHEMA = {"type": "object"}


def job_eval_fields(
    job_id: str, grader: dict[str, Any], eval_grader: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The eval a new job gets: its grader as the first testing criterion, its eval grader (if
    any) as the second, renamed `... (eval)` when the two share a name."""
    name = grader.get("name") or grader["type"]
    criteria = [{**grader, "id": f"{name}-{job_id}"}]
    if eval_grader is not None:
        eval_name = eval_grader.get("name") or eval_grader["type"]
        eval_name = f"{eval_name} (eval)" if eval_name == name else eval_name
        criteria.append({**eval_grader, "name": eval_name, "id": f"{eval_name}-eval-{job_id}"})
    schema = {"type": "object", "properties": {"item": ITEM_SCHEMA}, "required": ["item"]}
    return {
        "name": f"{job_id} validation",
        "metadata": {"fine_tuning_job_id": job_id},
        "config": {"type": "custom", "schema": schema},
        "criteria": criteria,
    }


class ValidationRuns:
    """The trainer's `ValidationHook`. `grader` is the job's, as its spec carries it: the
    eval's first testing criterion is that grader, so it is not validated here again; the
    second, when the job has one, is `eval_grader`, whose grades the trainer hands over."""

    def __init__(
        self,
        store: EvalStore,
        job: Row,
        grader: AnyGrader,
        eval_grader: AnyGrader | None = None,
    ):
        self.store, self.job, self.grader, self.eval_grader = store, job, grader, eval_grader

    def __call__(
        self, step: int, answers: list[Answer], eval_grades: list[GradeResult] | None = None
    ) -> None:
        try:
            self._record(step, answers, eval_grades)
        except NotFoundError:
            pass  # the user deleted the job's eval
        except Exception:  # boundary: a run not written never stops the training
            log.exception("validation run for step %d of %s not written", step, self.job["id"])

    def _record(
        self, step: int, answers: list[Answer], eval_grades: list[GradeResult] | None
    ) -> None:
        evaluation = self.store.eval_row(self.job["project"], self.job["eval_id"])
        graders = [self.grader]
        grades = {index: [grade] for index, (_, _, grade, _) in enumerate(answers)}
        if self.eval_grader is not None and eval_grades is not None:
            graders.append(self.eval_grader)
            for index, grade in enumerate(eval_grades):
                grades[index].append(grade)
        # The job's grader, then its eval grader (`job_eval_fields`).
        criteria = loads(evaluation["criteria"])[: len(graders)]
        model = self.job["fine_tuned_model"] or self.job["model"]
        records = [_sample_record(model, row, sample, tokens) for row, sample, _, tokens in answers]
        rows = [row for row, _, _, _ in answers]
        items = build_items(criteria, graders, rows, records, grades, 0)
        totals = Totals.empty(criteria)
        totals.add(items, model)
        fields = {"name": f"step {step}", "model": model, "metadata": {"step": str(step)},
                  "data_source": {"type": "jsonl", "source": {"type": "file_id",
                                                              "id": self._file()}}}  # fmt: skip
        self.store.record_run(self.job["project"], evaluation["id"], fields, items,
                              totals.as_record())  # fmt: skip

    def _file(self) -> str:
        return str(self.job["validation_file"] or self.job["training_file"])


def _sample_record(model: str, row: dict[str, Any], sample: Sample, tokens: int) -> dict[str, Any]:
    messages = row.get("messages") or []
    asked = [{"role": m.get("role", "user"), "content": _text(m.get("content"))} for m in messages]
    choice = (sample.choices or [{}])[0]
    return {
        "input": asked,
        "output": [{"role": "assistant", "content": sample.output_text}],
        "finish_reason": choice.get("finish_reason") or "stop",
        "model": model,
        "usage": {
            "prompt_tokens": 0,
            "completion_tokens": tokens,
            "total_tokens": tokens,
            "cached_tokens": 0,
        },
        "error": None,
        "temperature": None,
        "max_completion_tokens": None,
        "top_p": None,
        "seed": None,
    }


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return "" if content is None else str(content)
