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
from dataclasses import dataclass, field
from typing import Any

from openrft.graders.columns import grade_columns
from openrft.graders.context import GraderContext
from openrft.graders.engine import agrade, is_sync
from openrft.graders.result import ERROR_FLAGS, GradeResult, sum_usage
from openrft.graders.sample import Sample
from openrft.graders.schema import AnyGrader, MultiGrader, display_name, validate_grader

Row = tuple[Sample, Any]
Progress = Callable[[int], None]
DEFAULT_CONCURRENCY = 32
_LOCAL_CHUNK = 8192


@dataclass
class BatchReport:
    grader_name: str
    results: list[GradeResult]
    elapsed: float
    """Wall seconds for the whole batch."""
    sub_names: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.results)

    def mean(self, key: str | None = None) -> float:
        """Mean reward of the grader, or of one multi sub-grader by its map key."""
        if not self.results:
            return math.nan
        if key is None:
            return math.fsum(r.reward for r in self.results) / self.count
        return math.fsum((r.sub_rewards or {}).get(key, 0.0) for r in self.results) / self.count

    def error_counts(self) -> dict[str, int]:
        """How many rows raised each flag (a row can raise several)."""
        counts: Counter[str] = Counter()
        for result in self.results:
            if result.errors:
                counts.update(flag for flag in ERROR_FLAGS if result.errors.get(flag))
        return dict(counts)

    def latency(self, quantile: float) -> float:
        return percentile([r.execution_time for r in self.results], quantile)

    def summary(self) -> dict[str, Any]:
        means = {self.grader_name: self.mean()}
        means.update({key: self.mean(key) for key in self.sub_names})
        errored = sum(1 for r in self.results if r.errors)
        usage = [u for r in self.results if (u := r.token_usage) is not None]
        return {
            "rows": self.count,
            "mean_reward": means,
            "errored_rows": errored,
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


def to_columns(rows: Iterable[Any]) -> tuple[list[Sample | str], list[Any]]:
    """Accept `(sample, item)` pairs or `{"sample": ..., "item": ...}` dicts.

    A plain-string sample stays a string (the local fast path reads it directly)."""
    rows = rows if isinstance(rows, list) else list(rows)
    if all(type(row) is dict for row in rows):  # the usual shape, in three comprehensions
        samples = [row.get("sample", "") for row in rows]
        items = [{} if (item := row.get("item")) is None else item for row in rows]
        if not all(type(sample) is str for sample in samples):
            samples = [s if isinstance(s, str) else Sample.coerce(s) for s in samples]
        return samples, items
    samples = []
    items = []
    for row in rows:
        sample, item = (row.get("sample", ""), row.get("item")) if isinstance(row, dict) else row
        samples.append(sample if isinstance(sample, str) else Sample.coerce(sample))
        items.append(item if item is not None else {})
    return samples, items


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
    samples, items = to_columns(rows)
    start = time.perf_counter()
    if is_sync(spec):
        results = _grade_local(spec, samples, items, progress)
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
    samples, items = to_columns(rows)
    prepared = [(Sample.coerce(s), item) for s, item in zip(samples, items, strict=True)]
    start = time.perf_counter()
    results = await _grade_remote(grader, prepared, context, concurrency, progress)
    return _report(grader, results, time.perf_counter() - start)


def _grade_local(
    spec: AnyGrader, samples: list[Sample | str], items: list[Any], progress: Progress | None
) -> list[GradeResult]:
    """Local graders run column-wise in chunks, so progress moves on long files."""
    results: list[GradeResult] = []
    for start in range(0, len(samples), _LOCAL_CHUNK):
        end = start + _LOCAL_CHUNK
        results.extend(grade_columns(spec, samples[start:end], items[start:end]))
        if progress is not None:
            progress(len(results))
    return results


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


def _report(spec: AnyGrader, results: list[GradeResult], elapsed: float) -> BatchReport:
    subs = list(spec.graders) if isinstance(spec, MultiGrader) else []
    return BatchReport(display_name(spec), results, elapsed, subs)
