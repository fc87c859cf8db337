"""Local graders over a whole batch at once: the training loop's reward path.

A trainer scores a batch of completions per step, and `grade_many` scores files. For the
local graders (string_check, text_similarity except cosine, multi over those) this module
renders each template as a column (`render`), scores the column (`scores`;
fuzzy_match in one multi-threaded rapidfuzz call), runs a multi's formula over the reward
columns, and keeps the grades as a `GradeColumn`. The rewards and flags are exactly the per-row
engine's; the per-row `execution_time` is the batch's time divided by its rows.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, cast

from openrft.graders.columns.render import render_column
from openrft.graders.columns.scores import similarity, string_check
from openrft.graders.engine import as_failure
from openrft.graders.formula import FormulaError, FormulaMathError, compile_formula
from openrft.graders.graded import GradeColumn
from openrft.graders.multi import combine
from openrft.graders.result import GradeResult, failure
from openrft.graders.sample import Sample
from openrft.graders.schema import AnyGrader, MultiGrader, StringCheckGrader, TextSimilarityGrader


def grade_columns(
    spec: AnyGrader,
    samples: Sequence[Sample | str],
    items: Sequence[Any],
    *,
    plain: bool | None = None,
) -> GradeColumn:
    """Grade row i = (samples[i], items[i]) for a local grader; failures are flags.

    `plain`: whether every sample is a string, when the caller already knows."""
    start = time.perf_counter()
    with paused_gc():
        if plain is None:
            plain = set(map(type, samples)) <= {str}
        column = _grade(spec, samples, items, plain, set() if plain else _unparsed_rows(samples))
    column.set_time((time.perf_counter() - start) / max(1, len(column)))
    return column


@contextmanager
def paused_gc() -> Iterator[None]:
    """Nothing the column path builds has reference cycles; the collector's passes over a
    batch's many small objects would cost as much as the grading itself."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def releases_gil(spec: AnyGrader) -> bool:
    """Whether the grader's scoring runs in C with the GIL released (fuzzy_match does, in
    rapidfuzz), so two batches graded on two threads overlap; string_check is cheap and
    comes along; the other metrics are Python and would only contend."""
    if isinstance(spec, MultiGrader):
        return any(map(releases_gil, spec.graders.values())) and all(
            isinstance(sub, StringCheckGrader) or releases_gil(sub) for sub in spec.graders.values()
        )
    return isinstance(spec, TextSimilarityGrader) and spec.evaluation_metric == "fuzzy_match"


def _unparsed_rows(samples: Sequence[Sample | str]) -> set[int]:
    """Rows whose sample broke its `response_format`: every grader flags them."""
    return {
        row
        for row, s in enumerate(samples)
        if isinstance(s, Sample) and s.json_expected and s.parse_failed
    }


def _grade(
    spec: AnyGrader,
    samples: Sequence[Sample | str],
    items: Sequence[Any],
    plain: bool,
    unparsed: set[int],
) -> GradeColumn:
    """`plain`: every sample is a string; `unparsed`: rows whose JSON sample did not parse."""
    if isinstance(spec, MultiGrader):
        subs = {
            key: _grade(sub, samples, items, plain, unparsed) for key, sub in spec.graders.items()
        }
        return _combine(spec, subs)
    if not isinstance(spec, StringCheckGrader | TextSimilarityGrader):
        raise TypeError(f"{spec.type} is not a local grader")
    texts, all_text = render_column(spec.input, samples, items, plain=plain)
    references, all_references = render_column(spec.reference, samples, items, plain=plain)
    clean = all_text and all_references
    if isinstance(spec, StringCheckGrader):
        scores = string_check(spec.operation, texts, references, clean)
    else:
        scores = similarity(spec.evaluation_metric, texts, references, clean)
    # On a clean batch either every score is a float or the metric failed on all of them.
    if not unparsed and (type(scores[0]) is float if clean and scores else not _any_error(scores)):
        return GradeColumn(cast(list[float], scores))  # every row graded: no per-row work
    rewards: list[float] = []
    failures: dict[int, GradeResult] = {}
    flagged: dict[int, GradeResult] = {}  # one as_failure (and one log line) per exception
    for row, score in enumerate(scores):
        if row in unparsed:
            failures[row] = failure("sample_parse_error")
        elif isinstance(score, Exception):
            first = flagged.get(id(score)) or flagged.setdefault(id(score), as_failure(score))
            failures[row] = replace(first, errors=dict(first.errors or {}))
        else:
            rewards.append(score)
            continue
        rewards.append(0.0)
    return GradeColumn(rewards, failures=failures)


def _any_error(scores: list[float | Exception]) -> bool:
    return not set(map(type, scores)) <= {float}


def _combine(spec: MultiGrader, subs: dict[str, GradeColumn]) -> GradeColumn:
    """The formula over the sub-graders' reward columns at once; rows where a sub-grader
    failed, and every row of a batch where the formula failed on some row, go through
    `multi.combine`, which merges flags exactly as the per-row engine does."""
    columns = {key: column.rewards for key, column in subs.items()}
    rows = len(next(iter(subs.values()), GradeColumn([])))
    special: set[int] = set().union(*(column.failures for column in subs.values()))
    try:
        rewards = compile_formula(spec.calculate_output, set(subs)).columns(columns, rows)
    except (FormulaError, FormulaMathError):
        rewards, special = [0.0] * rows, set(range(rows))
    failures: dict[int, GradeResult] = {}
    for row in sorted(special):
        result = combine(spec, {key: column.result(row) for key, column in subs.items()})
        rewards[row] = result.reward
        if result.errors:
            failures[row] = result
    return GradeColumn(rewards, failures=failures, subs=columns)
