"""Architecture: no SQL on the `jobs` table outside its store module (`openrft.store.jobs`),
the old SQLite migrations (`openrft.store.migrations`) and the Alembic revisions (frozen: a
revision never calls the modules that change after it): its leases and moves are one
module to read, on either backend."""

from __future__ import annotations

import re
from pathlib import Path

import openrft

ROOT = Path(openrft.__file__).parent
ALLOWED = {"store/jobs.py", "store/migrations.py"}
REVISIONS = "store/revisions/versions/"
# The SQL here is upper case; prose ("... from jobs/<id>") is not.
JOBS_SQL = re.compile(r"\b(?:FROM|INTO|UPDATE|JOIN|TABLE)\s+jobs\b")


def _sql_on_jobs(path: Path) -> list[str]:
    text = path.read_text(encoding="utf-8")
    return [match.group(0) for match in JOBS_SQL.finditer(text)]


def test_no_sql_on_the_jobs_table_outside_the_store() -> None:
    found = {
        path.relative_to(ROOT).as_posix(): _sql_on_jobs(path)
        for path in sorted(ROOT.rglob("*.py"))
        if path.relative_to(ROOT).as_posix() not in ALLOWED
        and not path.relative_to(ROOT).as_posix().startswith(REVISIONS)
        and _sql_on_jobs(path)
    }
    assert found == {}


def test_the_pattern_finds_the_store_s_own_sql() -> None:
    """The check above would pass on an empty pattern; this one would not."""
    found = set(_sql_on_jobs(ROOT / "store" / "jobs.py"))
    assert {"FROM jobs", "INTO jobs", "UPDATE jobs", "JOIN jobs"} <= found
