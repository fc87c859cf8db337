"""A job's secrets: the header values of its tools (`method.reinforcement.tools[].headers`).

Guarantees: the values are written once, when the job is created, to `jobs/<id>/secrets.json`
(mode 0600, atomically) and read by the job's child only; the database, the job object, the
events and the logs hold the header names with `***` values (`Method.to_json`), so a
dump of the database or a shared event stream shows no secret. What it does not do: encrypt
the file (whoever can read the home's job folders can read it, as they can read the weights)
or rotate a value (a job keeps the headers it was created with).
"""

from __future__ import annotations

import json
from pathlib import Path

from openrft.store.atomic import atomic_file
from openrft.train.spec import JobSpec, Method
from openrft.train.tools import secrets

__all__ = ["FILE", "read_secrets", "with_secrets", "write_secrets"]

FILE = "secrets.json"


def write_secrets(workdir: Path, method: Method) -> None:
    """Keep `method`'s header values beside the job (nothing is written when it has none)."""
    values = secrets(method.reinforcement.tools)
    if not values:
        return
    workdir.mkdir(parents=True, exist_ok=True)
    with atomic_file(workdir / FILE) as out:  # mkstemp: readable by this user only
        json.dump({"tools": values}, out)


def read_secrets(workdir: Path) -> dict[str, dict[str, str]]:
    path = workdir / FILE
    if not path.exists():
        return {}
    values: dict[str, dict[str, str]] = json.loads(path.read_text(encoding="utf-8"))["tools"]
    return values


def with_secrets(spec: JobSpec, workdir: Path) -> JobSpec:
    """`spec` (parsed from the stored, redacted method) with its tools' header values back."""
    if not any(tool.headers for tool in spec.reinforcement.tools):
        return spec
    method = spec.method.with_tool_secrets(read_secrets(workdir))
    return spec.model_copy(update={"method": method})
