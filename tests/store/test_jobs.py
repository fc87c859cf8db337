"""The jobs table's interface (`openrft.store.jobs.JobTable`) on real SQLite and a real
PostgreSQL (each test runs on both): a claim is exclusive between connections, threads and
processes, a heartbeat extends only the lease its caller holds, `expired` finds stale leases, a
lost lease cannot be released, and model directories are stored relative to the home."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from openrft.store.db import Database
from openrft.store.jobs import JobTable

pytestmark = pytest.mark.usefixtures("store_backend")


def _job(jobs: JobTable, job_id: str, status: str = "queued", **fields: Any) -> None:
    columns = {"id": job_id, "project": "p", "created_ns": time.time_ns(), "status": status,
               "model": "openrft-tiny", "training_file": "file-x", "seed": 0,
               "method": {"type": "reinforcement"}}  # fmt: skip
    jobs.insert(columns | fields)


def test_of_two_connections_only_one_claims_a_job(tmp_path: Path) -> None:
    first, second = Database(tmp_path), Database(tmp_path)
    _job(JobTable(first), "ftjob-a")
    won = JobTable(first).claim("worker-1", lease=30)
    assert won is not None and won["id"] == "ftjob-a"
    assert (won["status"], won["attempt"], won["lease_owner"]) == ("running", 1, "worker-1")
    assert JobTable(second).claim("worker-2", lease=30) is None
    assert JobTable(second).get("ftjob-a")["lease_owner"] == "worker-1"  # type: ignore[index]
    first.close()
    second.close()


def _race(workers: list[JobTable]) -> list[tuple[str, str]]:
    """Every worker claims once, all released together at a barrier; (owner, job) per win."""
    start, won = threading.Barrier(len(workers)), []

    def claim(n: int) -> None:
        start.wait(timeout=60)
        job = workers[n].claim(f"w{n}", lease=30)
        if job is not None:
            won.append((f"w{n}", job["id"]))

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(len(workers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return won


def test_of_eight_workers_racing_for_one_queued_job_exactly_one_gets_it(tmp_path: Path) -> None:
    """Eight workers, each with its own connections (as on eight hosts), claim the one queued
    job at once; five times over, so the race is run more than once."""
    workers = [JobTable(Database(tmp_path)) for _ in range(8)]
    for round_ in range(5):
        _job(workers[0], f"ftjob-{round_}")
        [(owner, job_id)] = _race(workers)
        row = workers[0].get(job_id)
        assert row is not None and (row["lease_owner"], row["attempt"]) == (owner, 1)
    for table in workers:
        table.db.close()


def test_a_refused_insert_leaves_the_callers_transaction_usable(tmp_path: Path) -> None:
    """Two creates racing with one idempotency key: the loser's insert is refused and it reads
    the winner's job in the same transaction (PostgreSQL refuses that after a failed statement
    unless the insert had its own savepoint)."""
    jobs = JobTable(Database(tmp_path))
    _job(jobs, "ftjob-a", idempotency_key="k")
    with jobs.db.tx():
        with pytest.raises(IntegrityError):
            _job(jobs, "ftjob-b", idempotency_key="k")
        assert jobs.by_key("p", "k")["id"] == "ftjob-a"  # type: ignore[index]
        _job(jobs, "ftjob-c")
    assert jobs.get("ftjob-c") is not None and jobs.get("ftjob-b") is None


def test_claims_go_oldest_first_and_skip_what_the_caller_names(tmp_path: Path) -> None:
    jobs = JobTable(Database(tmp_path))
    for n, job_id in enumerate(["ftjob-old", "ftjob-mid", "ftjob-new"]):
        _job(jobs, job_id, created_ns=n)
    _job(jobs, "ftjob-paused", status="paused", created_ns=-1)
    assert jobs.next_with_status("queued")["id"] == "ftjob-old"  # type: ignore[index]
    claimed = jobs.claim("w", lease=30, skip=["ftjob-old"])
    assert claimed is not None and claimed["id"] == "ftjob-mid"
    assert [jobs.claim("w", lease=30)["id"] for _ in range(2)] == ["ftjob-old", "ftjob-new"]  # type: ignore[index]
    assert jobs.claim("w", lease=30) is None


CLAIMER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from openrft.store.db import Database
    from openrft.store.jobs import JobTable

    home, name = Path(sys.argv[1]), sys.argv[2]
    jobs = JobTable(Database(home))
    (home / f"ready-{name}").touch()
    deadline = time.monotonic() + 60
    while not (home / "go").exists() and time.monotonic() < deadline:
        time.sleep(0.001)
    claimed = []
    while (job := jobs.claim(name, lease=30)) is not None:
        claimed.append(job["id"])
        time.sleep(0.001)  # let the other claimer in between
    print(json.dumps(claimed))
    """
)


def test_two_processes_claiming_at_once_never_share_a_job(tmp_path: Path) -> None:
    jobs = JobTable(Database(tmp_path))
    ids = {f"ftjob-{n:03d}" for n in range(120)}
    for job_id in sorted(ids):
        _job(jobs, job_id)
    command = [sys.executable, "-c", CLAIMER, str(tmp_path)]
    claimers = [
        subprocess.Popen([*command, name], stdout=subprocess.PIPE, text=True)
        for name in ("w1", "w2")
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{name}").exists() for name in ("w1", "w2")):
        assert time.monotonic() < deadline and all(c.poll() is None for c in claimers)
        time.sleep(0.01)
    (tmp_path / "go").touch()
    claimed = [json.loads(claimer.communicate(timeout=120)[0]) for claimer in claimers]
    assert not set(claimed[0]) & set(claimed[1])
    assert sorted(claimed[0] + claimed[1]) == sorted(ids)
    rows = [jobs.get(job_id) for job_id in ids]
    owners = {row["id"]: row["lease_owner"] for row in rows if row is not None}
    assert all(owners[job_id] == "w1" for job_id in claimed[0])
    assert all(row is not None and row["attempt"] == 1 for row in rows)


def test_a_heartbeat_extends_only_the_lease_its_caller_holds(tmp_path: Path) -> None:
    jobs = JobTable(Database(tmp_path))
    _job(jobs, "ftjob-a")
    job = jobs.claim("w1", lease=5)
    assert job is not None
    before = job["lease_expires_at"]
    assert jobs.heartbeat("w1", {"ftjob-a": 1}, lease=600) == {"ftjob-a"}
    extended = jobs.get("ftjob-a")["lease_expires_at"]  # type: ignore[index]
    assert extended > before + 500
    assert jobs.heartbeat("w2", {"ftjob-a": 1}, lease=6000) == set()  # not its lease
    assert jobs.heartbeat("w1", {"ftjob-a": 2}, lease=6000) == set()  # not this attempt
    assert jobs.get("ftjob-a")["lease_expires_at"] == extended  # type: ignore[index]


def test_expired_finds_running_jobs_whose_lease_ran_out(tmp_path: Path) -> None:
    jobs = JobTable(Database(tmp_path))
    for job_id in ("ftjob-short", "ftjob-long", "ftjob-waiting"):
        _job(jobs, job_id)
    jobs.claim("w", lease=600)
    jobs.claim("w", lease=60000)
    later = time.time() + 6000
    assert [row["id"] for row in jobs.expired(now=later)] == ["ftjob-short"]
    assert jobs.expired() == []
    assert len(jobs.expired(now=later + 60000)) == 2  # a queued job has no lease to expire


def test_a_lost_lease_cannot_be_released(tmp_path: Path) -> None:
    """Worker A's lease expired; B requeued the job and C claimed it again. A (or anyone
    still holding the old row) releasing the old lease must not take the job from C."""
    jobs = JobTable(Database(tmp_path))
    _job(jobs, "ftjob-a")
    jobs.claim("A", lease=-1)
    [stale] = jobs.expired()
    assert jobs.release("ftjob-a", stale["attempt"])  # B: requeued once
    assert jobs.claim("C", lease=30) is not None
    assert not jobs.release("ftjob-a", stale["attempt"])  # A, late
    row = jobs.get("ftjob-a")
    assert row is not None and (row["status"], row["lease_owner"], row["attempt"]) == (
        "running", "C", 2,
    )  # fmt: skip


def test_moves_are_compare_and_set(tmp_path: Path) -> None:
    jobs = JobTable(Database(tmp_path))
    _job(jobs, "ftjob-a", status="running")
    assert jobs.move("ftjob-a", {"running"}, "paused")
    assert not jobs.move("ftjob-a", {"running"}, "failed", error={"code": "x"})
    row = jobs.get("ftjob-a")
    assert row is not None and (row["status"], row["error"]) == ("paused", None)


def test_model_paths_are_stored_relative_to_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    jobs = JobTable(Database(home))
    inside, outside = home / "jobs" / "ftjob-a" / "step-2", tmp_path / "elsewhere"
    _job(jobs, "ftjob-a", fine_tuned_model_path=inside)
    _job(jobs, "ftjob-b", fine_tuned_model_path=str(outside))
    a, b = jobs.get("ftjob-a"), jobs.get("ftjob-b")
    assert a is not None and b is not None
    assert a["fine_tuned_model_path"] == "jobs/ftjob-a/step-2"
    assert jobs.model_dir(a) == inside and jobs.model_dir(b) == outside
    moved = JobTable(Database(tmp_path / "home2"))
    assert moved.model_dir(a) == tmp_path / "home2" / "jobs" / "ftjob-a" / "step-2"


def test_an_error_message_names_paths_relative_to_the_home(tmp_path: Path) -> None:
    home = tmp_path / "home"
    jobs = JobTable(Database(home))
    _job(jobs, "ftjob-a", status="running")
    message = f"OSError: cannot read '{home}/jobs/ftjob-a/train.jsonl' (disk under {home})"
    assert jobs.move("ftjob-a", {"running"}, "failed", error={"code": "x", "message": message})
    row = jobs.get("ftjob-a")
    assert row is not None and str(tmp_path) not in row["error"]
    assert json.loads(row["error"])["message"] == (
        "OSError: cannot read 'jobs/ftjob-a/train.jsonl' (disk under OPENRFT_HOME)"
    )


def test_one_worker_validates_a_job_until_its_lease_runs_out(tmp_path: Path) -> None:
    first, second = Database(tmp_path), Database(tmp_path)
    _job(JobTable(first), "ftjob-v", status="validating_files")
    taken = JobTable(first).claim_validation("host-a", lease=30)
    assert taken is not None and taken["lease_owner"] == "host-a"
    assert JobTable(second).claim_validation("host-b", lease=30) is None  # A validates it
    JobTable(first).update("ftjob-v", lease_expires_at=time.time() - 1)  # A died meanwhile
    again = JobTable(second).claim_validation("host-b", lease=30)
    assert again is not None and again["lease_owner"] == "host-b"
    assert JobTable(second).move("ftjob-v", {"validating_files"}, "queued", lease_owner=None,
                                 lease_expires_at=None)  # fmt: skip
    assert JobTable(first).claim_validation("host-a", lease=30) is None
    first.close()
    second.close()


def test_a_finished_job_keeps_no_secrets(tmp_path: Path) -> None:
    jobs = JobTable(Database(tmp_path))
    for job_id in ("ftjob-s", "ftjob-t"):
        _job(jobs, job_id, status="running")
        jobs.keep_secrets(job_id, {"lookup": {"X-Key": f"value-{job_id}"}})
    assert jobs.secrets("ftjob-s") == {"lookup": {"X-Key": "value-ftjob-s"}}
    assert jobs.move("ftjob-s", {"running"}, "paused")  # not finished: still needed
    assert jobs.secrets("ftjob-s") is not None
    assert jobs.move("ftjob-s", {"paused"}, "cancelled")
    assert jobs.secrets("ftjob-s") is None and jobs.secrets("ftjob-t") is not None
    rows = jobs.db.all("SELECT * FROM jobs")
    assert "value-" not in json.dumps([dict(row) for row in rows])  # never in a job's row
