"""Part D 30: a trainer killed with SIGKILL resumes from its last complete checkpoint."""

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from openrft.train.events import read_events
from tests.train.helpers import demo_method

STEPS = 24


def write_job(folder: Path) -> Path:
    from openrft.demo.task import make_rows

    for name, rows in (("train.jsonl", make_rows(4 * STEPS, 1)), ("valid.jsonl", make_rows(16, 2))):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    body = {
        "id": "ftjob-kill",
        "model": "openrft-tiny",
        "training_file": "train.jsonl",
        "validation_file": "valid.jsonl",
        "method": demo_method(batch_size=4, n_epochs=1, eval_interval=4, eval_samples=1),
        "seed": 7,
    }
    (folder / "job.json").write_text(json.dumps(body))
    return folder / "job.json"


def start(job: Path, home: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "openrft.cli", "train", str(job), "--home", str(home)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env)


def metric_steps(journal: Path) -> list[int]:
    return [e["step"] for e in read_events(journal) if e["type"] == "metrics"]


def kill_after(process: subprocess.Popen[bytes], journal: Path, step: int, jitter: float) -> None:
    """SIGKILL once `step`'s metrics are out, plus `jitter` seconds: mid-sampling, mid-update,
    mid-validation or mid-checkpoint, wherever that lands."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if max(metric_steps(journal), default=0) >= step:
            break
        time.sleep(0.01)
    time.sleep(jitter)
    assert process.poll() is None, "the job finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.stdout is not None
    process.stdout.close()


def test_sigkill_mid_run_resumes_with_no_duplicate_events(home: Path, tmp_path: Path) -> None:
    job = write_job(tmp_path)
    workdir = home / "jobs" / "ftjob-kill"
    journal = workdir / "events.jsonl"
    rng = random.Random(0)
    for step in (2, 5, 8, 11, 15, 19):  # seven attempts in all, each killed at a random point
        kill_after(start(job, home), journal, step, rng.uniform(0.0, 0.15))
    finished = start(job, home)
    out, _ = finished.communicate(timeout=300)
    assert finished.returncode == 0, out.decode()
    assert "succeeded" in out.decode()
    assert metric_steps(journal) == list(range(1, STEPS + 1))  # monotonic, none repeated
    events = read_events(journal)
    keys = [e["key"] for e in events]
    assert len(keys) == len(set(keys))
    resumed = [e["message"] for e in events if e["message"].startswith("Resumed")]
    steps = {m.removeprefix("Resumed from step ") for m in resumed}
    assert steps and steps <= {"4", "8", "12", "16", "20"}  # only ever from a checkpoint
    assert (workdir / "checkpoints" / f"step-{STEPS}").is_dir()
    assert not list((workdir / "checkpoints").glob("*.tmp"))
