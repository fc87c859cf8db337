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
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from operator import itemgetter
from typing import Any, cast

from openrft.graders import text_similarity
from openrft.graders.engine import as_failure
from openrft.graders.formula import FormulaError, FormulaMathError, compile_formula
from openrft.graders.graded import GradeColumn
from openrft.graders.multi import combine
from openrft.graders.result import GradeResult, failure
from openrft.graders.sample import Sample
from openrft.graders.schema import AnyGrader, MultiGrader, StringCheckGrader, TextSimilarityGrader
from openrft.graders.string_check import OPERATIONS
from openrft.graders.template import Ref, compile_template

Cell = str | Exception
_OUTPUT_TEXT = ("output_text",)


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
        scores = _string_check(spec.operation, texts, references, clean)
    else:
        scores = _similarity(spec.evaluation_metric, texts, references, clean)
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


def render_column(
    template: str, samples: Sequence[Sample | str], items: Sequence[Any], *, plain: bool = False
) -> tuple[Sequence[Cell], bool]:
    """One rendered string per row, or the exception that rendering that row raised; and
    whether every row rendered. `plain` says every sample is a string."""
    compiled = compile_template(template)
    single = compiled.single
    if not compiled.refs:
        return [template] * len(samples), True
    if single is not None and single.namespace == "sample" and single.steps == _OUTPUT_TEXT:
        if plain:
            return cast(Sequence[Cell], samples), True  # read only, never changed
        return [s if isinstance(s, str) else s.output_text for s in samples], True
    if single is not None and single.namespace == "item" and single.steps:
        fast = _item_key_column(single, items)
        if fast is not None:
            return fast, True
        cells = [_item_cell(single, compiled.render, item) for item in items]
    else:
        cells = [
            _render_cell(compiled.render, s, item) for s, item in zip(samples, items, strict=True)
        ]
    return cells, not any(isinstance(cell, Exception) for cell in cells)


def _item_key_column(ref: Ref, items: Sequence[Any]) -> list[Cell] | None:
    """`{{ item.key }}` when every row has that key as a string: one comprehension, no calls."""
    if len(ref.steps or ()) != 1 or not isinstance(key := (ref.steps or ("",))[0], str):
        return None
    try:
        column = list(map(itemgetter(key), items))
    except (KeyError, TypeError, IndexError):
        return None
    return column if set(map(type, column)) <= {str} else None


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
    operation: str, texts: Sequence[Cell], references: Sequence[Cell], clean: bool
) -> list[float | Exception]:
    compare = OPERATIONS[operation]
    if clean:
        pairs = zip(cast(Sequence[str], texts), cast(Sequence[str], references), strict=True)
        return [1.0 if compare(t, r) else 0.0 for t, r in pairs]
    return [
        (1.0 if compare(t, r) else 0.0) if type(t) is str and type(r) is str else _error(t, r)
        for t, r in zip(texts, references, strict=True)
    ]


def _error(text: Cell, reference: Cell) -> float | Exception:
    """The rendering error of a row (0.0 is a placeholder for rows that rendered)."""
    if isinstance(text, Exception):
        return text
    return reference if isinstance(reference, Exception) else 0.0


def _similarity(
    metric: str, texts: Sequence[Cell], references: Sequence[Cell], clean: bool
) -> list[float | Exception]:
    """`clean`: every row of both columns rendered to a string."""
    rows = range(len(texts)) if clean else [
        row for row, pair in enumerate(zip(texts, references, strict=True)) if _both_text(*pair)
    ]  # fmt: skip
    chosen = (
        (cast(Sequence[str], texts), cast(Sequence[str], references))  # no copy, usually
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


def _scores(metric: str, texts: Sequence[str], references: Sequence[str]) -> list[float]:
    """G2's edge cases, then the metric on the rest in one call."""
    if metric == "fuzzy_match":
        # WRatio already scores an empty side 0 and most identical pairs 1; only identical
        # strings that preprocess to nothing ("!!" vs "!!") need G2's rule applied after.
        scores = text_similarity.score_many(metric, texts, references)
        if 0.0 in scores:  # one C-speed scan; most batches have no zero
            for row in [row for row, score in enumerate(scores) if not score]:
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
