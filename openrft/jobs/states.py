"""Job statuses and the transitions between them (decision J1), in one table.

Statuses are OpenAI's six plus `paused`. Terminal states are never left. A request for a
transition the table does not allow is a 400 (`InvalidRequestError`), never a 409: the SDK
retries 409s, and no retry can make a finished job pausable.
"""

from __future__ import annotations

from openrft.errors import InvalidRequestError

# Who moves a job where: the API (cancel, pause, resume) or the worker (everything else).
TRANSITIONS: dict[str, frozenset[str]] = {
    "validating_files": frozenset({"queued", "failed", "cancelled"}),
    "queued": frozenset({"running", "paused", "cancelled", "failed"}),
    "running": frozenset({"succeeded", "failed", "cancelled", "paused", "queued"}),
    "paused": frozenset({"queued", "cancelled"}),
    "succeeded": frozenset(),
    "failed": frozenset(),
    "cancelled": frozenset(),
}

# The user-facing actions: the states each may start from, and where it leads.
ACTIONS: dict[str, tuple[frozenset[str], str]] = {
    "cancel": (frozenset({"validating_files", "queued", "running", "paused"}), "cancelled"),
    "pause": (frozenset({"queued", "running"}), "paused"),
    "resume": (frozenset({"paused"}), "queued"),
}


def check_move(sources: set[str] | frozenset[str], target: str) -> None:
    """A programming error, not a request error: a move the table does not allow."""
    bad = sorted(source for source in sources if target not in TRANSITIONS[source])
    if bad:
        raise ValueError(f"no transition from {', '.join(bad)} to {target}")


def check_action(action: str, job_id: str, current: str) -> str:
    """The status `action` leads to from `current`, or a 400 that says why not."""
    sources, target = ACTIONS[action]
    if current not in sources:
        raise InvalidRequestError(
            f"Cannot {action} fine-tuning job {job_id}: its status is {current!r}",
            param="fine_tuning_job_id",
            code="invalid_job_state",
        )
    return target
