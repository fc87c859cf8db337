"""A job's secrets: the header values of its tools (`method.reinforcement.tools[].headers`).

Guarantees: the values are written once, in the transaction that creates the job, to the
store's `job_secrets` table (one row per job, apart from the job's row), so the job's child
reads them on whichever host takes the job (a worker elsewhere, after a takeover); the row is
deleted in the transaction that moves the job to `succeeded`, `failed` or `cancelled`
(`JobTable.move`). The job object, its row and stored method (`Method.to_json`: the header
names with `***` values), its events and the logs never hold a value; a dump of the database
shows none once every job in it has finished.
What it does not do: encrypt the values (whoever can read the store's tables can read the
header values of a job not finished yet, as whoever can read the home can read its
weights) or rotate a value (a job keeps the headers it was created with).
"""

from __future__ import annotations

from openrft.store.jobs import JobTable
from openrft.train.spec import JobSpec, Method
from openrft.train.tools import secrets

__all__ = ["read_secrets", "with_secrets", "write_secrets"]


def write_secrets(jobs: JobTable, job_id: str, method: Method) -> None:
    """Keep `method`'s header values for the job (nothing is written when it has none)."""
    values = secrets(method.reinforcement.tools)
    if values:
        jobs.keep_secrets(job_id, values)


def read_secrets(jobs: JobTable, job_id: str) -> dict[str, dict[str, str]]:
    return jobs.secrets(job_id) or {}


def with_secrets(spec: JobSpec, jobs: JobTable) -> JobSpec:
    """`spec` (parsed from the stored, redacted method) with its tools' header values back."""
    if not any(tool.headers for tool in spec.reinforcement.tools):
        return spec
    method = spec.method.with_tool_secrets(read_secrets(jobs, spec.id))
    return spec.model_copy(update={"method": method})
