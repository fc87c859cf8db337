"""Job throughput (jobs per minute) with 1 vs 2 `openrft worker` processes on one store, same run.

    .venv/bin/python bench/workers.py [--jobs 6] [--steps 3] [--batch 4] [--rounds 2]
                                      [--postgres]

One API host (`openrft serve --no-worker`) and N worker processes (`openrft worker`, one job at
a time each, `OMP_NUM_THREADS=1`) on one home: SQLite in it, or a PostgreSQL started for the
run (`--postgres`, `tests.support.postgres`; Debian's binaries). Each round creates `jobs`
small openrft-tiny jobs on the demo task through the official SDK (`steps` steps of `batch`
prompts × 8 samples, one validation at the end) and times them from the first create to the
last `succeeded`: jobs per minute. Rounds alternate 1 and 2 workers so a busy neighbour hurts
both alike; the figure is the median over rounds. The CPU is shared: compare the ratio.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from importlib import resources
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import httpx
from openai import OpenAI

from openrft.demo.server import free_port
from openrft.demo.task import make_rows
from openrft.models.tiny import NAME, ensure_tiny

GRADER = json.loads(resources.files("openrft.demo").joinpath("grader.json").read_text())
"""The demo's grader: the sort task's exact match."""


def _jsonl(rows: list[dict[str, object]]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


@contextmanager
def _process(command: list[str], env: dict[str, str], log: Path) -> Iterator[None]:
    """`openrft COMMAND` for the round; stopped with SIGTERM (as an operator would) after."""
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "openrft.cli", *command], env=env, stdout=out, stderr=out
        )
    try:
        yield
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _healthy(port: int) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health").raise_for_status()
            return
        except httpx.HTTPError:
            if time.monotonic() > deadline:
                raise RuntimeError("openrft serve did not come up") from None
            time.sleep(0.2)


def one_round(
    home: Path, env: dict[str, str], workers: int, args: argparse.Namespace
) -> tuple[float, int]:
    """Jobs per minute with `workers` worker processes, and the most jobs seen running at once
    (a check that the workers did share the jobs)."""
    port = free_port()
    with ExitStack() as stack:
        log = home / f"round-{workers}.log"
        stack.enter_context(_process(["serve", "--no-worker", "--port", str(port)], env, log))
        _healthy(port)
        for _ in range(workers):
            stack.enter_context(_process(["worker", "--max-running", "1"], env, log))
        sdk = stack.enter_context(
            OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=2)
        )
        train = _jsonl(make_rows(args.batch * args.steps, 1))
        valid = _jsonl(make_rows(4, 2))
        hyper = {"batch_size": args.batch, "n_epochs": 1, "eval_interval": 10_000,
                 "eval_samples": 1}  # fmt: skip
        method = {"type": "reinforcement",
                  "reinforcement": {"grader": GRADER, "hyperparameters": hyper}}  # fmt: skip
        files = [
            (sdk.files.create(file=("t.jsonl", io.BytesIO(train)), purpose="fine-tune").id,
             sdk.files.create(file=("v.jsonl", io.BytesIO(valid)), purpose="fine-tune").id)
            for _ in range(args.jobs)
        ]  # fmt: skip
        start = time.perf_counter()
        ids = [
            sdk.fine_tuning.jobs.create(
                model=NAME, training_file=t, validation_file=v, method=method,  # type: ignore[arg-type]
                seed=0, extra_body={"settings": {"device": "cpu"}},
            ).id
            for t, v in files
        ]  # fmt: skip
        pending, most = set(ids), 0
        while pending:
            running = 0
            for job_id in list(pending):
                job = sdk.fine_tuning.jobs.retrieve(job_id)
                if job.status in ("failed", "cancelled"):
                    raise RuntimeError(f"{job_id} {job.status}: {job.error}")
                if job.status == "succeeded":
                    pending.discard(job_id)
                running += job.status == "running"
            most = max(most, running)
            time.sleep(0.2)
        elapsed = time.perf_counter() - start
    return args.jobs / (elapsed / 60), most


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=6)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--postgres", action="store_true", help="PostgreSQL instead of SQLite")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, ExitStack() as stack:
        home = Path(tmp) / "home"
        ensure_tiny(home)  # once, before any job child could race to build it
        env = {**os.environ, "OPENRFT_HOME": str(home), "OMP_NUM_THREADS": "1",
               "PYTHONWARNINGS": "ignore"}  # fmt: skip
        store = "SQLite"
        if args.postgres:
            from tests.support.postgres import PostgresServer

            server = PostgresServer()
            server.start()
            stack.callback(server.stop)
            env["OPENRFT_DATABASE_URL"] = server.database()
            store = "PostgreSQL"
        rates: dict[int, list[float]] = {1: [], 2: []}
        for round_ in range(args.rounds):
            for workers in (1, 2):
                rate, most = one_round(home, env, workers, args)
                rates[workers].append(rate)
                print(
                    f"round {round_ + 1}, {workers} worker(s): {rate:.1f} jobs/min "
                    f"(at most {most} running at once)",
                    flush=True,
                )
    one, two = (statistics.median(rates[w]) for w in (1, 2))
    print(
        f"openrft-tiny, {args.jobs} jobs x {args.steps} steps x {args.batch} prompts x 8 "
        f"samples, {store}, {os.cpu_count()} CPUs (shared)"
    )
    print(f"1 worker:  {one:.1f} jobs/min")
    print(f"2 workers: {two:.1f} jobs/min  ({two / one:.2f}x)")


if __name__ == "__main__":
    main()
