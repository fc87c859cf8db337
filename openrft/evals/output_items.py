"""An eval run's output items in the store: one row per chunk of graded rows (`eval_chunks`,
store revision 0002); every SQL statement on output items is in this module.

A chunk keeps its rows as one JSON line each (`{"item": ..., "sample": ...}`), one letter per
row for its status (`p`, `f`, `e`) and its grades as columns; OpenAI's
`eval.run.output_item` is built when it is read. A local `jsonl` run stores each row as it
came (`given`): its `sample` record is a function of the row's own sample, built on read too.
Writing a chunk is one INSERT however many rows it holds (one per item cost more than the
grading), and a page reads the one or two chunks it shows.

Guarantees: a chunk is written whole or not at all, in the transaction that updates its run's
counts (`EvalStore.add_chunk`); a run's chunks cover rows 0.. without gap or overlap (each
starts at the run's `done_rows`); an item's id is its chunk's random key and its row in hex, so
`after` and a retrieve find the row without an index of ids, and items written before chunks
keep the ids they had. Lists page by row in either order, filtered by status.
What it does not do: change a chunk once written.
"""

from __future__ import annotations

import functools
import json
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from openrft.errors import NotFoundError
from openrft.evals.samples import given
from openrft.store.db import Connection, Database, Row

__all__ = ["STATUS_LETTERS", "Chunk", "done_rows", "from_items", "read_all", "read_one"]

STATUS_LETTERS = {"pass": "p", "fail": "f", "error": "e"}
_STATUSES = {letter: status for status, letter in STATUS_LETTERS.items()}
_PREFIX = "outputitem_"
_KEY = 24
"""Hex digits of a chunk's random key; an item id is the key and then its row in hex."""
_META = "SELECT first_row, row_count, statuses, created_at, id_key, ids FROM eval_chunks"


def _unencodable(value: Any) -> Any:
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder() -> Callable[[Any], str]:
    """`dumps` for values that are not None, the same text, with `json`'s C encoder built
    once (`json.dumps` builds one per call). ASCII output: a line never holds a newline."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # an interpreter without the C accelerator
        return json.JSONEncoder(separators=(",", ":")).encode
    encode = make(None, _unencodable, json.encoder.encode_basestring_ascii, None, ":", ",",
                  False, False, True)  # fmt: skip
    return lambda value: "".join(encode(value, 0))


_json = _encoder()


@dataclass
class Chunk:
    """Consecutive graded rows of a run, ready to write."""

    first_row: int
    statuses: str
    """One letter of `STATUS_LETTERS` per row."""
    rows: list[dict[str, Any]]
    """Per row `{"item": ..., "sample": ...}`: the sample record, or the row's own sample."""
    results: dict[str, Any]
    """`{"each": [results per row]}`, or columns (`scoring.LocalGrades.results`)."""
    given: bool = False
    """`rows` are a jsonl run's rows as given; their sample records are built on read."""
    lines: list[bytes] | None = None
    """`rows` as their file's lines hold them (stored as they are, not encoded again)."""

    def body(self) -> bytes:
        """One JSON line per row (ASCII when encoded here: a line never holds a newline)."""
        if self.lines is not None:
            return b"\n".join(self.lines)
        return "\n".join(map(_json, self.rows)).encode()


def from_items(items: list[dict[str, Any]]) -> Chunk:
    """A chunk of output items as `scoring.build_items` makes them."""
    return Chunk(
        items[0]["row"] if items else 0,
        "".join(STATUS_LETTERS[item["status"]] for item in items),
        [{"item": item["item"], "sample": item["sample"]} for item in items],
        {"each": [item["results"] for item in items]},
    )


def write(conn: Connection, run: Row, chunk: Chunk, created_at: int) -> None:
    conn.execute(
        "INSERT INTO eval_chunks (run_id, first_row, eval_id, row_count, created_at, id_key, "
        "ids, samples, statuses, results, body) VALUES (?, ?, ?, ?, ?, ?, NULL, ?, ?, ?, ?)",
        (run["id"], chunk.first_row, run["eval_id"], len(chunk.rows), created_at,
         secrets.token_hex(_KEY // 2), "given" if chunk.given else "record", chunk.statuses,
         _json(chunk.results), chunk.body()),
    )  # fmt: skip


def done_rows(db: Database, run_id: str) -> int:
    row = db.one(
        "SELECT COALESCE(SUM(row_count), 0) AS n FROM eval_chunks WHERE run_id = ?", (run_id,)
    )
    return int(row["n"]) if row else 0


def delete_run(conn: Connection, run_id: str) -> None:
    conn.execute("DELETE FROM eval_chunks WHERE run_id = ?", (run_id,))


def delete_eval(conn: Connection, eval_id: str) -> None:
    conn.execute("DELETE FROM eval_chunks WHERE eval_id = ?", (eval_id,))


# --- reading -----------------------------------------------------------------------------


def read_one(db: Database, run: Row, item_id: str) -> dict[str, Any]:
    found = _locate(db, run["id"], item_id)
    if found is None:
        raise NotFoundError(f"No such output item: {item_id}", param="output_item_id")
    meta, index = found
    return _build(db, run, meta, [index])[0]


def read_page(
    db: Database, run: Row, after: str | None, limit: int, desc: bool,
    status: str | None,
) -> tuple[list[dict[str, Any]], bool]:  # fmt: skip
    """Up to `limit` items after the item `after` (404 when the run has no such item), in row
    order or its reverse, only those of `status` when given; and whether more follow."""
    start = None
    if after is not None:
        found = _locate(db, run["id"], after)
        if found is None:
            raise NotFoundError(f"No such output item: {after}", param="output_item_id")
        start = found[0]["first_row"] + found[1]
    letter = STATUS_LETTERS[status] if status is not None else None
    picked: list[tuple[Row, list[int]]] = []
    wanted = limit + 1
    for meta in _chunks_from(db, run["id"], start, desc):
        indexes = _matching(meta, letter, start, desc, wanted)
        if indexes:
            picked.append((meta, indexes))
            wanted -= len(indexes)
        if wanted == 0:
            break
    if wanted == 0:  # one more than the page: there is a next page
        picked[-1][1].pop()
    items = [item for meta, indexes in picked if indexes
             for item in _build(db, run, meta, indexes)]  # fmt: skip
    return items, wanted == 0


def read_all(db: Database, run: Row) -> list[dict[str, Any]]:
    """Every output item of a run, in row order."""
    metas = db.all(f"{_META} WHERE run_id = ? ORDER BY first_row", (run["id"],))
    return [item for meta in metas for item in _build(db, run, meta, range(meta["row_count"]))]


def _chunks_from(db: Database, run_id: str, start: int | None, desc: bool) -> Iterator[Row]:
    """The run's chunks holding rows after `start` (before it, `desc`), nearest first; read
    (their metadata only: a few rows per run)."""
    if desc:
        bound = start if start is not None else 2**62
        sql = f"{_META} WHERE run_id = ? AND first_row < ? ORDER BY first_row DESC"
    else:
        bound = start + 1 if start is not None else 0
        sql = f"{_META} WHERE run_id = ? AND first_row + row_count > ? ORDER BY first_row"
    yield from db.all(sql, (run_id, bound))


def _matching(
    meta: Row, letter: str | None, start: int | None, desc: bool, wanted: int
) -> list[int]:
    """Up to `wanted` indexes in the chunk past `start`, of status `letter` when given."""
    low, high = 0, meta["row_count"]
    if start is not None and desc:
        high = min(high, start - meta["first_row"])
    elif start is not None:
        low = max(low, start + 1 - meta["first_row"])
    statuses: str = meta["statuses"]
    found: list[int] = []
    if letter is None:
        span = range(high - 1, low - 1, -1) if desc else range(low, high)
        return list(span[:wanted])
    while len(found) < wanted:
        index = statuses.rfind(letter, low, high) if desc else statuses.find(letter, low, high)
        if index < 0:
            break
        found.append(index)
        if desc:
            high = index
        else:
            low = index + 1
    return found


def _locate(db: Database, run_id: str, item_id: str) -> tuple[Row, int] | None:
    """The chunk holding the item `item_id` and its index there; None when none does."""
    digits = item_id.removeprefix(_PREFIX)
    if item_id.startswith(_PREFIX) and len(digits) > _KEY and _is_hex(digits):
        row = int(digits[_KEY:], 16)
        meta = db.one(
            f"{_META} WHERE run_id = ? AND first_row <= ? ORDER BY first_row DESC LIMIT 1",
            (run_id, row),
        )
        if meta and meta["id_key"] == digits[:_KEY] and row < meta["first_row"] + meta["row_count"]:
            return meta, row - meta["first_row"]
    for meta in db.all(f"{_META} WHERE run_id = ? AND ids IS NOT NULL", (run_id,)):
        ids = json.loads(meta["ids"])  # items written before chunks keep their ids
        if item_id in ids:
            return meta, ids.index(item_id)
    return None


def _is_hex(text: str) -> bool:
    return all(char in "0123456789abcdef" for char in text)


def _build(db: Database, run: Row, meta: Row, indexes: list[int] | range) -> list[dict[str, Any]]:
    """The output items at `indexes` of a chunk, as OpenAI shapes them."""
    stored = _stored(db, run["id"], meta["first_row"], meta["id_key"])
    if stored is None:
        return []  # the run was deleted meanwhile
    lines, results, given_rows = stored
    ids = json.loads(meta["ids"]) if meta["ids"] else None
    built = []
    for index in indexes:
        row = json.loads(lines[index])
        number = meta["first_row"] + index
        built.append({
            "id": ids[index] if ids else f"{_PREFIX}{meta['id_key']}{number:08x}",
            "object": "eval.run.output_item",
            "run_id": run["id"],
            "eval_id": run["eval_id"],
            "created_at": meta["created_at"],
            "status": _STATUSES[meta["statuses"][index]],
            "datasource_item_id": number,
            "datasource_item": row["item"],
            "results": results(index),
            "sample": given(row)[1] if given_rows else row["sample"],
        })  # fmt: skip
    return built


_Stored = tuple[list[bytes], Callable[[int], list[dict[str, Any]]], bool]


@functools.lru_cache(maxsize=4)
def _stored(db: Database, run_id: str, first_row: int, key: str) -> _Stored | None:
    """A chunk's lines, results and kind, read once for the pages that show it (a chunk never
    changes once written; `key` tells a chunk from one written again after a crash)."""
    body = db.one(
        "SELECT samples, results, body FROM eval_chunks "
        "WHERE run_id = ? AND first_row = ? AND id_key = ?",
        (run_id, first_row, key),
    )
    if body is None:
        return None
    lines: list[bytes] = body["body"].split(b"\n")
    return lines, _results(json.loads(body["results"])), body["samples"] == "given"


def _results(stored: dict[str, Any]) -> Callable[[int], list[dict[str, Any]]]:
    """A chunk's stored results, as one row's `results` list."""
    if "each" in stored:
        each: list[list[dict[str, Any]]] = stored["each"]
        return each.__getitem__
    criteria, scores, passes = stored["criteria"], stored["score"], stored["passed"]
    errors = {(row, criterion): flags for row, criterion, flags in stored["errors"]}

    def one(index: int) -> list[dict[str, Any]]:
        results = []
        for column, (name, kind) in enumerate(criteria):
            result = {"name": name, "type": kind, "score": scores[column][index],
                      "passed": passes[column][index], "sample": None}  # fmt: skip
            if (index, column) in errors:
                result["errors"] = errors[index, column]
            results.append(result)
        return results

    return one
