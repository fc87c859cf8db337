"""Grading many rows: concurrency for remote graders, a tight loop for local ones, a summary.

`grade_many()` returns every result in row order plus what a person wants to see first: the
mean reward per grader (a multi's sub-graders included), error counts by flag and latency
percentiles. Remote graders (python, model, cosine) run `concurrency` rows at a time.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from openrft.graders.columns.grade import grade_columns, paused_gc, releases_gil
from openrft.graders.context import GraderContext
from openrft.graders.engine import agrade, is_sync
from openrft.graders.graded import GradeColumn
from openrft.graders.result import ERROR_FLAGS, GradeResult, sum_usage
from openrft.graders.sample import Sample
from openrft.graders.schema import AnyGrader, MultiGrader, display_name
from openrft.graders.validation import validate_grader

Row = tuple[Sample, Any]
Progress = Callable[[int], None]
DEFAULT_CONCURRENCY = 32
_LOCAL_CHUNK = 8192


@dataclass
class BatchReport:
    grader_name: str
    results: GradeColumn
    """Every row's grade, in row order (a sequence of `GradeResult`)."""
    elapsed: float
    """Wall seconds for the whole batch."""
    sub_names: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.results)

    def mean(self, key: str | None = None) -> float:
        """Mean reward of the grader, or of one multi sub-grader by its map key."""
        return self.results.mean(key)

    def error_counts(self) -> dict[str, int]:
        """How many rows raised each flag (a row can raise several)."""
        counts: Counter[str] = Counter()
        for result in self.results.failures.values():
            counts.update(flag for flag in ERROR_FLAGS if (result.errors or {}).get(flag))
        return dict(counts)

    def latency(self, quantile: float) -> float:
        times = self.results.execution_time
        if isinstance(times, float):  # the column path: every row got the same share
            return times if self.count else math.nan
        return percentile(times, quantile)

    def summary(self) -> dict[str, Any]:
        means = {self.grader_name: self.mean()}
        means.update({key: self.mean(key) for key in self.sub_names})
        usage = self.results.usages()
        return {
            "rows": self.count,
            "mean_reward": means,
            "errored_rows": len(self.results.failures),
            "errors": self.error_counts(),
            "latency_p50_s": self.latency(0.50),
            "latency_p95_s": self.latency(0.95),
            "elapsed_s": self.elapsed,
            "grades_per_second": self.count / self.elapsed if self.elapsed > 0 else math.inf,
            "token_usage": sum_usage(usage) if usage else None,
        }


def percentile(values: list[float], quantile: float) -> float:
    """Linear-interpolated percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = quantile * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def to_columns(rows: Iterable[Any]) -> tuple[list[Sample | str], list[Any], bool]:
    """Accept `(sample, item)` pairs or `{"sample": ..., "item": ...}` dicts; say whether
    every sample is a plain string (the local path then reads them directly)."""
    rows = rows if isinstance(rows, list) else list(rows)
    if set(map(type, rows)) <= {dict}:  # the usual shape: a few passes at C speed
        samples = _column(rows, "sample", "")
        items = _column(rows, "item", None)
        if None in items:
            items = [{} if item is None else item for item in items]
        if set(map(type, samples)) <= {str}:
            return samples, items, True
        return [s if isinstance(s, str) else Sample.coerce(s) for s in samples], items, False
    samples = []
    items = []
    for row in rows:
        sample, item = (row.get("sample", ""), row.get("item")) if isinstance(row, dict) else row
        samples.append(sample if isinstance(sample, str) else Sample.coerce(sample))
        items.append(item if item is not None else {})
    return samples, items, all(type(s) is str for s in samples)


def _column(rows: list[dict[str, Any]], key: str, default: Any) -> list[Any]:
    try:
        return list(map(itemgetter(key), rows))
    except KeyError:
        return [row.get(key, default) for row in rows]


def grade_many(
    grader: AnyGrader | dict[str, Any],
    rows: Iterable[Any],
    *,
    context: GraderContext | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> BatchReport:
    """Grade every row; results come back in row order."""
    spec = validate_grader(grader) if isinstance(grader, dict) else grader
    samples, items, plain = to_columns(rows)
    start = time.perf_counter()
    results: GradeColumn | list[GradeResult]
    if is_sync(spec):
        results = _grade_local(spec, samples, items, plain, progress)
    else:
        prepared = [(Sample.coerce(s), item) for s, item in zip(samples, items, strict=True)]
        results = asyncio.run(_grade_remote(spec, prepared, context, concurrency, progress))
    return _report(spec, results, time.perf_counter() - start)


async def agrade_many(
    grader: AnyGrader,
    rows: Iterable[Any],
    *,
    context: GraderContext | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> BatchReport:
    """`grade_many` for callers inside an event loop."""
    samples, items, _ = to_columns(rows)
    prepared = [(Sample.coerce(s), item) for s, item in zip(samples, items, strict=True)]
    start = time.perf_counter()
    results = await _grade_remote(grader, prepared, context, concurrency, progress)
    return _report(grader, results, time.perf_counter() - start)


def _grade_local(
    spec: AnyGrader,
    samples: list[Sample | str],
    items: list[Any],
    plain: bool,
    progress: Progress | None,
) -> GradeColumn:
    """Local graders run column-wise in chunks, so progress moves on long files. Where the
    scoring runs without the GIL (fuzzy_match), two chunks are in flight at once: one chunk's
    scoring overlaps the next one's rendering. Every row gets the batch's time / rows."""
    start = time.perf_counter()
    starts = range(0, len(samples), _LOCAL_CHUNK)

    def chunk(first: int) -> GradeColumn:
        last = first + _LOCAL_CHUNK
        return grade_columns(spec, samples[first:last], items[first:last], plain=plain)

    parts: list[GradeColumn] = []
    with paused_gc(), ThreadPoolExecutor(2, thread_name_prefix="openrft-grade") as pool:
        overlap = len(starts) > 1 and releases_gil(spec)
        for part in pool.map(chunk, starts) if overlap else map(chunk, starts):
            parts.append(part)
            if progress is not None:
                progress(min(len(samples), len(parts) * _LOCAL_CHUNK))
    share = (time.perf_counter() - start) / max(1, len(samples))
    return GradeColumn.concat(parts, share)


async def _grade_remote(
    spec: AnyGrader,
    rows: list[Row],
    context: GraderContext | None,
    concurrency: int,
    progress: Progress | None,
) -> list[GradeResult]:
    ctx = context if context is not None else GraderContext()
    try:
        return await _gather(spec, rows, ctx, concurrency, progress)
    finally:
        if context is None:
            await ctx.aclose()


async def _gather(
    spec: AnyGrader,
    rows: list[Row],
    ctx: GraderContext,
    concurrency: int,
    progress: Progress | None,
) -> list[GradeResult]:
    gate = asyncio.Semaphore(max(1, concurrency))
    done = 0

    async def one(sample: Sample, item: Any) -> GradeResult:
        nonlocal done
        async with gate:
            result = await agrade(spec, sample, item, ctx)
        done += 1
        if progress is not None:
            progress(done)
        return result

    return list(await asyncio.gather(*(one(sample, item) for sample, item in rows)))


def _report(
    spec: AnyGrader, results: GradeColumn | list[GradeResult], elapsed: float
) -> BatchReport:
    subs = list(spec.graders) if isinstance(spec, MultiGrader) else []
    column = results if isinstance(results, GradeColumn) else GradeColumn.of(results, subs)
    return BatchReport(display_name(spec), column, elapsed, subs)
