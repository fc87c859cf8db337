"""A batch's grades kept as columns: rewards, multi sub-rewards, and the rows that failed.

Scoring a column of 100,000 rows takes about as long as building 100,000 `GradeResult`
objects, so the column path (`grade_columns`) does not build them: a `GradeColumn` holds the
reward column, one reward column per multi sub-grader, the full result of every failed row,
and the per-row grading time. Summaries (`mean`, error counts, latency) read the columns.
Reading a row or iterating builds the `GradeResult`s, once; later reads get the same objects.
Remote graders' results (which carry token usage and model names) are wrapped with `of()`.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import overload

from openrft.graders.result import GradeResult, Usage


class GradeColumn(Sequence[GradeResult]):
    """Row-aligned grades; `failures` maps a row to its result for each row with errors."""

    __slots__ = ("_built", "execution_time", "failures", "rewards", "subs")

    def __init__(
        self,
        rewards: list[float],
        *,
        failures: dict[int, GradeResult] | None = None,
        subs: dict[str, list[float]] | None = None,
        execution_time: float | list[float] = 0.0,
    ):
        self.rewards = rewards
        self.failures = failures if failures is not None else {}
        self.subs = subs if subs is not None else {}
        self.execution_time = execution_time
        """Seconds per row: one share of the batch's time, or one value per row."""
        self._built: list[GradeResult] | None = None

    @classmethod
    def of(cls, results: list[GradeResult], sub_keys: Sequence[str] = ()) -> GradeColumn:
        """The columns of results graded one by one; reading rows returns those objects."""
        column = cls(
            [r.reward for r in results],
            failures={row: r for row, r in enumerate(results) if r.errors},
            subs={key: [(r.sub_rewards or {}).get(key, 0.0) for r in results] for key in sub_keys},
            execution_time=[r.execution_time for r in results],
        )
        column._built = results
        return column

    @classmethod
    def concat(cls, parts: Sequence[GradeColumn], execution_time: float) -> GradeColumn:
        """Consecutive batches graded by the column path as one column, every row given the
        same `execution_time`."""
        rewards: list[float] = []
        failures: dict[int, GradeResult] = {}
        for part in parts:
            failures.update((len(rewards) + row, r) for row, r in part.failures.items())
            rewards += part.rewards
        keys = parts[0].subs if parts else {}
        subs = {key: [value for part in parts for value in part.subs[key]] for key in keys}
        column = cls(rewards, failures=failures, subs=subs)
        column.set_time(execution_time)
        return column

    def __len__(self) -> int:
        return len(self.rewards)

    @overload
    def __getitem__(self, index: int) -> GradeResult: ...
    @overload
    def __getitem__(self, index: slice) -> list[GradeResult]: ...
    def __getitem__(self, index: int | slice) -> GradeResult | list[GradeResult]:
        return self.rows()[index]

    def __iter__(self) -> Iterator[GradeResult]:
        return iter(self.rows())

    def rows(self) -> list[GradeResult]:
        """One `GradeResult` per row, built on the first call."""
        if self._built is None:
            self._built = [self.result(row) for row in range(len(self.rewards))]
        return self._built

    def result(self, row: int) -> GradeResult:
        """Row `row`'s result, without building the others."""
        if self._built is not None:
            return self._built[row]
        failed = self.failures.get(row)
        if failed is not None:
            return failed
        times = self.execution_time
        return GradeResult(
            self.rewards[row],
            sub_rewards={key: column[row] for key, column in self.subs.items()} or None,
            execution_time=times if isinstance(times, float) else times[row],
        )

    def mean(self, key: str | None = None) -> float:
        """Mean reward, or mean reward of one multi sub-grader by its map key."""
        if not self.rewards:
            return math.nan
        column = self.rewards if key is None else self.subs.get(key, [0.0])
        return math.fsum(column) / len(self.rewards)

    def usages(self) -> list[Usage]:
        """Judge token usage of every row that has some (only remote graders do)."""
        if self._built is None:  # the column path grades without a model
            return []
        return [usage for r in self._built if (usage := r.token_usage) is not None]

    def set_time(self, seconds: float) -> None:
        """Give every row the same share of the batch's time (the column path)."""
        self.execution_time = seconds
        for result in self.failures.values():
            result.execution_time = seconds

    def __repr__(self) -> str:
        return f"GradeColumn(rows={len(self)}, failed={len(self.failures)})"
