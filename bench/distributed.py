"""Seconds per GRPO step: one job in 1 process vs the same job in 2 (torchrun, gloo), same run.

    .venv/bin/python bench/distributed.py [--steps 12] [--rounds 2] [--batch 8]

openrft-tiny on the demo task, `batch` prompts × 8 samples a step, no validation but the last
step's. Each job runs as `openrft train` (under `torchrun --standalone --nproc-per-node 2` for
2 processes). A step's time is rank 0's `timing.step.full_iteration` from the job's metrics
events (sampling, grading, the gathers, the all-reduced backward and the optimizer step); the
figure is the median over the steps, leaving out the first (warm-up) and the last (it
validates). Rounds alternate 1 and 2 processes so a busy neighbour hurts both alike. The CPU is
shared: compare the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from importlib import resources
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from openrft.demo.task import make_rows
from openrft.models.tiny import NAME, ensure_tiny
from openrft.train.events import read_events

GRADER = json.loads(resources.files("openrft.demo").joinpath("grader.json").read_text())
"""The demo's grader: the sort task's exact match."""


def write_job(folder: Path, job_id: str, steps: int, batch: int) -> Path:
    for name, rows in (
        ("train.jsonl", make_rows(batch * steps, 1)),
        ("valid.jsonl", make_rows(8, 2)),
    ):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    hyper = {"batch_size": batch, "n_epochs": 1, "eval_interval": 10_000, "eval_samples": 1}
    body = {
        "id": job_id, "model": NAME, "seed": 0,
        "training_file": "train.jsonl", "validation_file": "valid.jsonl",
        "method": {"type": "reinforcement",
                   "reinforcement": {"grader": GRADER, "hyperparameters": hyper}},
    }  # fmt: skip
    (folder / f"{job_id}.json").write_text(json.dumps(body))
    return folder / f"{job_id}.json"


def run(job: Path, home: Path, processes: int) -> list[float]:
    """The job's step times (rank 0's full iteration, in seconds), step 1 onwards."""
    command = [sys.executable, "-m", "openrft.cli", "train", str(job), "--home", str(home)]
    if processes > 1:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*torchrun, "--nproc-per-node", str(processes), *command[1:]]
    subprocess.run(command, check=True, capture_output=True, timeout=1800)
    journal = home / "jobs" / job.stem / "events.jsonl"
    metrics = [e for e in read_events(journal) if e["type"] == "metrics"]
    return [e["data"]["timing"]["step"]["full_iteration"] for e in metrics]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        ensure_tiny(home)
        times: dict[int, list[float]] = {1: [], 2: []}
        for round_ in range(args.rounds):
            for processes in (1, 2):
                job = write_job(
                    Path(tmp), f"ftjob-bench-{processes}-{round_}", args.steps, args.batch
                )
                steps = run(job, home, processes)[1:-1]
                times[processes].append(statistics.median(steps))
                shown = f"{times[processes][-1]:.3f}"
                print(f"round {round_ + 1}, {processes} process(es): {shown} s/step")
    one, two = (statistics.median(times[p]) for p in (1, 2))
    print(f"openrft-tiny, {args.batch} prompts x 8 samples, {os.cpu_count()} CPUs (shared)")
    print(f"1 process:   {one:.3f} s/step")
    print(f"2 processes: {two:.3f} s/step  ({one / two:.2f}x)")


if __name__ == "__main__":
    main()
