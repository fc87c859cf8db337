"""Reviews in the SQLite store: one row per review, one per reviewed item (migration m011).

Guarantees: every read and write is scoped to a project, and another project's review or item
id answers 404 exactly as an unknown one does; a review and all its items are written in one
transaction; a verdict is written with the time it was given, and the latest verdict on an item
is the one that counts. What it does not keep: a history of changed verdicts, or who gave them
(the API key's project is all the server knows of a caller).
"""

from __future__ import annotations

import time
from typing import Any

from openrft.errors import InvalidRequestError, NotFoundError
from openrft.evals.records import EvalStore
from openrft.evals.review import (
    ReviewCreateRequest,
    ReviewFromRunsRequest,
    ReviewItemRequest,
    ReviewOutput,
    Verdict,
    pick,
)
from openrft.store.db import Database, Row, dumps, loads
from openrft.store.ids import new_hex_id

__all__ = ["ReviewStore", "from_eval_runs", "item_object", "review_object"]

STATUSES = ("pending", "approved", "rejected")


class ReviewStore:
    def __init__(self, db: Database):
        self.db = db

    def create(self, project: str, body: ReviewCreateRequest) -> dict[str, Any]:
        review_id, now = new_hex_id("review_"), time.time_ns()
        with self.db.tx() as conn:
            conn.execute(
                "INSERT INTO reviews VALUES (?, ?, ?, ?, ?, ?, ?)",
                (review_id, project, now, body.candidate, body.baseline, body.grader,
                 dumps(body.metadata)),
            )  # fmt: skip
            conn.executemany(
                "INSERT INTO review_items VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', NULL, NULL)",
                [(new_hex_id("reviewitem_"), review_id, project, position, item.slice,
                  dumps(item.item), dumps(item.candidate.model_dump()),
                  dumps(item.baseline.model_dump()))
                 for position, item in enumerate(body.items)],
            )  # fmt: skip
        return self.review(project, review_id)

    def _row(self, project: str, review_id: str) -> Row:
        row = self.db.one(
            "SELECT * FROM reviews WHERE id = ? AND project = ?", (review_id, project)
        )
        if row is None:
            raise NotFoundError(f"No such review: {review_id}", param="review_id")
        return row

    def review(self, project: str, review_id: str) -> dict[str, Any]:
        return review_object(self._row(project, review_id), self._counts(review_id))

    def reviews(
        self, project: str, candidate: str | None = None, baseline: str | None = None,
        limit: int = 20,
    ) -> tuple[list[dict[str, Any]], bool]:  # fmt: skip
        """Newest first; `has_more` when more than `limit` match."""
        where, params = "project = ?", [project]
        for column, value in (("candidate", candidate), ("baseline", baseline)):
            if value is not None:
                where, params = f"{where} AND {column} = ?", [*params, value]
        rows = self.db.all(
            f"SELECT * FROM reviews WHERE {where} ORDER BY created_ns DESC, id DESC LIMIT ?",
            (*params, limit + 1),
        )
        return [review_object(r, self._counts(r["id"])) for r in rows[:limit]], len(rows) > limit

    def items(
        self, project: str, review_id: str, status: str | None = None
    ) -> list[dict[str, Any]]:
        self._row(project, review_id)
        where, params = "review_id = ?", [review_id]
        if status is not None:
            where, params = where + " AND status = ?", [*params, status]
        rows = self.db.all(
            f"SELECT * FROM review_items WHERE {where} ORDER BY position", tuple(params)
        )
        return [item_object(row) for row in rows]

    def item(self, project: str, item_id: str) -> dict[str, Any]:
        return item_object(self._item(project, item_id))

    def _item(self, project: str, item_id: str) -> Row:
        row = self.db.one(
            "SELECT * FROM review_items WHERE id = ? AND project = ?", (item_id, project)
        )
        if row is None:
            raise NotFoundError(f"No such review item: {item_id}", param="item_id")
        return row

    def decide(
        self, project: str, item_id: str, verdict: Verdict, note: str | None
    ) -> dict[str, Any]:
        self._item(project, item_id)
        if verdict == "rejected" and not (note or "").strip():
            raise InvalidRequestError("A rejection needs a note saying why.", param="note")
        with self.db.tx() as conn:
            conn.execute(
                "UPDATE review_items SET status = ?, note = ?, decided_at = ? WHERE id = ?",
                (verdict, note, int(time.time()), item_id),
            )
        return self.item(project, item_id)

    def _counts(self, review_id: str) -> dict[str, dict[str, int]]:
        """`{slice: {status: n}}` for one review."""
        counts: dict[str, dict[str, int]] = {}
        for row in self.db.all(
            "SELECT slice, status, COUNT(*) AS n FROM review_items WHERE review_id = ? "
            "GROUP BY slice, status",
            (review_id,),
        ):
            counts.setdefault(row["slice"], dict.fromkeys(STATUSES, 0))[row["status"]] = row["n"]
        return counts


def _totals(per_slice: dict[str, dict[str, int]]) -> dict[str, int]:
    totals = {status: sum(c[status] for c in per_slice.values()) for status in STATUSES}
    return {"total": sum(totals.values()), **totals}


def review_object(row: Row, per_slice: dict[str, dict[str, int]]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "review",
        "created_at": row["created_ns"] // 10**9,
        "candidate": row["candidate"],
        "baseline": row["baseline"],
        "grader": row["grader"],
        "metadata": loads(row["metadata"]) or {},
        "counts": _totals(per_slice),
        "per_slice": {name: _totals({name: c}) for name, c in sorted(per_slice.items())},
    }


def item_object(row: Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "object": "review.item",
        "review_id": row["review_id"],
        "position": row["position"],
        "slice": row["slice"],
        "item": loads(row["item"]),
        "candidate": loads(row["candidate"]),
        "baseline": loads(row["baseline"]),
        "status": row["status"],
        "note": row["note"],
        "decided_at": row["decided_at"],
    }


# --- a review from two Evals API runs -----------------------------------------------------


def from_eval_runs(
    evals: EvalStore, project: str, body: ReviewFromRunsRequest
) -> ReviewCreateRequest:
    """The rows both runs answered, picked per slice, each with both runs' answers and the
    first testing criterion's score (None where it errored)."""
    criteria = loads(evals.eval_row(project, body.eval_id)["criteria"])
    runs = [evals.run_row(project, body.eval_id, run_id)
            for run_id in (body.candidate_run_id, body.baseline_run_id)]  # fmt: skip
    candidate, baseline = (_items_by_row(evals, project, run) for run in runs)
    common = sorted(set(candidate) & set(baseline))
    if not common:
        raise InvalidRequestError(
            "The two runs have no output item for the same data source row.",
            param="baseline_run_id",
        )
    rows = [_prompted(candidate[row]) for row in common]
    items = [
        ReviewItemRequest(slice=name, item=rows[index],
                          candidate=_output(candidate[common[index]]),
                          baseline=_output(baseline[common[index]]))
        for index, name in pick(rows, body.per_slice, body.seed)
    ]  # fmt: skip
    return ReviewCreateRequest(
        candidate=runs[0]["model"] or runs[0]["name"],
        baseline=runs[1]["model"] or runs[1]["name"],
        grader=criteria[0]["name"] if criteria else None,
        metadata=body.metadata,
        items=items,
    )


def _items_by_row(evals: EvalStore, project: str, run: Row) -> dict[int, dict[str, Any]]:
    items = evals.all_items(project, run["eval_id"], run["id"])
    return {item["datasource_item_id"]: item for item in items}


def _prompted(output: dict[str, Any]) -> dict[str, Any]:
    """The data source item, with the messages the model was asked as its `messages`."""
    item = output["datasource_item"]
    item = dict(item) if isinstance(item, dict) else {"item": item}
    asked = (output["sample"] or {}).get("input")
    if asked and "messages" not in item:
        item["messages"] = asked
    return item


def _output(output: dict[str, Any]) -> ReviewOutput:
    sample = output["sample"] or {}
    outputs = sample.get("output") or [{}]
    content = outputs[0].get("content") if isinstance(outputs[0], dict) else None
    results = output["results"] or []
    scored = output["status"] != "error" and results and "errors" not in results[0]
    return ReviewOutput(output_text=content if isinstance(content, str) else "",
                        reward=results[0]["score"] if scored else None)  # fmt: skip
