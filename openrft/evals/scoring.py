"""Grading an eval run's rows into output items, and the run's running totals (spec §9).

An output item passes when every testing criterion passes (decision G3: `pass_threshold`, or
the top of the grader's range). It is errored when its answer could not be made or a criterion
raised an error flag: its status is `error`, and it counts as neither passed nor failed, in
`result_counts` (`errored`) and for each criterion whose grade errored or never ran
(`per_testing_criteria_results[i].errored`), so each count set adds up to the items graded and
`status=fail` lists exactly the `failed` items (decision E1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openrft.graders import (
    AnyGrader,
    GraderContext,
    GradeResult,
    Sample,
    agrade_many,
    grade_columns,
    grade_many,
    is_sync,
    pass_line,
    passed,
)
from openrft.store.db import Row, loads

__all__ = [
    "Answered", "LocalGrades", "Totals", "build_items", "criteria_counts", "grade_local",
    "graded_items",
]  # fmt: skip

Answered = tuple[Sample | None, dict[str, Any]]
"""A row's sample to grade (None when no answer could be made) and its `sample` record."""


async def graded_items(
    criteria: list[dict[str, Any]],
    graders: list[AnyGrader],
    rows: list[dict[str, Any]],
    answered: list[Answered],
    first_row: int,
    context: GraderContext,
) -> list[dict[str, Any]]:
    """One output item per row, in row order; rows without a sample are errored ungraded."""
    ready, pairs, grades = _ready(rows, answered)
    for grader in graders:
        if is_sync(grader):  # the column path: no coroutine per row, the same grades
            report = grade_many(grader, pairs, context=context)
        else:
            report = await agrade_many(grader, pairs, context=context)
        for index, result in zip(ready, report.results, strict=True):
            grades[index].append(result)
    return _items(criteria, graders, rows, answered, grades, first_row)


@dataclass
class LocalGrades:
    """A chunk graded by criteria that all grade in-process, kept as columns: no result
    object or output item is built per row (`output_items` builds them when read)."""

    statuses: str
    """One letter per row: `p`, `f` or `e` (`output_items.STATUS_LETTERS`)."""
    results: dict[str, Any]
    """Per criterion its name and type, and its score and pass per row; the error flags of
    each (row, criterion) that raised some."""
    per_criterion: list[tuple[int, int]]
    """Rows that passed and rows that errored, per criterion."""


def grade_local(
    criteria: list[dict[str, Any]],
    graders: list[AnyGrader],
    samples: list[Sample | str],
    items: list[Any],
) -> LocalGrades:
    """The grades `graded_items` gives rows that all have a sample, where every criterion
    grades in-process, as columns."""
    plain = all(type(sample) is str for sample in samples)
    scores, passes, flags, per = [], [], [], []
    errored: set[int] = set()
    for column, grader in enumerate(graders):
        graded = grade_columns(grader, samples, items, plain=plain)
        line = pass_line(grader)
        score = list(graded.rewards)
        passing = [reward >= line for reward in score]
        for row, result in graded.failures.items():  # the rows whose result is its own
            score[row], passing[row] = result.reward, passed(grader, result)
        failed = {row: result for row, result in graded.failures.items() if result.errors}
        flags += [[row, column, result.errors] for row, result in failed.items()]
        errored.update(failed)
        scores.append(score)
        passes.append(passing)
        per.append((sum(passing), len(failed)))
    every = map(all, zip(*passes, strict=True)) if passes else [True] * len(samples)
    letters = ["p" if ok else "f" for ok in every]
    for row in errored:
        letters[row] = "e"
    names = [[criterion["name"], criterion["type"]] for criterion in criteria]
    results = {"criteria": names, "score": scores, "passed": passes, "errors": flags}
    return LocalGrades("".join(letters), results, per)


def _ready(
    rows: list[dict[str, Any]], answered: list[Answered]
) -> tuple[list[int], list[tuple[Any, Any]], dict[int, list[GradeResult]]]:
    """The rows with a sample to grade, their (sample, item) pairs, and empty grades."""
    ready = [index for index, (sample, _) in enumerate(answered) if sample is not None]
    pairs = [(answered[index][0], rows[index]["item"]) for index in ready]
    return ready, pairs, {index: [] for index in ready}


def _items(
    criteria: list[dict[str, Any]],
    graders: list[AnyGrader],
    rows: list[dict[str, Any]],
    answered: list[Answered],
    grades: dict[int, list[GradeResult]],
    first_row: int,
) -> list[dict[str, Any]]:
    records = [record for _, record in answered]
    items = [row["item"] for row in rows]
    return build_items(criteria, graders, items, records, grades, first_row)


def build_items(
    criteria: list[dict[str, Any]],
    graders: list[AnyGrader],
    items: list[Any],
    records: list[dict[str, Any]],
    grades: dict[int, list[GradeResult]],
    first_row: int,
) -> list[dict[str, Any]]:
    """Output items from grades (`grades[i]`: row i's result per criterion; a row missing
    from `grades` had no answer and is errored)."""
    built = []
    for index, (item, record) in enumerate(zip(items, records, strict=True)):
        row_grades = grades.get(index, [])
        results = [
            _result(criterion, grader, result)
            for criterion, grader, result in zip(criteria, graders, row_grades, strict=False)
        ]
        errored = index not in grades or any(result.errors for result in row_grades)
        passing = not errored and all(result["passed"] for result in results)
        built.append({
            "row": first_row + index, "status": _status(errored, passing),
            "errored": errored, "item": item, "results": results, "sample": record,
            "judges": [result.usage_per_model or {} for result in row_grades],
        })  # fmt: skip
    return built


def _status(errored: bool, passing: bool) -> str:
    return "error" if errored else "pass" if passing else "fail"


def _result(criterion: dict[str, Any], grader: AnyGrader, result: GradeResult) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": criterion["name"],
        "type": criterion["type"],
        "score": result.reward,
        "passed": passed(grader, result),
        "sample": None,
    }
    if result.errors:  # the same flags `graders/run` reports, so a failure says why
        body["errors"] = result.errors
    return body


def criteria_counts(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`per_testing_criteria_results` before any row: OpenAI's keys, plus `errored`."""
    return [{"testing_criteria": c["id"], "passed": 0, "failed": 0, "errored": 0} for c in criteria]


def _outcome(passed: bool) -> str:
    return "passed" if passed else "failed"


@dataclass
class Totals:
    """A run's `result_counts`, `per_testing_criteria_results` and `per_model_usage`."""

    counts: dict[str, int]
    per_criteria: list[dict[str, Any]]
    usage: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def empty(cls, criteria: list[dict[str, Any]]) -> Totals:
        return cls({"total": 0, "errored": 0, "failed": 0, "passed": 0}, criteria_counts(criteria))

    @classmethod
    def of(cls, run: Row) -> Totals:
        """The totals a run has written so far (a resumed run goes on from them)."""
        usage = {entry["model_name"]: entry for entry in loads(run["usage"])}
        return cls(loads(run["counts"]), loads(run["per_criteria"]), usage)

    def add(self, items: list[dict[str, Any]], model: str) -> None:
        for item in items:
            outcome = "errored" if item["errored"] else _outcome(item["status"] == "pass")
            self.counts["total"] += 1
            self.counts[outcome] += 1
            for entry, result in zip(self.per_criteria, item["results"], strict=False):
                graded = "errored" if "errors" in result else _outcome(result["passed"])
                entry[graded] = entry.get(graded, 0) + 1  # runs stored before `errored` lack it
            for entry in self.per_criteria[len(item["results"]) :]:
                entry["errored"] = entry.get("errored", 0) + 1  # its answer never came
            if model and not item["sample"].get("error"):
                self._use(model, item["sample"]["usage"])
            for judges in item["judges"]:
                for name, tokens in judges.items():
                    self._use(name, tokens)

    def add_local(self, grades: LocalGrades) -> None:
        """`add` for a chunk graded in columns (no model answered it, no judge graded it)."""
        statuses = grades.statuses
        self.counts["total"] += len(statuses)
        for outcome, letter in (("errored", "e"), ("failed", "f"), ("passed", "p")):
            self.counts[outcome] += statuses.count(letter)
        for entry, (passing, errored) in zip(self.per_criteria, grades.per_criterion, strict=False):
            failing = len(statuses) - passing - errored
            for key, count in (("passed", passing), ("failed", failing), ("errored", errored)):
                if count:  # runs stored before `errored` lack it: added once it counts
                    entry[key] = entry.get(key, 0) + count

    def _use(self, model: str, tokens: dict[str, Any]) -> None:
        entry = self.usage.setdefault(model, {
            "model_name": model, "invocation_count": 0, "prompt_tokens": 0,
            "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0,
        })  # fmt: skip
        entry["invocation_count"] += 1
        for key in ("prompt_tokens", "completion_tokens", "total_tokens", "cached_tokens"):
            entry[key] += int(tokens.get(key) or 0)

    def as_record(self) -> dict[str, Any]:
        return {
            "counts": self.counts,
            "per_criteria": self.per_criteria,
            "usage": list(self.usage.values()),
        }
