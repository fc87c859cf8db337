"""What `run_job` returns (`JobOutcome`), and the one place a finished attempt's last events
are worded and written (`announce`).

The trainer reports; it does not announce. Whoever ends the attempt writes the outcome's
final events exactly once, through `announce`: the job child inside the transaction that
records the job's status (`openrft.jobs.record`), `openrft train` into the job's journal.
"""

from __future__ import annotations

from typing import Any, Literal

from typing_extensions import TypedDict

from openrft.strict import Strict
from openrft.train.checkpoints import Checkpoint, CheckpointStore, ranked
from openrft.train.events import EventSink, Level
from openrft.train.naming import checkpoint_id

Status = Literal["succeeded", "failed", "cancelled", "paused"]


class JobError(TypedDict):
    """OpenAI's job `error` object."""

    code: str
    message: str
    param: str | None


class KeptCheckpoint(TypedDict):
    """A verified checkpoint on disk, as the job store records it (J3)."""

    step: int
    path: str
    metrics: dict[str, Any]
    model_name: str


class JobOutcome(Strict):
    status: Status
    step: int | None = None
    """The last step completed; keys the final events, so a rerun does not repeat them."""
    error: JobError | None = None
    """`{code, message, param}` for a failed job."""
    resolved_hyperparameters: dict[str, Any] | None = None
    """OpenAI's seven keys with every "auto" resolved (J2)."""
    checkpoints: list[KeptCheckpoint] | None = None
    """Kept checkpoints, oldest first; None when unknown (a crash that could not say): the
    ones last reported stand."""
    fine_tuned_model_path: str | None = None
    """The final checkpoint, or for a job with an `eval_grader` the best by it (a succeeded
    job only); `load_model` serves it."""
    trained_tokens: int | None = None
    """Prompt and completion tokens that went through training forward passes."""


def failed(message: str, code: str = "training_error", step: int | None = None) -> JobOutcome:
    """An attempt that ended before the trainer could report (or with an error it caught)."""
    error: JobError = {"code": code, "message": message[:2000], "param": None}
    return JobOutcome(status="failed", error=error, step=step)


def build_outcome(
    status: Status,
    store: CheckpointStore,
    *,
    model_name: str,
    step: int,
    error: JobError | None = None,
    hyperparameters: dict[str, Any] | None = None,
    trained_tokens: int | None = None,
    best_by: str | None = None,
) -> JobOutcome:
    """`best_by`: the checkpoint metric that picks the model (else the final checkpoint)."""
    kept = store.verified()
    final = _model(kept, best_by) if status == "succeeded" else None
    return JobOutcome(
        status=status,
        step=step,
        error=error,
        resolved_hyperparameters=hyperparameters,
        checkpoints=describe(kept, model_name),
        fine_tuned_model_path=str(final.path) if final else None,
        trained_tokens=trained_tokens,
    )


def _model(kept: list[Checkpoint], best_by: str | None) -> Checkpoint | None:
    """The checkpoint the job's fine-tuned model is: the best by `best_by`, else the newest."""
    best = ranked(kept, best_by) if best_by else []
    return best[0] if best else (kept[-1] if kept else None)


def describe(kept: list[Checkpoint], model_name: str) -> list[KeptCheckpoint]:
    """Kept checkpoints as the job store records them (`JobOutcome.checkpoints`)."""
    return [
        {
            "step": c.step,
            "path": str(c.path),
            "metrics": c.metrics,
            "model_name": checkpoint_id(model_name, c.step),
        }
        for c in kept
    ]


def final_events(outcome: JobOutcome, model_name: str) -> list[tuple[Level, str]]:
    """The attempt's last messages, OpenAI's wording for the first two."""
    if outcome.status == "succeeded":
        return [
            ("info", f"New fine-tuned model created: {model_name}"),
            ("info", "The job has successfully completed"),
        ]
    if outcome.status == "failed":
        message = outcome.error["message"] if outcome.error else "training failed"
        return [("error", f"Job failed: {message}")]
    return [("info", "Job cancelled" if outcome.status == "cancelled" else "Job paused")]


def announce(outcome: JobOutcome, model_name: str, sink: EventSink) -> None:
    """Write the outcome's final events to `sink`, keyed by its step."""
    for level, message in final_events(outcome, model_name):
        sink.emit("message", level, message, None, outcome.step)
