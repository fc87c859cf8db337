"""Python-grader throughput: a reused sandbox slot (zygote + fork per call) vs a fresh sandbox
per call, in the same run, on this machine.

    .venv/bin/python bench/python_grader.py [--calls 3000] [--fresh-calls 200] [--slots 2]

The grader is small (rapidfuzz's ratio of `sample["output_text"]` to `item["reference"]`), so
what is timed is the sandbox: one worker per slot grades back to back; latency is per call.
Targets (issue 3): reused >= 300 grades/s on 2 cores and >= 20x the fresh-per-call baseline.
Needs root (tier 1), like the sandbox tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from openrft.sandbox import SandboxPool

GRADER = """
from rapidfuzz import fuzz
def grade(sample, item):
    return fuzz.ratio(sample["output_text"], item["reference"]) / 100
"""


async def measure(pool: SandboxPool, calls: int, workers: int) -> tuple[float, list[float]]:
    """Grades per second and per-call latencies (seconds) over `calls` grades."""
    latencies: list[float] = []
    per_worker = calls // workers

    async def worker(index: int) -> None:
        for n in range(per_worker):
            sample = {"output_text": f"answer {index} {n}", "output_json": None}
            started = time.perf_counter()
            verdict = await pool.grade(GRADER, sample, {"reference": f"answer {n}"}, timeout=10)
            latencies.append(time.perf_counter() - started)
            assert verdict.score is not None, verdict

    warm_up = [pool.grade(GRADER, {"output_text": ""}, {"reference": ""}) for _ in range(workers)]
    await asyncio.gather(*warm_up)  # starts every slot (in reuse mode, once)
    started = time.perf_counter()
    await asyncio.gather(*(worker(i) for i in range(workers)))
    return per_worker * workers / (time.perf_counter() - started), latencies


def quantile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q * 100) - 1]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--fresh-calls", type=int, default=200)
    parser.add_argument("--slots", type=int, default=2)
    args = parser.parse_args()
    rows = []
    modes = (("reused slot", True, args.calls), ("fresh per call", False, args.fresh_calls))
    for name, reuse, calls in modes:
        async with SandboxPool(args.slots, reuse=reuse) as pool:
            rate, latencies = await measure(pool, calls, args.slots)
            rows.append((name, pool.tier, calls, rate, latencies))
    print(f"cpus: {len(os.sched_getaffinity(0))}, slots: {args.slots}")
    print("| mode | tier | calls | grades/s | p50 ms | p95 ms |")
    print("|---|---|---|---|---|---|")
    for name, tier, calls, rate, latencies in rows:
        p50, p95 = quantile(latencies, 0.5) * 1000, quantile(latencies, 0.95) * 1000
        print(f"| {name} | {tier} | {calls} | {rate:.0f} | {p50:.1f} | {p95:.1f} |")
    print(f"speed-up: {rows[0][3] / rows[1][3]:.1f}x")


if __name__ == "__main__":
    asyncio.run(main())
