"""The Evals API's records (spec §9): evals, runs and output items in the store, shaped
as OpenAI's `eval`, `eval.run` and `eval.run.output_item` (output items are stored a chunk
at a time by `openrft.evals.output_items`).

Guarantees: every read is scoped to a project, and another project's id answers 404 exactly as
an unknown one does; a run's counts are written in the transaction that writes the output items
they count, and only while the run is still `in_progress`, so a run cancelled, deleted or
interrupted between two chunks keeps counts that match its items. A run is graded under a
lease (`claim`, `renew`, `lease_owner`/`lease_expires_at`), like a job: of several servers
sharing the store one takes it, only the holder writes its chunks, and a run is requeued
(`requeue_interrupted`) only when its holder stopped renewing. A state change is one
compare-and-set statement (`record_run` locks the eval's row), so nothing here relies on
SQLite serialising writers. Lists page by keyset (`after` = the last id seen), so a page never
repeats or skips a row that was there before. An endpoint grader's header values (a secret)
are never in the eval's row: `create_eval` stores its criteria with `***` values and keeps the
values in `eval_secrets` (written in the same transaction, deleted with the eval), from which
`graded_criteria` puts them back for grading.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from sqlalchemy import select

from openrft.errors import NotFoundError
from openrft.evals import output_items
from openrft.evals.output_items import Chunk
from openrft.evals.scoring import criteria_counts
from openrft.outbound import join_headers, redact_headers, split_headers
from openrft.store.db import Database, Row, dumps, loads
from openrft.store.ids import new_hex_id
from openrft.store.schema import evals as _evals

__all__ = ["EvalStore", "eval_object", "run_object"]

ZERO_COUNTS = {"total": 0, "errored": 0, "failed": 0, "passed": 0}
_RUN_COLUMNS = (
    "id, eval_id, project, created_ns, name, model, status, data_source, metadata, counts, "
    "usage, per_criteria"
)


class EvalStore:
    def __init__(self, db: Database):
        self.db = db

    # --- evals ---------------------------------------------------------------------------

    def create_eval(self, project: str, fields: dict[str, Any]) -> Row:
        eval_id, now = new_hex_id("eval_"), time.time_ns()
        criteria, secrets = split_headers(fields["criteria"])
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO evals VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (eval_id, project, now, now, fields["name"] or eval_id, dumps(fields["metadata"]),
                 dumps(fields["config"]), dumps(criteria)),
            )  # fmt: skip
            if secrets:
                conn.execute(
                    "INSERT INTO eval_secrets (eval_id, criteria) VALUES (?, ?)",
                    (eval_id, dumps(secrets)),
                )
        return self.eval_row(project, eval_id)

    def graded_criteria(self, evaluation: Row) -> list[dict[str, Any]]:
        """The eval's criteria with their endpoint header values back, to grade with (never to
        show or store); a header whose value is not kept is an error naming it."""
        row = self.db.one(
            "SELECT criteria FROM eval_secrets WHERE eval_id = ?", (evaluation["id"],)
        )
        secrets = {} if row is None else loads(row["criteria"])
        criteria: list[dict[str, Any]] = join_headers(
            loads(evaluation["criteria"]), secrets, what=f"eval {evaluation['id']}"
        )
        return criteria

    def eval_row(self, project: str, eval_id: str) -> Row:
        row = self.db.one("SELECT * FROM evals WHERE id = ? AND project = ?", (eval_id, project))
        if row is None:
            raise NotFoundError(f"No such eval: {eval_id}", param="eval_id")
        return row

    def update_eval(
        self, project: str, eval_id: str, name: str | None, metadata: dict[str, str] | None
    ) -> Row:
        self.eval_row(project, eval_id)
        with self.db.tx() as conn:  # one statement: a concurrent update's field is kept
            conn.execute(
                "UPDATE evals SET name = COALESCE(?, name), metadata = COALESCE(?, metadata), "
                "updated_ns = ? WHERE id = ?",
                (name, dumps(metadata), time.time_ns(), eval_id),
            )
        return self.eval_row(project, eval_id)

    def delete_eval(self, project: str, eval_id: str) -> None:
        """The eval, its runs and their output items, at once (a running run stops at its
        next chunk: its write finds no run left)."""
        self.eval_row(project, eval_id)
        with self.db.tx() as conn:
            output_items.delete_eval(conn, eval_id)
            conn.execute("DELETE FROM eval_runs WHERE eval_id = ?", (eval_id,))
            conn.execute("DELETE FROM eval_secrets WHERE eval_id = ?", (eval_id,))
            conn.execute("DELETE FROM evals WHERE id = ?", (eval_id,))

    def eval_page(
        self, project: str, after: str | None, limit: int, order: str, order_by: str
    ) -> tuple[list[Row], bool]:
        time_key = "updated_ns" if order_by == "updated_at" else "created_ns"
        anchor = self.eval_row(project, after) if after else None
        return self._page("evals", "project = ?", [project], (time_key, "id"), anchor,
                          limit, order)  # fmt: skip

    # --- runs ----------------------------------------------------------------------------

    def create_run(
        self, project: str, eval_id: str, fields: dict[str, Any], status: str = "queued"
    ) -> Row:
        per_criteria = criteria_counts(loads(self.eval_row(project, eval_id)["criteria"]))
        run_id = new_hex_id("evalrun_")
        with self.db.tx() as conn:
            conn.execute(
                f"INSERT INTO eval_runs ({_RUN_COLUMNS}) VALUES ({', '.join('?' * 12)})",
                (run_id, eval_id, project, time.time_ns(), fields["name"] or run_id,
                 fields["model"], status, dumps(fields["data_source"]),
                 dumps(fields["metadata"]), dumps(ZERO_COUNTS), dumps([]), dumps(per_criteria)),
            )  # fmt: skip
        return self.run_row(project, eval_id, run_id)

    def record_run(
        self, project: str, eval_id: str, fields: dict[str, Any], items: list[dict[str, Any]],
        totals: dict[str, Any],
    ) -> None:  # fmt: skip
        """A run graded elsewhere (a job's validation step), written whole and `completed`;
        it replaces an earlier run of the same name (a resumed job validating a step again).
        The eval's row is locked first (PostgreSQL; SQLite's transaction locks the store), so
        two writers of one name never both find none and both insert."""
        with self.db.tx() as conn:
            conn.execute(select(_evals.c.id).where(_evals.c.id == eval_id).with_for_update())
            for (old,) in conn.execute(
                "SELECT id FROM eval_runs WHERE eval_id = ? AND name = ?", (eval_id, fields["name"])
            ).fetchall():
                output_items.delete_run(conn, old)
                conn.execute("DELETE FROM eval_runs WHERE id = ?", (old,))
            run = self.create_run(project, eval_id, fields, status="in_progress")
            self.add_items(run, items, totals, last=True)

    def run_row(self, project: str, eval_id: str, run_id: str) -> Row:
        row = self.db.one(
            "SELECT * FROM eval_runs WHERE id = ? AND eval_id = ? AND project = ?",
            (run_id, eval_id, project),
        )
        if row is None:
            raise NotFoundError(f"No such eval run: {run_id}", param="run_id")
        return row

    def run_page(
        self, project: str, eval_id: str, after: str | None, limit: int, order: str,
        status: str | None,
    ) -> tuple[list[Row], bool]:  # fmt: skip
        self.eval_row(project, eval_id)
        where, params = "eval_id = ? AND project = ?", [eval_id, project]
        if status is not None:
            where, params = where + " AND status = ?", [*params, status]
        anchor = self.run_row(project, eval_id, after) if after else None
        return self._page("eval_runs", where, params, ("created_ns", "id"), anchor, limit, order)

    def cancel_run(self, project: str, eval_id: str, run_id: str) -> Row:
        """`canceled`, unless the run has finished already (then it is left as it is)."""
        self.run_row(project, eval_id, run_id)
        self.move(run_id, {"queued", "in_progress"}, "canceled")
        return self.run_row(project, eval_id, run_id)

    def delete_run(self, project: str, eval_id: str, run_id: str) -> None:
        self.run_row(project, eval_id, run_id)
        with self.db.tx() as conn:
            output_items.delete_run(conn, run_id)
            conn.execute("DELETE FROM eval_runs WHERE id = ?", (run_id,))

    def move(
        self, run_id: str, sources: set[str], target: str, error: Any = None,
        *, owner: str | None = None,
    ) -> bool:  # fmt: skip
        """Compare-and-set of a run's status; False when it was not in `sources` (or, given
        an `owner`, no longer under that owner's lease)."""
        marks = ", ".join("?" for _ in sources)
        held, params = ("", ()) if owner is None else (" AND lease_owner = ?", (owner,))
        with self.db.tx() as conn:
            cursor = conn.execute(
                "UPDATE eval_runs SET status = ?, error = ? "
                f"WHERE id = ? AND status IN ({marks}){held}",
                (target, dumps(error), run_id, *sorted(sources), *params),
            )
        return cursor.rowcount == 1

    def next_queued(self) -> Row | None:
        return self.db.one(
            "SELECT * FROM eval_runs WHERE status = 'queued' ORDER BY created_ns, id LIMIT 1"
        )

    def claim(self, run_id: str, owner: str, lease: float) -> bool:
        """Compare-and-set `queued` -> `in_progress` under `owner`'s lease for `lease`
        seconds; False when the run was not queued (another server took it, or it was
        cancelled)."""
        with self.db.tx() as conn:
            cursor = conn.execute(
                "UPDATE eval_runs SET status = 'in_progress', lease_owner = ?, "
                "lease_expires_at = ? WHERE id = ? AND status = 'queued'",
                (owner, time.time() + lease, run_id),
            )
        return cursor.rowcount == 1

    def renew(self, run_id: str, owner: str, lease: float) -> bool:
        """Extend `owner`'s lease on the run; False when it no longer holds it."""
        with self.db.tx() as conn:
            cursor = conn.execute(
                "UPDATE eval_runs SET lease_expires_at = ? WHERE id = ? AND lease_owner = ? "
                "AND status = 'in_progress'",
                (time.time() + lease, run_id, owner),
            )
        return cursor.rowcount == 1

    def release(self, owner: str) -> int:
        """`owner`'s `in_progress` runs back to `queued` (a server stopping cleanly)."""
        with self.db.tx() as conn:
            cursor = conn.execute(
                "UPDATE eval_runs SET status = 'queued', lease_owner = NULL, "
                "lease_expires_at = NULL WHERE status = 'in_progress' AND lease_owner = ?",
                (owner,),
            )
        return cursor.rowcount

    def requeue_interrupted(self, now: float | None = None, gone: Iterable[str] = ()) -> int:
        """Runs left `in_progress` under a lease nobody renewed (their server died; or one
        with no lease at all, left by a version before leases), or held by an owner known to
        be `gone` (`store.owners`), go back to `queued`, in one statement; they keep their
        output items and go on from the first row without one. A run another live server
        renews is left to it."""
        at = time.time() if now is None else now
        owners = sorted(gone)
        held_by_gone = f" OR lease_owner IN ({', '.join('?' for _ in owners)})" if owners else ""
        with self.db.tx() as conn:
            cursor = conn.execute(
                "UPDATE eval_runs SET status = 'queued', lease_owner = NULL, "
                "lease_expires_at = NULL WHERE status = 'in_progress' "
                f"AND (lease_expires_at IS NULL OR lease_expires_at < ?{held_by_gone})",
                (at, *owners),
            )
        return cursor.rowcount

    def owners_in_progress(self) -> set[str]:
        """Who holds the leases of the runs in progress."""
        rows = self.db.all(
            "SELECT DISTINCT lease_owner FROM eval_runs "
            "WHERE status = 'in_progress' AND lease_owner IS NOT NULL"
        )
        return {row["lease_owner"] for row in rows}

    def waiting_runs(self, run_ids: list[str]) -> set[str]:
        """Those of `run_ids` still `queued` or `in_progress`."""
        marks = ", ".join("?" for _ in run_ids)
        rows = self.db.all(
            f"SELECT id FROM eval_runs WHERE id IN ({marks}) "
            "AND status IN ('queued', 'in_progress')",
            tuple(run_ids),
        )
        return {row["id"] for row in rows}

    def done_rows(self, run_id: str) -> int:
        return output_items.done_rows(self.db, run_id)

    def add_items(
        self, run: Row, items: list[dict[str, Any]], totals: dict[str, Any],
        *, last: bool = False, owner: str | None = None,
    ) -> bool:  # fmt: skip
        """`add_chunk` for output items as `scoring.build_items` makes them."""
        return self.add_chunk(run, output_items.from_items(items), totals, last=last, owner=owner)

    def add_chunk(
        self, run: Row, chunk: Chunk, totals: dict[str, Any], *, last: bool = False,
        owner: str | None = None,
    ) -> bool:  # fmt: skip
        """Write a chunk's output items and the run's new totals together, only while the run
        is `in_progress` (and, given an `owner`, under that owner's lease); False (nothing
        written) when it was cancelled, deleted or taken over by another server. The run's
        `last` chunk moves it to `completed` in the same commit."""
        now = int(time.time())
        held, params = ("", ()) if owner is None else (" AND lease_owner = ?", (owner,))
        try:
            with self.db.tx() as conn:
                cursor = conn.execute(
                    "UPDATE eval_runs SET counts = ?, usage = ?, per_criteria = ?, status = ? "
                    f"WHERE id = ? AND status = 'in_progress'{held}",
                    (dumps(totals["counts"]), dumps(totals["usage"]),
                     dumps(totals["per_criteria"]), "completed" if last else "in_progress",
                     run["id"], *params),
                )  # fmt: skip
                if cursor.rowcount != 1:
                    raise _Gone
                if chunk.rows:
                    output_items.write(conn, run, chunk, now)
        except _Gone:
            return False
        return True

    # --- output items --------------------------------------------------------------------

    def output_item(self, project: str, eval_id: str, run_id: str, item_id: str) -> dict[str, Any]:
        """OpenAI's `eval.run.output_item`."""
        run = self.run_row(project, eval_id, run_id)
        return output_items.read_one(self.db, run, item_id)

    def item_page(
        self, project: str, eval_id: str, run_id: str, after: str | None, limit: int,
        order: str, status: str | None,
    ) -> tuple[list[dict[str, Any]], bool]:  # fmt: skip
        run = self.run_row(project, eval_id, run_id)
        return output_items.read_page(self.db, run, after, limit, order == "desc", status)

    def all_items(self, project: str, eval_id: str, run_id: str) -> list[dict[str, Any]]:
        """Every output item of a run, in row order."""
        return output_items.read_all(self.db, self.run_row(project, eval_id, run_id))

    def _page(
        self, table: str, where: str, params: list[Any], keys: tuple[str, ...],
        anchor: Row | None, limit: int, order: str,
    ) -> tuple[list[Row], bool]:  # fmt: skip
        direction, compare = ("DESC", "<") if order == "desc" else ("ASC", ">")
        columns = ", ".join(keys)
        if anchor is not None:
            marks = ", ".join("?" for _ in keys)
            where += f" AND ({columns}) {compare} ({marks})"
            params = [*params, *(anchor[key] for key in keys)]
        ordering = ", ".join(f"{key} {direction}" for key in keys)
        rows = self.db.all(
            f"SELECT * FROM {table} WHERE {where} ORDER BY {ordering} LIMIT ?",
            (*params, limit + 1),
        )
        return rows[:limit], len(rows) > limit


class _Gone(Exception):
    """The run left `in_progress` while a chunk was being graded."""


def eval_object(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "eval",
        "name": row["name"],
        "created_at": row["created_ns"] // 10**9,
        "metadata": loads(row["metadata"]) or {},  # OpenAI shows {} when none was given
        "data_source_config": loads(row["config"]),
        "testing_criteria": redact_headers(loads(row["criteria"])),  # secrets: `***`
    }


def run_object(row: Row, report_url: str = "") -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "eval.run",
        "eval_id": row["eval_id"],
        "name": row["name"],
        "model": row["model"],
        "status": row["status"],
        "created_at": row["created_ns"] // 10**9,
        "data_source": loads(row["data_source"]),
        "metadata": loads(row["metadata"]) or {},
        "error": loads(row["error"]),
        "report_url": report_url,
        "result_counts": loads(row["counts"]),
        "per_model_usage": loads(row["usage"]),
        "per_testing_criteria_results": loads(row["per_criteria"]),
    }
