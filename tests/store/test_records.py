"""The store modules beyond jobs and files, each test on SQLite and on PostgreSQL: job events
(a metrics event and a step's message once, newest first, cursor pages), checkpoints (a step
recorded again replaces its row; retention forgets rows), eval records (keyset pages over the
`row` column, compare-and-set moves, counts written with their items) and reviews."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from openrft.errors import InvalidRequestError
from openrft.evals.records import EvalStore
from openrft.evals.review import ReviewCreateRequest
from openrft.evals.review_store import ReviewStore
from openrft.jobs.events import EventStore
from openrft.jobs.record import EventsOf
from openrft.store.db import Database, loads

pytestmark = pytest.mark.usefixtures("store_backend")


def test_events_are_kept_once_per_step_and_paged_newest_first(tmp_path: Path) -> None:
    events = EventStore(Database(tmp_path))
    for step in (1, 2, 2, 3):  # step 2 replayed after a resume
        events.add("ftjob-a", f"step {step}", type="metrics", data={"step": step}, step=step)
        events.add("ftjob-a", "said", step=step)
    events.add("ftjob-a", "said")  # no step: not deduplicated
    events.add("ftjob-a", "said")
    events.add("ftjob-b", "other job")
    rows, more = events.page("ftjob-a", None, 3)
    assert [row["message"] for row in rows] == ["said", "said", "said"] and more
    everything, _ = events.page("ftjob-a", None, 100)
    assert [row["message"] for row in everything if row["type"] == "metrics"] == [
        "step 3", "step 2", "step 1",
    ]  # fmt: skip
    assert len(everything) == 8
    older, more = events.page("ftjob-a", rows[-1]["id"], 100)
    assert [row["id"] for row in older] == [row["id"] for row in everything[3:]] and not more
    with pytest.raises(InvalidRequestError):
        events.page("ftjob-b", rows[0]["id"], 10)  # another job's cursor


def test_the_trainer_s_events_are_kept_once_by_their_key_without_a_journal(
    tmp_path: Path,
) -> None:
    """A job taken over by another host starts without the first host's `events.jsonl`: the
    store dedupes what the trainer emits again (a start before the first checkpoint, a step
    replayed after it), while the worker's own messages may repeat."""
    events = EventStore(Database(tmp_path))
    for _attempt in (1, 2):  # each host's trainer, from the job's start
        sink = EventsOf(events, "ftjob-a")
        sink.emit("message", "info", "Fine-tuning job started")
        sink.emit("message", "info", "Hyperparameters resolved", {"batch_size": 2})
        sink.emit("metrics", "info", "Step 1/2", {"step": 1}, 1)
        sink.emit("message", "info", "Checkpoint created at step 1", None, 1)
        events.add("ftjob-a", "Worker lost; job requeued to resume from its checkpoint")
    rows, _ = events.page("ftjob-a", None, 100)
    assert sorted(row["message"] for row in rows) == [
        "Checkpoint created at step 1", "Fine-tuning job started", "Hyperparameters resolved",
        "Step 1/2", *["Worker lost; job requeued to resume from its checkpoint"] * 2,
    ]  # fmt: skip


def test_an_event_names_no_host_path(tmp_path: Path) -> None:
    db = Database(tmp_path)
    events = EventStore(db)
    home = os.path.abspath(db.home)
    events.add("ftjob-a", f"Could not read {home}/jobs/ftjob-a/ckpt/manifest.json", once=True)
    events.add("ftjob-a", f"Could not read {home}/jobs/ftjob-a/ckpt/manifest.json", once=True)
    events.add("ftjob-a", f"home {home} is full", level="warn")
    rows, _ = events.page("ftjob-a", None, 10)
    assert [row["message"] for row in rows] == [
        "home OPENRFT_HOME is full", "Could not read jobs/ftjob-a/ckpt/manifest.json",
    ]  # fmt: skip


def test_a_checkpoint_recorded_again_replaces_its_row(tmp_path: Path) -> None:
    db = Database(tmp_path)
    events = EventStore(db)
    for step in (1, 2, 3):
        (tmp_path / "jobs" / "ftjob-a" / f"step-{step}").mkdir(parents=True)
        events.record_checkpoint("ftjob-a", step, str(tmp_path / "jobs" / "ftjob-a" / f"step-{step}"),
                                 f"ft:m:ckpt-step-{step}", {"reward": 0.1})  # fmt: skip
    events.record_checkpoint("ftjob-a", 2, str(tmp_path / "jobs" / "ftjob-a" / "step-2"),
                             "ft:m:ckpt-step-2", {"reward": 0.9})  # fmt: skip
    events.forget_checkpoints("ftjob-a", {2, 3})
    rows, more = events.checkpoint_page("ftjob-a", None, 10)
    assert [(row["step"], loads(row["metrics"])["reward"]) for row in rows] == [(3, 0.1), (2, 0.9)]
    assert rows[1]["path"] == "jobs/ftjob-a/step-2" and not more


def _run(store: EvalStore) -> tuple[str, str]:
    evaluation = store.create_eval("p", {"name": None, "metadata": {"k": "v"},
                                         "config": {"type": "custom"}, "criteria": []})  # fmt: skip
    run = store.create_run("p", evaluation["id"], {"name": "r", "model": "m", "metadata": None,
                                                   "data_source": {"type": "jsonl"}})  # fmt: skip
    return evaluation["id"], run["id"]


def test_eval_items_are_written_with_their_counts_and_paged_by_row(tmp_path: Path) -> None:
    store = EvalStore(Database(tmp_path))
    eval_id, run_id = _run(store)
    assert store.move(run_id, {"queued"}, "in_progress")
    assert not store.move(run_id, {"queued"}, "in_progress")  # compare-and-set
    totals = {"counts": {"total": 5}, "usage": [], "per_criteria": []}
    items = [{"row": row, "status": "pass", "item": {"q": row}, "results": [], "sample": {}}
             for row in range(5)]  # fmt: skip
    assert store.add_items(store.run_row("p", eval_id, run_id), items, totals)
    assert store.done_rows(run_id) == 5
    first, more = store.item_page("p", eval_id, run_id, None, 2, "asc", None)
    assert [item["datasource_item_id"] for item in first] == [0, 1] and more
    rest, more = store.item_page("p", eval_id, run_id, first[-1]["id"], 10, "asc", "pass")
    assert [item["datasource_item_id"] for item in rest] == [2, 3, 4] and not more
    assert store.waiting_runs([run_id, "evalrun_x"]) == {run_id}
    assert store.requeue_interrupted() == 1  # in progress with no lease: nobody holds it
    assert store.next_queued()["id"] == run_id  # type: ignore[index]
    store.cancel_run("p", eval_id, run_id)
    assert not store.add_items(store.run_row("p", eval_id, run_id), items, totals)  # cancelled
    assert loads(store.run_row("p", eval_id, run_id)["counts"]) == {"total": 5}
    evals, _ = store.eval_page("p", None, 10, "desc", "created_at")
    assert [row["id"] for row in evals] == [eval_id]
    store.delete_eval("p", eval_id)
    assert store.done_rows(run_id) == 0


def test_a_run_another_live_server_grades_is_not_requeued(tmp_path: Path) -> None:
    """Two servers share the store: the one starting requeues only a run whose lease nobody
    renews, and the server that lost a run writes none of its chunks."""
    store = EvalStore(Database(tmp_path))
    eval_id, run_id = _run(store)
    assert store.claim(run_id, "server-a", 30)
    assert not store.claim(run_id, "server-b", 30)  # one server grades a run
    assert store.renew(run_id, "server-a", 30) and not store.renew(run_id, "server-b", 30)

    assert store.requeue_interrupted() == 0  # server B starts while A still renews
    assert store.run_row("p", eval_id, run_id)["status"] == "in_progress"

    later = time.time() + 31  # server A died: nobody renewed the lease
    assert store.requeue_interrupted(now=later) == 1
    assert store.claim(run_id, "server-b", 30)
    totals = {"counts": {"total": 1}, "usage": [], "per_criteria": []}
    items = [{"row": 0, "status": "pass", "item": {}, "results": [], "sample": {}}]
    run = store.run_row("p", eval_id, run_id)
    assert not store.add_items(run, items, totals, owner="server-a")  # A's late chunk
    assert not store.renew(run_id, "server-a", 30)
    assert not store.move(run_id, {"in_progress"}, "failed", owner="server-a")  # nor fail it
    assert store.done_rows(run_id) == 0
    assert store.add_items(run, items, totals, owner="server-b", last=True)
    assert store.run_row("p", eval_id, run_id)["status"] == "completed"
    assert store.release("server-b") == 0  # a finished run stays finished


def test_a_run_held_by_a_gone_owner_is_requeued_before_its_lease_ends(tmp_path: Path) -> None:
    store = EvalStore(Database(tmp_path))
    _, dead = _run(store)
    _, live = _run(store)
    _, other = _run(store)
    assert store.claim(dead, "server-a", 30) and store.claim(live, "server-b", 30)
    assert store.claim(other, "server-c", 30)
    assert store.requeue_interrupted(gone=[]) == 0
    assert store.requeue_interrupted(gone=["server-a", "server-x"]) == 1
    queued = store.db.all("SELECT id FROM eval_runs WHERE status = 'queued'")
    assert [row["id"] for row in queued] == [dead]


def test_a_clean_stop_requeues_only_its_own_runs(tmp_path: Path) -> None:
    store = EvalStore(Database(tmp_path))
    _, mine = _run(store)
    _, theirs = _run(store)
    assert store.claim(mine, "server-a", 30) and store.claim(theirs, "server-b", 30)
    assert store.release("server-a") == 1
    assert [row["id"] for row in store.db.all(
        "SELECT id FROM eval_runs WHERE status = 'queued'")] == [mine]  # fmt: skip


def test_a_review_keeps_each_verdict(tmp_path: Path) -> None:
    reviews = ReviewStore(Database(tmp_path))
    output = {"output_text": "4", "reward": 1.0}
    body = ReviewCreateRequest.model_validate({"candidate": "ft:c", "baseline": "base", "items": [
        {"slice": s, "item": {"q": n}, "candidate": output, "baseline": output}
        for n, s in enumerate(["math", "math", "code"])]})  # fmt: skip
    review = reviews.create("p", body)
    items = reviews.items("p", review["id"])
    assert [item["slice"] for item in items] == ["math", "math", "code"]
    reviews.decide("p", items[0]["id"], "approved", None)
    reviews.decide("p", items[2]["id"], "rejected", "wrong language")
    assert [item["status"] for item in reviews.items("p", review["id"], "pending")] == ["pending"]
    listed, more = reviews.reviews("p", candidate="ft:c")
    assert [r["id"] for r in listed] == [review["id"]] and not more
