"""Writing a finished attempt's `JobOutcome` into the store (the child calls this).

Checkpoints are recorded first (they are complete: the trainer reports only verified ones),
then the final status, as a compare-and-set from `running`: if the API paused or cancelled
the job meanwhile, that state stands and only the checkpoints are kept. This is where a
server job's final events are written (`outcome.announce`), in the same transaction as the
status, once: the trainer reports its outcome and leaves the announcing to its caller.
"""

from __future__ import annotations

import time
from typing import Any

from openrft.jobs.events import EventStore
from openrft.jobs.store import JobStore
from openrft.train.naming import checkpoint_id
from openrft.train.outcome import JobError, JobOutcome, KeptCheckpoint, announce

__all__ = ["EventsOf", "record_checkpoints", "record_outcome"]


class EventsOf:
    """An `EventSink` writing one job's `fine_tuning.job.event` rows, each once by the
    journal's key (`openrft.train.events.event_key`): the store dedupes, since the journal
    (`events.jsonl`) is this host's only, and a job taken over elsewhere starts without it."""

    def __init__(self, events: EventStore, job_id: str):
        self.store, self.job_id = events, job_id

    def emit(
        self,
        type: str,
        level: str,
        message: str,
        data: dict[str, Any] | None = None,
        step: int | None = None,
    ) -> None:
        self.store.add(self.job_id, message, level=level, type=type, data=data, step=step,
                       once=True)  # fmt: skip


def record_checkpoints(
    events: EventStore, job_id: str, ft_name: str, kept: list[KeptCheckpoint] | None
) -> None:
    """Make the job's checkpoint rows the trainer's kept ones; None (a crash that could not
    say) leaves the rows as the last report left them."""
    if kept is None:
        return
    steps = set()
    for ckpt in kept:
        step = ckpt["step"]
        # Named from the job's own model id, so `{fine_tuned_model}:ckpt-step-{N}` (J3) holds.
        name = checkpoint_id(ft_name, step)
        events.record_checkpoint(job_id, step, ckpt["path"], name, dict(ckpt["metrics"]))
        steps.add(step)
    events.forget_checkpoints(job_id, steps)


def _error(error: JobError | None) -> dict[str, Any]:
    if error is None:
        return {"code": "training_error", "message": "training failed", "param": None}
    return dict(error)


def record_outcome(
    jobs: JobStore, events: EventStore, job_id: str, outcome: JobOutcome, ft_name: str
) -> None:
    """Record `outcome` under `ft_name`, the model name the trainer was given."""
    record_checkpoints(events, job_id, ft_name, outcome.checkpoints)
    jobs.update(
        job_id, resolved=outcome.resolved_hyperparameters, trained_tokens=outcome.trained_tokens
    )
    now = int(time.time())
    # One transaction: whoever sees the final status also sees the model and its events.
    with jobs.db.tx():
        if outcome.status == "succeeded":
            won = jobs.move(
                job_id,
                {"running"},
                "succeeded",
                fine_tuned_model=ft_name,
                fine_tuned_model_path=outcome.fine_tuned_model_path,
                finished_at=now,
            )
            if not won:  # paused or cancelled meanwhile: that state stands, unannounced
                return
        elif outcome.status == "failed":
            error = _error(outcome.error)
            jobs.move(job_id, {"running"}, "failed", error=error, finished_at=now)
        elif outcome.status == "paused":  # an alarm paused it (a paused-by-request job is so)
            jobs.move(job_id, {"running"}, "paused")
        announce(outcome, ft_name, EventsOf(events, job_id))
