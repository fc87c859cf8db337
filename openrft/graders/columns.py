"""Local graders over a whole batch at once: the training loop's reward path.

A trainer scores a batch of completions per step, and `grade_many` scores files. For the
local graders (string_check, text_similarity except cosine, multi over those) this module
renders each template as a column, scores the column (fuzzy_match in one multi-threaded
rapidfuzz call), and builds the results. The rewards are exactly the per-row engine's; the
per-row `execution_time` is the batch's time divided by its rows.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Sequence
from typing import Any, cast

from openrft.graders import text_similarity
from openrft.graders.engine import as_failure
from openrft.graders.multi import combine
from openrft.graders.result import GradeResult, failure
from openrft.graders.sample import Sample
from openrft.graders.schema import AnyGrader, MultiGrader, StringCheckGrader, TextSimilarityGrader
from openrft.graders.string_check import OPERATIONS
from openrft.graders.template import Ref, compile_template

Cell = str | Exception
_OUTPUT_TEXT = ("output_text",)


def grade_columns(
    spec: AnyGrader, samples: Sequence[Sample | str], items: Sequence[Any]
) -> list[GradeResult]:
    """Grade row i = (samples[i], items[i]) for a local grader; failures are flags."""
    start = time.perf_counter()
    # Nothing here makes reference cycles; the collector's passes over the batch's many small
    # objects would cost as much as the grading itself.
    collecting = gc.isenabled()
    gc.disable()
    try:
        results = _grade(spec, samples, items)
    finally:
        if collecting:
            gc.enable()
    share = (time.perf_counter() - start) / max(1, len(results))
    for result in results:
        result.execution_time = share
    return results


def _grade(
    spec: AnyGrader, samples: Sequence[Sample | str], items: Sequence[Any]
) -> list[GradeResult]:
    if isinstance(spec, MultiGrader):
        columns = {key: _grade(sub, samples, items) for key, sub in spec.graders.items()}
        return [
            combine(spec, {key: column[row] for key, column in columns.items()})
            for row in range(len(samples))
        ]
    if not isinstance(spec, StringCheckGrader | TextSimilarityGrader):
        raise TypeError(f"{spec.type} is not a local grader")
    texts = render_column(spec.input, samples, items)
    references = render_column(spec.reference, samples, items)
    parse_failed = [isinstance(s, Sample) and s.json_expected and s.parse_failed for s in samples]
    if isinstance(spec, StringCheckGrader):
        scores = _string_check(spec.operation, texts, references)
    else:
        scores = _similarity(spec.evaluation_metric, texts, references)
    return [
        failure("sample_parse_error") if bad else _result(score)
        for score, bad in zip(scores, parse_failed, strict=True)
    ]


def _result(score: float | Exception) -> GradeResult:
    return as_failure(score) if isinstance(score, Exception) else GradeResult(score)


def render_column(
    template: str, samples: Sequence[Sample | str], items: Sequence[Any]
) -> list[Cell]:
    """One rendered string per row, or the exception that rendering that row raised."""
    compiled = compile_template(template)
    single = compiled.single
    if not compiled.refs:
        return [template] * len(samples)
    if single is not None and single.namespace == "sample" and single.steps == _OUTPUT_TEXT:
        return [s if isinstance(s, str) else s.output_text for s in samples]
    if single is not None and single.namespace == "item" and single.steps:
        fast = _item_key_column(single, items)
        if fast is not None:
            return fast
        return [_item_cell(single, compiled.render, item) for item in items]
    return [_render_cell(compiled.render, s, item) for s, item in zip(samples, items, strict=True)]


def _item_key_column(ref: Ref, items: Sequence[Any]) -> list[Cell] | None:
    """`{{ item.key }}` when every row has that key as a string: one comprehension, no calls."""
    if len(ref.steps or ()) != 1 or not isinstance(key := (ref.steps or ("",))[0], str):
        return None
    try:
        column = [item[key] for item in items]
    except (KeyError, TypeError, IndexError):
        return None
    return column if all(type(value) is str for value in column) else None


def _item_cell(ref: Ref, render: Any, item: Any) -> Cell:
    """The common `{{ item.key }}` holding a string, without the general renderer."""
    value = item
    try:
        for step in ref.steps or ():
            value = value[step]
    except (KeyError, IndexError, TypeError):
        value = None
    return value if isinstance(value, str) else _render_cell(render, None, item)


def _render_cell(render: Any, sample: Sample | str | None, item: Any) -> Cell:
    try:
        return str(render(Sample(sample) if isinstance(sample, str) else sample, item))
    except Exception as exc:
        return exc


def _string_check(
    operation: str, texts: list[Cell], references: list[Cell]
) -> list[float | Exception]:
    compare = OPERATIONS[operation]
    return [
        (1.0 if compare(t, r) else 0.0) if type(t) is str and type(r) is str else _error(t, r)
        for t, r in zip(texts, references, strict=True)
    ]


def _error(text: Cell, reference: Cell) -> float | Exception:
    """The rendering error of a row (0.0 is a placeholder for rows that rendered)."""
    if isinstance(text, Exception):
        return text
    return reference if isinstance(reference, Exception) else 0.0


def _similarity(metric: str, texts: list[Cell], references: list[Cell]) -> list[float | Exception]:
    clean = all(type(t) is str for t in texts) and all(type(r) is str for r in references)
    rows = range(len(texts)) if clean else [
        row for row, pair in enumerate(zip(texts, references, strict=True)) if _both_text(*pair)
    ]  # fmt: skip
    chosen = (
        (cast(list[str], texts), cast(list[str], references))  # no copy on the usual path
        if clean
        else ([cast(str, texts[row]) for row in rows], [cast(str, references[row]) for row in rows])
    )
    try:
        computed: list[float | Exception] = list(_scores(metric, *chosen))
    except Exception as exc:  # e.g. a metric whose data is missing: every row says so
        computed = [exc] * len(rows)
    if clean:
        return computed
    scores = [_error(t, r) for t, r in zip(texts, references, strict=True)]
    for row, score in zip(rows, computed, strict=True):
        scores[row] = score
    return scores


def _both_text(text: Cell, reference: Cell) -> bool:
    return type(text) is str and type(reference) is str


def _scores(metric: str, texts: list[str], references: list[str]) -> list[float]:
    """G2's edge cases, then the metric on the rest in one call."""
    if metric == "fuzzy_match":
        # WRatio already scores an empty side 0 and most identical pairs 1; only identical
        # strings that preprocess to nothing ("!!" vs "!!") need G2's rule applied after.
        scores = text_similarity.score_many(metric, texts, references)
        zeros = [row for row, score in enumerate(scores) if not score]
        for row in zeros:
            if texts[row] == references[row]:
                scores[row] = 1.0
        return scores
    fixed = [text_similarity.edge_case(t, r) for t, r in zip(texts, references, strict=True)]
    rows = [row for row, score in enumerate(fixed) if score is None]
    computed = text_similarity.score_many(
        metric, [texts[row] for row in rows], [references[row] for row in rows]
    )
    for row, score in zip(rows, computed, strict=True):
        fixed[row] = score
    return [float(score or 0.0) for score in fixed]
