"""Model-grader throughput: sequential vs. the engine's default concurrency, in the same run.

    .venv/bin/python bench/model_grader.py [--rows 1000] [--delay 0.02] [--repeat 5]

A loopback judge (a minimal HTTP server in a child process, so it shares neither our GIL nor
much CPU) answers every Chat Completions request after `delay` seconds. The same `score_model`
grader grades the same rows through `openrft.graders.grade_many`: once with `concurrency=1`,
then `--repeat` times with the defaults (engine and judge client both 16 in flight), of which
the median is kept. Target (issue 4): >= 15x, no errors.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from typing import Any

from loopback import serve, wait_for  # bench/ is on the path

from openrft.demo.server import free_port
from openrft.graders import DEFAULT_CONCURRENCY, grade_many, validate_grader

GRADER = {
    "type": "score_model",
    "name": "judge",
    "model": "bench-judge",
    "input": [
        {"role": "developer", "content": "Score the answer from 0 to 1 against the reference."},
        {"role": "user", "content": "Answer: {{sample.output_text}}\nReference: {{item.ref}}"},
    ],
}


def completion() -> bytes:
    answer = {"steps": [{"description": "compare", "conclusion": "close"}], "result": 0.8}
    message = {"role": "assistant", "content": json.dumps(answer), "refusal": None}
    body = {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 0,
        "model": "bench-judge-2026",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 60, "completion_tokens": 25, "total_tokens": 85},
    }
    return json.dumps(body).encode()


def run(rows: list[dict[str, Any]], concurrency: int) -> dict[str, Any]:
    cpu = time.process_time()
    report = grade_many(validate_grader(GRADER), rows, concurrency=concurrency)
    cpu = time.process_time() - cpu
    summary = report.summary()
    return {
        "concurrency": concurrency,
        "elapsed_s": summary["elapsed_s"],
        "grades_per_s": summary["grades_per_second"],
        "p50_ms": summary["latency_p50_s"] * 1000,
        "errored_rows": summary["errored_rows"],
        "mean_reward": summary["mean_reward"]["judge"],
        "cpu_ms": cpu * 1000 / len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.02, help="judge latency in seconds")
    parser.add_argument("--repeat", type=int, default=5, help="concurrent runs (median kept)")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        judge = completion()
        serve(args.serve, args.delay, lambda body: judge)
        return
    port = free_port()
    argv = [sys.executable, __file__, "--serve", str(port), "--delay", str(args.delay)]
    judge = subprocess.Popen(argv)
    try:
        wait_for(port, "the bench judge")
        os.environ["OPENRFT_JUDGE_BASE_URL"] = f"http://127.0.0.1:{port}/v1"
        rows = [{"sample": f"answer {i}", "item": {"ref": f"ref {i}"}} for i in range(args.rows)]
        run(rows[:20], DEFAULT_CONCURRENCY)  # warm-up: imports, first connections
        sequential = run(rows, 1)
        # The concurrent run is short, so one busy moment on the host skews it: take the median.
        repeats = sorted(
            (run(rows, DEFAULT_CONCURRENCY) for _ in range(args.repeat)),
            key=lambda row: row["elapsed_s"],
        )
        concurrent = repeats[len(repeats) // 2]
    finally:
        judge.terminate()
        judge.wait()
    speedup = sequential["elapsed_s"] / concurrent["elapsed_s"]
    print(f"{args.rows} score_model grades, judge latency {args.delay * 1000:g} ms")
    columns = "mode | concurrency | elapsed s | grades/s | p50 ms | client CPU ms/grade | errors"
    print(f"| {columns} | mean reward |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for name, row in (("sequential", sequential), ("default", concurrent)):
        print(
            f"| {name} | {row['concurrency']} | {row['elapsed_s']:.2f} | "
            f"{row['grades_per_s']:.0f} | {row['p50_ms']:.1f} | {row['cpu_ms']:.2f} | "
            f"{row['errored_rows']} | "
            f"{row['mean_reward']:.2f} |"
        )
    runs = ", ".join(f"{row['elapsed_s']:.2f}" for row in repeats)
    print(f"concurrent runs (s): {runs}; median shown")
    print(f"speed-up: {speedup:.1f}x (target >= 15x, no errors)")


if __name__ == "__main__":
    main()
