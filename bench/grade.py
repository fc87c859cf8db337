"""`openrft grade` and `openrft data lint` at scale: wall time and peak memory, in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/grade.py [--rows 100000 1000000] [--lint 20000 80000]

For each size, a JSONL file of `{"sample": str, "item": {"reference": str}}` rows (a third of
them answered right, a third a near miss, a third wrong; every 50th row without the reference,
an errored grade) is graded by a fuzzy_match grader three ways, each in its own process:
- bare: the 15-line script a user would write: `json.loads` per line, the library's
  `grade_many` on 10,000 lines at a time, the mean and the pass rate added up as it goes;
- grade: `openrft grade --json`;
- grade --out: `openrft grade --json --out results.jsonl`.
Peak memory is the child's `ru_maxrss` (`os.wait4`), so each number is that process alone.
Targets (issue 18): `openrft grade` within 1.5x the bare script's wall time, and its peak memory
flat in the number of rows. Then `openrft data lint` peak memory at the `--lint` sizes (RFT rows:
a user message and a label), to show what it holds per row.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GRADER = {"type": "text_similarity", "name": "close", "evaluation_metric": "fuzzy_match",
          "input": "{{ sample.output_text }}", "reference": "{{ item.reference }}",
          "pass_threshold": 0.8}  # fmt: skip

BARE = """
import itertools, json, sys
from openrft.graders import grade_many, passed, validate_grader

grader = validate_grader(json.load(open(sys.argv[1])))
rows, total, passes = 0, 0.0, 0
with open(sys.argv[2], encoding="utf-8") as lines:
    while chunk := [json.loads(line) for line in itertools.islice(lines, 10_000)]:
        report = grade_many(grader, chunk)
        rows += report.count
        total += sum(report.results.rewards)
        passes += sum(passed(grader, result) for result in report.results)
print(json.dumps({"rows": rows, "mean": total / rows, "pass_rate": passes / rows}))
"""


def write_rows(path: Path, count: int) -> None:
    rng = random.Random(count)
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            reference = f"the answer to question {number} is {rng.randrange(10**6)}"
            sample = rng.choice([reference, reference[:-1] + "x", "i do not know"])
            item = {"reference": reference} if number % 50 else {}
            out.write(json.dumps({"sample": sample, "item": item}) + "\n")


def write_lint_rows(path: Path, count: int) -> None:
    rng = random.Random(count)
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            words = " ".join(rng.choice(["red", "green", "blue", "cat", "dog"]) for _ in range(8))
            text = f"question {number}: which colour is {words}? ({rng.randrange(10**9)})"
            row = {"messages": [{"role": "user", "content": text}], "label": rng.choice("ab")}
            out.write(json.dumps(row) + "\n")


def run(command: list[str]) -> tuple[float, float, str]:
    """Wall seconds, peak RSS in MiB and stdout of one child process (stdout goes to a file,
    so that nothing reaps the child before `wait4` reads its usage)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        child = subprocess.Popen(command, stdout=out, stderr=err)
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if child.returncode not in (0, 1):
            raise SystemExit(f"{command} failed: {err.read().decode()[-2000:]}")
        return seconds, usage.ru_maxrss / 1024, out.read().decode()


def grade_sizes(tmp: Path, sizes: list[int]) -> None:
    grader = tmp / "grader.json"
    grader.write_text(json.dumps(GRADER))
    bare = tmp / "bare.py"
    bare.write_text(BARE)
    openrft = [sys.executable, "-m", "openrft.cli", "grade", "-g", str(grader), "--json"]
    print(f"{'rows':>9} {'command':14} {'wall s':>8} {'peak MiB':>9} {'vs bare':>12}")
    for count in sizes:
        data = tmp / f"rows-{count}.jsonl"
        write_rows(data, count)
        wall, peak, out = run([sys.executable, str(bare), str(grader), str(data)])
        base = json.loads(out)
        print(f"{count:>9} {'bare script':14} {wall:8.2f} {peak:9.0f}")
        for name, extra in (("grade", []), ("grade --out", ["--out", str(tmp / "out.jsonl")])):
            seconds, memory, text = run([*openrft, "-d", str(data), *extra])
            summary = json.loads(text)
            same = summary["pass_rate"] == base["pass_rate"]
            same &= math.isclose(summary["mean_reward"]["close"], base["mean"])
            ratio = f"{seconds / wall:.2f}x {memory / peak:.2f}x"
            print(f"{count:>9} {name:14} {seconds:8.2f} {memory:9.0f} {ratio:>12}"
                  f"{'' if same else '  (summary differs!)'}")  # fmt: skip
        data.unlink()


def lint_sizes(tmp: Path, sizes: list[int]) -> None:
    print(f"{'rows':>9} {'command':14} {'wall s':>8} {'peak MiB':>9}")
    peaks = []
    for count in sizes:
        data = tmp / f"lint-{count}.jsonl"
        write_lint_rows(data, count)
        command = [sys.executable, "-m", "openrft.cli", "data", "lint", str(data), "--json"]
        command += ["--max-train", str(count)]
        seconds, memory, _ = run(command)
        peaks.append((count, memory))
        print(f"{count:>9} {'data lint':14} {seconds:8.2f} {memory:9.0f}")
        data.unlink()
    (small, low), (large, high) = peaks[0], peaks[-1]
    if large > small:
        print(f"data lint holds {(high - low) * 1024 / (large - small):.2f} KiB per row")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--lint", type=int, nargs="*", default=[20_000, 80_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        grade_sizes(Path(tmp), args.rows)
        if args.lint:
            lint_sizes(Path(tmp), args.lint)


if __name__ == "__main__":
    main()
