"""Grading many rows: concurrency for remote graders, a tight loop for local ones, a summary.

`grade_many()` returns every result in row order plus what a person wants to see first: the
mean reward per grader (a multi's sub-graders included), error counts by flag and latency
percentiles. Remote graders (python, model, cosine, endpoint) run `concurrency` rows at a
time.

`grade_stream()` grades chunk after chunk of an iterable of chunks, taking the next chunk only
once the one before is in hand, so a file of any length is graded in the memory of a few
chunks; `RunningReport` adds up the chunks' columns into the summary `grade_many` gives.
"""

from __future__ import annotations

import asyncio
import math
import time
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from openrft.graders.columns.grade import grade_columns, paused_gc, releases_gil
from openrft.graders.context import GraderContext
from openrft.graders.engine import agrade, is_sync
from openrft.graders.graded import GradeColumn
from openrft.graders.result import ERROR_FLAGS, GradeResult, Usage, sum_usage
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


# --- streaming ---------------------------------------------------------------------------


def grade_stream(
    grader: AnyGrader,
    chunks: Iterable[Sequence[Any]],
    *,
    context: GraderContext | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> Iterator[tuple[GradeColumn, float]]:
    """Each chunk's grades (a `GradeColumn`, rows in order) and the seconds they took. A
    chunk is taken from `chunks` only when the one before has been handed to the grader: a
    local grader scores chunk k on a worker thread while `chunks` reads chunk k + 1 (the
    fuzzy_match scorer runs without the GIL); remote graders share one event loop."""
    if is_sync(grader):
        return _stream_local(grader, chunks)
    return _stream_remote(grader, chunks, context, concurrency)


def _stream_local(
    spec: AnyGrader, chunks: Iterable[Sequence[Any]]
) -> Iterator[tuple[GradeColumn, float]]:
    def one(chunk: Sequence[Any]) -> tuple[GradeColumn, float]:
        start = time.perf_counter()
        samples, items, plain = to_columns(chunk)
        return grade_columns(spec, samples, items, plain=plain), time.perf_counter() - start

    with ThreadPoolExecutor(1, thread_name_prefix="openrft-grade") as pool:
        pending = None
        for chunk in chunks:
            graded = pool.submit(one, chunk)
            if pending is not None:
                yield pending.result()
            pending = graded
        if pending is not None:
            yield pending.result()


def _stream_remote(
    spec: AnyGrader,
    chunks: Iterable[Sequence[Any]],
    context: GraderContext | None,
    concurrency: int,
) -> Iterator[tuple[GradeColumn, float]]:
    subs = list(spec.graders) if isinstance(spec, MultiGrader) else []
    loop = asyncio.new_event_loop()
    ctx = context if context is not None else GraderContext()
    try:
        for chunk in chunks:
            start = time.perf_counter()
            samples, items, _ = to_columns(chunk)
            rows = [(Sample.coerce(s), item) for s, item in zip(samples, items, strict=True)]
            results = loop.run_until_complete(_gather(spec, rows, ctx, concurrency, None))
            yield GradeColumn.of(results, subs), time.perf_counter() - start
    finally:
        if context is None:
            loop.run_until_complete(ctx.aclose())
        loop.close()


class ExactSum:
    """A running `math.fsum`: floats whose exact sum is the exact sum of every value added,
    so the total read at the end is the one `fsum` over all values at once gives."""

    def __init__(self) -> None:
        self.partials: list[float] = []

    def add(self, values: Sequence[float]) -> None:
        found: list[float] = []
        while True:
            rest = math.fsum([*self.partials, *values, *(-part for part in found)])
            if rest == 0.0 or not math.isfinite(rest):
                break
            found.append(rest)
        self.partials = found if rest == 0.0 else [rest]

    @property
    def total(self) -> float:
        return math.fsum(self.partials)


class RunningReport:
    """The summary of `grade_many`'s `BatchReport`, added up chunk by chunk: means from exact
    running sums, error counts, the first failed row, judge tokens, latency."""

    def __init__(self, grader: AnyGrader):
        self.grader_name = display_name(grader)
        self.sub_names = list(grader.graders) if isinstance(grader, MultiGrader) else []
        self.count = 0
        self.errored = 0
        self.elapsed = 0.0
        self.errors: Counter[str] = Counter()
        self.first_failure: tuple[int, GradeResult] | None = None
        """(row number from 0, result) of the first row that failed."""
        self._sums = {key: ExactSum() for key in [None, *self.sub_names]}
        self._times = array("d")  # per row, where rows were graded one by one (remote)
        self._usage: Usage | None = None

    def add(self, column: GradeColumn, seconds: float) -> None:
        for key, total in self._sums.items():
            total.add(column.rewards if key is None else column.subs.get(key, []))
        for row, result in column.failures.items():
            if self.first_failure is None:  # failures come in row order
                self.first_failure = (self.count + row, result)
            self.errors.update(flag for flag in ERROR_FLAGS if (result.errors or {}).get(flag))
        self.count += len(column)
        self.errored += len(column.failures)
        self.elapsed += seconds
        if not isinstance(column.execution_time, float):
            self._times.extend(column.execution_time)
        if usages := column.usages():
            self._usage = sum_usage([*([self._usage] if self._usage else []), *usages])

    def mean(self, key: str | None = None) -> float:
        return self._sums[key].total / self.count if self.count else math.nan

    def latency(self, quantile: float) -> float:
        if not self.count:
            return math.nan
        if not self._times:  # the column path: every row got its chunk's share
            return self.elapsed / self.count
        return percentile(list(self._times), quantile)

    def summary(self) -> dict[str, Any]:
        means = {self.grader_name: self.mean()}
        means.update({key: self.mean(key) for key in self.sub_names})
        return {
            "rows": self.count,
            "mean_reward": means,
            "errored_rows": self.errored,
            "errors": dict(self.errors),
            "latency_p50_s": self.latency(0.50),
            "latency_p95_s": self.latency(0.95),
            "elapsed_s": self.elapsed,
            "grades_per_second": self.count / self.elapsed if self.elapsed > 0 else math.inf,
            "token_usage": self._usage,
        }
