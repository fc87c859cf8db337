"""Validation throughput of the strict JSONL reader and the RFT row rules.

    .venv/bin/python bench/data.py [--rows 50000] [--repeat 5]

Generates an RFT file (developer + user messages, a label, tags, a nested reference; ~400 bytes
a row), then times, best of `--repeat`, over the same file in the same process:
  bare json.loads        `for line in file: json.loads(line)` (no checks at all)
  iter_jsonl             the strict reader (D1)
  iter_valid_rows        the strict reader plus the RFT row rules (D1 + D2)
  bare json.loads, kept  the bare parse, appending each row to a list
  validate_file          D1 + D2, returning the list of rows (what the job layer calls)
Streaming (rows dropped after the check) and keeping (rows collected in a list, as a job does)
are timed separately: keeping 50,000 dicts makes CPython's cyclic GC walk the growing heap, which
costs the bare parse as much as the validator. The target: validation at >= 50% of the bare
parse's speed.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from openrft.data.jsonl import iter_jsonl
from openrft.data.validate import iter_valid_rows, validate_file

WORDS = [
    "the",
    "printer",
    "refund",
    "login",
    "network",
    "invoice",
    "order",
    "account",
    "broken",
    "slow",
    "please",
    "why",
]


def make_file(path: Path, rows: int) -> None:
    rng = random.Random(0)
    with path.open("w", encoding="utf-8") as out:
        for index in range(rows):
            question = " ".join(rng.choice(WORDS) for _ in range(30))
            row = {
                "messages": [
                    {"role": "developer", "content": "Classify the support ticket."},
                    {"role": "user", "content": f"Ticket {index}: {question}"},
                ],
                "label": rng.choice(["billing", "hardware", "account"]),
                "reference": {"priority": rng.randint(1, 5), "keywords": WORDS[:3]},
                "tags": ["edge"] if index % 20 == 0 else [],
            }
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


def bare(path: Path) -> int:
    count = 0
    with path.open("rb") as stream:
        for line in stream:
            json.loads(line)
            count += 1
    return count


def strict(path: Path) -> int:
    return sum(1 for _ in iter_jsonl(path))


def streamed(path: Path) -> int:
    return sum(1 for _ in iter_valid_rows(path, max_rows=10**9))


def bare_kept(path: Path) -> int:
    with path.open("rb") as stream:
        return len([json.loads(line) for line in stream])


def validated(path: Path) -> int:
    return len(validate_file(path, max_rows=10**9))


def best_of(run: Callable[[Path], int], path: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run(path)
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "train.jsonl"
        make_file(path, args.rows)
        megabytes = path.stat().st_size / 1e6
        runs = {
            "bare json.loads": (bare, "bare json.loads"),
            "iter_jsonl": (strict, "bare json.loads"),
            "iter_valid_rows": (streamed, "bare json.loads"),
            "bare json.loads, kept": (bare_kept, "bare json.loads, kept"),
            "validate_file (kept)": (validated, "bare json.loads, kept"),
        }
        seconds = {name: best_of(run, path, args.repeat) for name, (run, _) in runs.items()}
    print(f"{args.rows} rows, {megabytes:.1f} MB, best of {args.repeat}\n")
    print("| reader | seconds | rows/s | MB/s | vs bare |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, elapsed in seconds.items():
        base = seconds[runs[name][1]]
        print(
            f"| {name} | {elapsed:.3f} | {args.rows / elapsed:,.0f} | "
            f"{megabytes / elapsed:.1f} | {base / elapsed:.0%} |"
        )


if __name__ == "__main__":
    main()
