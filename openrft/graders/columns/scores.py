"""Scores of whole columns for the column path: string_check and text_similarity.

Each returns one score per row, or the exception of a row that could not be scored (its
rendering failed, or the metric did). `clean` says every row of both columns rendered, which
skips the per-row checks on the usual path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from openrft.graders import text_similarity
from openrft.graders.columns.render import Cell
from openrft.graders.string_check import OPERATIONS


def string_check(
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


def similarity(
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
