"""A job's secrets: the header values of its tools (`method.reinforcement.tools[].headers`) and
of its endpoint graders (`method.reinforcement.grader`, a `multi`'s sub-graders included, and
`settings.eval_grader`).

Guarantees: the values are written once, in the transaction that creates the job, to the
store's `job_secrets` table (one row per job, apart from the job's row), so the job's child
reads them on whichever host takes the job (a worker elsewhere, after a takeover); the row is
deleted in the transaction that moves the job to `succeeded`, `failed` or `cancelled`
(`JobTable.move`). The job object, its row (stored method: `Method.to_json`; settings:
`TrainSettings`' serializer; both the header names with `***` values), the job's validation
eval (`criteria` copied from the stored, redacted graders), its events and the logs never hold
a value; a dump of the database shows none once every job in it has finished.
What it does not do: encrypt the values (whoever can read the store's tables can read the
header values of a job not finished yet, as whoever can read the home can read its
weights) or rotate a value (a job keeps the headers it was created with).
"""

from __future__ import annotations

from openrft.store.jobs import JobTable
from openrft.train.spec import JobSpec, Method, TrainSettings, grader_json
from openrft.train.tools import secrets

__all__ = ["read_secrets", "with_secrets", "write_secrets"]


def write_secrets(
    jobs: JobTable, job_id: str, method: Method, settings: TrainSettings | None = None
) -> None:
    """Keep the header values of `method` (and `settings.eval_grader`) for the job (nothing is
    written when it has none)."""
    tools = secrets(method.reinforcement.tools)
    graders = {"grader": method.grader_secrets()}
    if settings is not None and settings.eval_grader is not None:
        graders["eval_grader"] = grader_json(settings.eval_grader)[1]
    graders = {key: values for key, values in graders.items() if values}
    if tools or graders:
        jobs.keep_secrets(job_id, tools, graders)


def read_secrets(jobs: JobTable, job_id: str) -> dict[str, dict[str, str]]:
    return jobs.secrets(job_id) or {}


def with_secrets(spec: JobSpec, jobs: JobTable) -> JobSpec:
    """`spec` (parsed from the stored, redacted method and settings) with its tools' and
    endpoint graders' header values back; a value not kept is an error naming its header."""
    method, settings = spec.method, spec.settings
    if any(tool.headers for tool in spec.reinforcement.tools):
        method = method.with_tool_secrets(read_secrets(jobs, spec.id))
    graders = jobs.grader_secrets(spec.id)  # a header still `***` without one: an error
    method = method.with_grader_secrets(graders.get("grader", {}))
    settings = settings.with_grader_secrets(graders.get("eval_grader", {}))
    return spec.model_copy(update={"method": method, "settings": settings})
