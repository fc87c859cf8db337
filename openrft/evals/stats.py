"""Small statistics for evals: means with 95% intervals, Wilson intervals, pass@k."""

from __future__ import annotations

import math
from collections.abc import Sequence

Z95 = 1.959964


def mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values) if values else math.nan


def mean_ci(
    values: Sequence[float], bounds: tuple[float, float] | None = None
) -> tuple[float, float] | None:
    """Normal-approximation 95% interval of the mean; None below two values.

    With `bounds` (the least and greatest value possible, e.g. a reward in [0, 1]) the interval
    is clipped to them: a mean of bounded values cannot leave them, the approximation can."""
    if len(values) < 2:
        return None
    centre = mean(values)
    variance = math.fsum((v - centre) ** 2 for v in values) / (len(values) - 1)
    half = Z95 * math.sqrt(variance / len(values))
    low, high = bounds or (-math.inf, math.inf)
    return (max(low, centre - half), min(high, centre + half))


def wilson(successes: int, total: int) -> tuple[float, float] | None:
    """Wilson 95% interval of a proportion; None for no trials."""
    if total == 0:
        return None
    p = successes / total
    denominator = 1 + Z95**2 / total
    centre = (p + Z95**2 / (2 * total)) / denominator
    half = Z95 * math.sqrt(p * (1 - p) / total + Z95**2 / (4 * total**2)) / denominator
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_at_k(samples: int, passes: int, k: int) -> float:
    """The unbiased pass@k estimate for one prompt with `samples` tries and `passes` passes."""
    if samples - passes < k:
        return 1.0
    return 1.0 - math.comb(samples - passes, k) / math.comb(samples, k)
