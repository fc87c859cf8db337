"""One job on several processes (torch.distributed, gloo on CPU): the 2-process step equals the
1-process step, a 2-process job learns, a killed rank fails its attempt and the job resumes,
and a job resumes under another process count. Real processes, a real store, real torchrun."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file
from torch.distributed.tensor import DTensor

from openrft.errors import InvalidRequestError
from openrft.models import tiny
from openrft.models.chat import render_prompt
from openrft.models.local import LocalCompleter
from openrft.models.registry import load_model
from openrft.models.sampling import sample
from openrft.threads import usable_cores
from openrft.train.distributed import check_processes, join
from openrft.train.events import read_events
from openrft.train.runner import run_job
from openrft.train.spec import TrainSettings
from tests.train.helpers import ListSink, demo_method, demo_spec

DEADLINE = 240.0  # seconds any spawned job may run: a hang fails the test, never blocks it
FIXED_SEED = 4242


class FixedDraws(LocalCompleter):
    """Rollouts whose samples depend on the prompt only (per-prompt seeds, `SeededDraws`), not
    on the batch or rank that draws them; notes the prompts of each call."""

    def __init__(self, loaded: Any, calls: list[list[str]]):
        super().__init__(loaded)
        self.calls = calls

    def rollouts(self, prompts: Any, n: int, seed: int, settings: Any) -> Any:
        self.calls.append([p.messages[-1]["content"] for p in prompts])
        texts = [render_prompt(self.loaded.tokenizer, p.messages, p.tools) for p in prompts]
        return sample(
            self.loaded, texts, n=n, max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature, seeds=[FIXED_SEED] * len(texts),
        )  # fmt: skip


def one_step(home: Path, workdir: Path, out: Path, sharding: str) -> None:
    """One step of 4 prompts × 8 samples in micro-batches of 3; what this rank saw → `out`."""
    calls: list[list[str]] = []
    settings = {"micro_batch_size": 3, "sharding": sharding}
    spec = demo_spec(1, batch=4, valid=6, settings=settings)
    sink = ListSink()
    outcome = run_job(
        spec, workdir=workdir, home=home, events=sink,
        completer=lambda loaded: FixedDraws(loaded, calls),
    )  # fmt: skip
    found = {"calls": calls, "events": sink.events, "status": outcome.status}
    out.write_text(json.dumps(found | {"tokens": outcome.trained_tokens}))


def _rank(fn: Callable[..., None], rank: int, world: int, port: int, args: tuple[Any, ...]) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    os.environ["OPENRFT_DIST_TIMEOUT"] = "120"
    fn(*args, rank)
    # What the test checks is on disk now. Leave without the interpreter's shutdown, which
    # once outlived the deadline on a loaded CI machine after both ranks had done their work.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


def spawn(fn: Callable[..., None], world: int, *args: Any) -> None:
    """`fn(*args, rank)` in `world` fresh processes joined into one gloo group; all must exit 0."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    context = multiprocessing.get_context("spawn")
    ranks = [context.Process(target=_rank, args=(fn, r, world, port, args)) for r in range(world)]
    for process in ranks:
        process.start()
    deadline = time.monotonic() + DEADLINE
    for process in ranks:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in ranks:
        if process.is_alive():
            process.kill()
            process.join()
    assert [p.exitcode for p in ranks] == [0] * world


def _rank_step(home: Path, workdir: Path, out: Path, sharding: str, rank: int) -> None:
    one_step(home, workdir, out / f"rank{rank}.json", sharding)


@pytest.mark.parametrize("sharding", ["ddp", "fsdp"])
def test_two_processes_take_the_single_process_step(
    home: Path, tmp_path: Path, sharding: str
) -> None:
    one_step(home, tmp_path / "one", tmp_path / "one.json", sharding)
    spawn(_rank_step, 2, home, tmp_path / "two", tmp_path, sharding)
    one = json.loads((tmp_path / "one.json").read_text())
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    # Each rank rolled out its half of every batch (baseline, step 1, its validation).
    assert len(one["calls"]) == len(rank0["calls"]) == len(rank1["calls"]) == 3
    for whole, first, second in zip(one["calls"], rank0["calls"], rank1["calls"], strict=True):
        assert first + second == whole and len(first) == len(second) == len(whole) // 2
    # Rank 0 alone wrote the events, and they say what one process said.
    assert rank1["events"] == [] and rank0["status"] == one["status"] == "succeeded"
    assert rank0["tokens"] == one["tokens"]
    keys = ("train_mean_reward", "full_valid_mean_reward", "completion_tokens_mean", "errors")
    for mine, theirs in zip(rank0["events"], one["events"], strict=True):
        assert mine["message"] == theirs["message"]
        if mine["type"] == "metrics":
            assert {k: mine["data"][k] for k in keys} == {k: theirs["data"][k] for k in keys}
    # The gradient (Adam's first moment after one step is 0.1 × it) and the weights.
    step = Path("checkpoints") / "step-1"
    moments = [torch.load(tmp_path / run / step / "optimizer.pt") for run in ("one", "two")]
    grads = [[s["exp_avg"] for s in m["state"].values()] for m in moments]
    assert any(g.abs().sum() > 0 for g in grads[0])
    for mine, theirs in zip(grads[1], grads[0], strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-9)
    weights = [
        load_file(tmp_path / run / step / "model" / "model.safetensors") for run in ("one", "two")
    ]
    for name, tensor in weights[0].items():
        torch.testing.assert_close(weights[1][name], tensor)


def _rank_samples(home: Path, out: Path, rank: int) -> None:
    """Rank 0 samples two batches, rank 1 one (other lengths), on the FSDP-sharded tiny model;
    what each drew, alone and sharded, and whether the last layer was whole while the first
    ran → `out`."""
    loaded = load_model(tiny.NAME, home=home)
    calls = [(["Say hi", "Count to three"], 6), (["Name a colour"], 9)]
    calls = calls if rank == 0 else [(["Add 2+2"], 12)]
    alone = [_draw(loaded, prompts, tokens) for prompts, tokens in calls]
    world = join("cpu")
    world.wrap(loaded.model, "fsdp")
    layers = loaded.model.model.layers
    whole: list[bool] = []

    def seen(*_: Any) -> None:
        whole.append(not any(isinstance(p, DTensor) for p in layers[-1].parameters()))

    layers[0].register_forward_pre_hook(seen)
    with world.sampling(loaded):
        synced = [_draw(loaded, prompts, tokens) for prompts, tokens in calls]
    found = {"alone": alone, "synced": synced, "whole": whole}
    (out / f"rank{rank}.json").write_text(json.dumps(found))


def _draw(loaded: Any, prompts: list[str], tokens: int) -> list[list[int]]:
    texts = [
        render_prompt(loaded.tokenizer, [{"role": "user", "content": p}], None) for p in prompts
    ]
    drawn = sample(loaded, texts, n=2, max_new_tokens=tokens, seed=7)
    return drawn.completion_ids.tolist()


def test_fsdp_ranks_sample_the_sharded_model_in_lockstep(home: Path, tmp_path: Path) -> None:
    """Under FSDP no rank gathers the whole model to sample: each layer is gathered for its
    forward; ranks with different numbers of generate calls and lengths stay paired, and draw
    what the whole model draws in one process."""
    spawn(_rank_samples, 2, home, tmp_path)
    for rank in (0, 1):
        found = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert found["synced"] == found["alone"]
        assert found["whole"] and not any(found["whole"]), found["whole"]


def _rank_learns(home: Path, workdir: Path, out: Path, rank: int) -> None:
    sink = ListSink()
    spec = demo_spec(50, batch=8, valid=200, eval_interval=25)  # test_runner's learning test
    outcome = run_job(spec, workdir=workdir, home=home, events=sink)
    if rank == 0:
        out.write_text(json.dumps({"status": outcome.status, "events": sink.events}))


@pytest.mark.slow
def test_a_two_process_job_learns_as_one_process_does(home: Path, tmp_path: Path) -> None:
    """The learning test of `test_runner`, on 2 processes: the same gain, never the time."""
    spawn(_rank_learns, 2, home, tmp_path / "job", tmp_path / "rank0.json")
    found = json.loads((tmp_path / "rank0.json").read_text())
    assert found["status"] == "succeeded"
    events = found["events"]
    baseline = next(e for e in events if e["message"].startswith("Baseline"))
    final = [e for e in events if e["type"] == "metrics"][-1]["data"]["full_valid_mean_reward"]
    assert final - baseline["data"]["valid_reward_mean"] >= 0.30, (baseline, final)


def write_job(folder: Path, job_id: str, steps: int, **settings: Any) -> Path:
    from openrft.demo.task import make_rows

    for name, rows in (("train.jsonl", make_rows(4 * steps, 1)), ("valid.jsonl", make_rows(8, 2))):
        (folder / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    body = {
        "id": job_id, "model": "openrft-tiny", "seed": 7,
        "training_file": "train.jsonl", "validation_file": "valid.jsonl",
        "method": demo_method(batch_size=4, n_epochs=1, eval_interval=2, eval_samples=1),
        "settings": settings,
    }  # fmt: skip
    (folder / "job.json").write_text(json.dumps(body))
    return folder / "job.json"


def train(job: Path, home: Path, processes: int) -> subprocess.Popen[bytes]:
    """`openrft train`, under torchrun when `processes` > 1."""
    command = [sys.executable, "-m", "openrft.cli", "train", str(job), "--home", str(home)]
    if processes > 1:
        torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone"]
        command = [*torchrun, "--nproc-per-node", str(processes), *command[1:]]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONWARNINGS": "ignore"}
    env["OPENRFT_DIST_TIMEOUT"] = "60"
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def wait_for_step(journal: Path, step: int, alive: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE
    while not any(e["type"] == "metrics" and e["step"] >= step for e in read_events(journal)):
        assert alive() and time.monotonic() < deadline, "the job ended or stalled first"
        time.sleep(0.05)


def metric_steps(journal: Path) -> list[int]:
    return [e["step"] for e in read_events(journal) if e["type"] == "metrics"]


def test_a_killed_rank_ends_the_attempt_and_the_job_resumes_under_another_count(
    home: Path, tmp_path: Path
) -> None:
    job = write_job(tmp_path, "ftjob-killed-rank", steps=6)
    journal = home / "jobs" / "ftjob-killed-rank" / "events.jsonl"
    first = train(job, home, processes=2)
    wait_for_step(journal, 3, lambda: first.poll() is None)  # past step 2's checkpoint
    rank1 = children(first.pid)[1]  # torchrun's agent started rank 0, then rank 1
    os.kill(rank1, signal.SIGKILL)
    out, _ = first.communicate(timeout=120)  # torchrun stops rank 0: no hang
    assert first.returncode != 0, out.decode()[-2000:]
    # Resumed in one process, from the 2-process job's last checkpoint.
    second = train(job, home, processes=1)
    out, _ = second.communicate(timeout=DEADLINE)
    assert second.returncode == 0 and "succeeded" in out.decode(), out.decode()[-2000:]
    assert metric_steps(journal) == [1, 2, 3, 4, 5, 6]  # none lost, none repeated
    resumed = [e["message"] for e in read_events(journal) if e["message"].startswith("Resumed")]
    assert resumed in (["Resumed from step 2"], ["Resumed from step 4"])


@pytest.mark.parametrize("sharding", ["ddp", "fsdp"])
def test_a_job_started_in_one_process_finishes_in_two(
    home: Path, tmp_path: Path, sharding: str
) -> None:
    """One process's checkpoint (plain state) resumed by 2 ranks, copied or sharded."""
    job = write_job(tmp_path, f"ftjob-one-then-two-{sharding}", steps=4, sharding=sharding)
    journal = home / "jobs" / f"ftjob-one-then-two-{sharding}" / "events.jsonl"
    first = train(job, home, processes=1)
    wait_for_step(journal, 3, lambda: first.poll() is None)
    first.kill()
    first.communicate()
    second = train(job, home, processes=2)
    out, _ = second.communicate(timeout=DEADLINE)
    text = out.decode()
    assert second.returncode == 0 and "status: succeeded" in text, text[-2000:]
    assert text.count("status: succeeded") == 1  # rank 0 alone reports
    assert metric_steps(journal) == [1, 2, 3, 4]
    messages = [e["message"] for e in read_events(journal)]
    assert "Resumed from step 2" in messages
    assert messages.count("Checkpoint created at step 4") == 1


def test_the_process_count_is_checked_against_the_host_and_the_batch() -> None:
    check_processes(TrainSettings(processes=1), "auto")
    many = usable_cores() + 1
    with pytest.raises(InvalidRequestError, match=f"{many} processes, but this host has") as exc:
        check_processes(TrainSettings(processes=many, device="cpu"), 8)
    assert exc.value.param == "settings.processes"
    with pytest.raises(InvalidRequestError, match="batch_size 3 does not divide into 2"):
        check_processes(TrainSettings(processes=2, device="cpu"), 3)


def queue_job(home: Path, job_id: str, steps: int, processes: int) -> Any:
    """A queued job as the route stores it, its rows prepared, in a fresh store."""
    from openrft.demo.task import make_rows
    from openrft.store.db import Database
    from openrft.store.jobs import JobTable

    db = Database(home)
    hyper = {"batch_size": 4, "n_epochs": 1, "eval_interval": 2, "eval_samples": 1}
    JobTable(db).insert({
        "id": job_id, "project": "default", "created_ns": time.time_ns(), "status": "queued",
        "model": "openrft-tiny", "training_file": "file-x", "seed": 3,
        "method": demo_method(**hyper), "settings": {"processes": processes},
    })  # fmt: skip
    workdir = home / "jobs" / job_id
    workdir.mkdir(parents=True)
    for name, rows in (("train.jsonl", make_rows(4 * steps, 1)), ("valid.jsonl", make_rows(8, 2))):
        (workdir / name).write_text("".join(json.dumps(row) + "\n" for row in rows))
    return db


def test_the_worker_runs_a_job_under_torchrun_and_resumes_it_after_a_rank_dies(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openrft.jobs.launcher import ProcessLauncher
    from openrft.jobs.worker import Worker

    monkeypatch.delenv("OPENRFT_JOB_RUNNER", raising=False)
    monkeypatch.setenv("OPENRFT_DIST_TIMEOUT", "60")
    (tmp_path / "models").symlink_to(home / "models")  # the built openrft-tiny
    db = queue_job(tmp_path, "ftjob-worker-ranks", steps=6, processes=2)
    worker = Worker(
        tmp_path, db, launcher=ProcessLauncher(tmp_path, {"openrft-tiny": "openrft-tiny"})
    )
    job = "ftjob-worker-ranks"

    def metrics() -> list[int]:
        rows = db.all("SELECT step FROM events WHERE job_id = ? AND type = 'metrics'", (job,))
        return sorted(row["step"] for row in rows)

    deadline, killed = time.monotonic() + 2 * DEADLINE, False
    while (status := worker.jobs.row(job)["status"]) not in ("succeeded", "failed") or (
        worker.children  # until the last attempt's processes exited
    ):
        assert time.monotonic() < deadline, f"job stuck in {status}"
        worker.tick()
        if not killed and max(metrics(), default=0) >= 3 and job in worker.children:
            agent = worker.children[job][0].pid
            os.kill(children(agent)[1], signal.SIGKILL)  # rank 1 of attempt 1
            killed = True
        time.sleep(0.05)
    row = worker.jobs.row(job)
    assert status == "succeeded", row["error"]
    assert killed and row["attempt"] == 2
    assert metrics() == [1, 2, 3, 4, 5, 6]
    messages = [r["message"] for r in db.all("SELECT message FROM events WHERE job_id = ?", (job,))]
    assert any(m.startswith("Training process exited (1); requeued") for m in messages), messages
    assert sum(m.startswith("Resumed from step") for m in messages) == 1
    assert len(messages) == len(set(messages)) + messages.count("Training process started")
    log = (tmp_path / "jobs" / job / "child.log").read_text()
    assert "[rank1]" in log or "rank: 1" in log  # two ranks ran it


def test_a_two_process_job_pauses_as_rank_0_is_told_and_resumes(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pause reaches rank 0 (it alone polls the store) and every rank stops at the same step,
    with a checkpoint; resumed, the job finishes where it left off."""
    from openrft.jobs.launcher import ProcessLauncher
    from openrft.jobs.store import JobStore
    from openrft.jobs.worker import Worker

    monkeypatch.delenv("OPENRFT_JOB_RUNNER", raising=False)
    monkeypatch.setenv("OPENRFT_DIST_TIMEOUT", "60")
    (tmp_path / "models").symlink_to(home / "models")
    job = "ftjob-paused-ranks"
    db = queue_job(tmp_path, job, steps=6, processes=2)
    launcher = ProcessLauncher(tmp_path, {"openrft-tiny": "openrft-tiny"})
    worker, jobs = Worker(tmp_path, db, launcher=launcher), JobStore(db)

    def tick_until(*statuses: str, then: Callable[[], bool] = lambda: False) -> str:
        deadline = time.monotonic() + 2 * DEADLINE
        while (status := jobs.row(job)["status"]) not in statuses or worker.children:
            assert time.monotonic() < deadline, f"job stuck in {status}"
            worker.tick()
            if then():
                return status
            time.sleep(0.05)
        return status

    def metrics() -> list[int]:
        rows = db.all("SELECT step FROM events WHERE job_id = ? AND type = 'metrics'", (job,))
        return sorted(row["step"] for row in rows)

    tick_until("succeeded", "failed", then=lambda: bool(metrics()))
    jobs.act("default", job, "pause")
    assert tick_until("paused", "failed", "succeeded") == "paused"
    paused_at = max(metrics())
    assert paused_at < 6
    assert (tmp_path / "jobs" / job / "checkpoints" / f"step-{paused_at}").is_dir()
    jobs.act("default", job, "resume")
    assert tick_until("succeeded", "failed") == "succeeded", jobs.row(job)["error"]
    assert metrics() == [1, 2, 3, 4, 5, 6]
    messages = [r["message"] for r in db.all("SELECT message FROM events WHERE job_id = ?", (job,))]
    assert f"Resumed from step {paused_at}" in messages
