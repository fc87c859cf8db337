"""Step timing shared by the training benches: when each step ended, and the typical gap."""

from __future__ import annotations

import itertools
import statistics
import time
from typing import Any


def step_time(ends: list[float], drop_last: bool) -> float:
    """Median gap between consecutive step ends, without the first (warm-up) and, if asked,
    the last (a job's last step validates)."""
    gaps = [b - a for a, b in itertools.pairwise(ends)][1:]
    return statistics.median(gaps[:-1] if drop_last else gaps)


class Stamps:
    """An events sink for `run_job` that notes the time of each `metrics` event."""

    def __init__(self) -> None:
        self.ends: list[float] = []

    def emit(self, type: str, *args: Any, **kwargs: Any) -> None:
        if type == "metrics":
            self.ends.append(time.perf_counter())
