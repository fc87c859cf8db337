"""A reinforcement job's validation steps as runs of the job's eval (spec §5.7).

The server creates one eval per job (`job.eval_id`) whose testing criterion is the job's
grader. Each time the trainer validates (step 0 is the baseline), the job child writes a
completed run named `step N` with one output item per validation sample: the prompt, the answer,
the grade. A user reads them with `client.evals.runs.output_items.list` to see what the policy
answered and how the grader scored it, step by step.

Guarantees: a step validated again after a resume replaces its earlier run, so each step has
one run; an eval the user deleted is left deleted (the job goes on without runs).
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from openrft.errors import NotFoundError
from openrft.evals.records import EvalStore
from openrft.evals.scoring import Totals, build_items
from openrft.graders import AnyGrader, GradeResult, Sample
from openrft.store.db import loads

__all__ = ["Answer", "ValidationRuns", "job_eval_fields"]

Answer = tuple[dict[str, Any], Sample, GradeResult, int]
"""One validation sample: its row, the policy's answer, the grade, completion tokens."""

log = logging.getLogger(__name__)

ITEM_SCHEMA = {"type": "object"}


def job_eval_fields(job_id: str, grader: dict[str, Any]) -> dict[str, Any]:
    """The eval a new job gets: its grader as the one testing criterion."""
    criterion = {**grader, "id": f"{grader.get('name') or grader['type']}-{job_id}"}
    schema = {"type": "object", "properties": {"item": ITEM_SCHEMA}, "required": ["item"]}
    return {
        "name": f"{job_id} validation",
        "metadata": {"fine_tuning_job_id": job_id},
        "config": {"type": "custom", "schema": schema},
        "criteria": [criterion],
    }


class ValidationRuns:
    """The trainer's `ValidationHook`. `grader` is the job's, as its spec carries it: the
    eval's one testing criterion is that grader, so it is not validated here again."""

    def __init__(self, store: EvalStore, job: sqlite3.Row, grader: AnyGrader):
        self.store, self.job, self.grader = store, job, grader

    def __call__(self, step: int, answers: list[Answer]) -> None:
        try:
            self._record(step, answers)
        except NotFoundError:
            pass  # the user deleted the job's eval
        except Exception:  # boundary: a run not written never stops the training
            log.exception("validation run for step %d of %s not written", step, self.job["id"])

    def _record(self, step: int, answers: list[Answer]) -> None:
        evaluation = self.store.eval_row(self.job["project"], self.job["eval_id"])
        criteria = loads(evaluation["criteria"])[:1]  # the job's grader (`job_eval_fields`)
        graders = [self.grader]
        model = self.job["fine_tuned_model"] or self.job["model"]
        records = [_sample_record(model, row, sample, tokens) for row, sample, _, tokens in answers]
        grades = {index: [grade] for index, (_, _, grade, _) in enumerate(answers)}
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
