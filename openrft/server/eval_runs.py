"""Runs eval runs in the background of the server, one at a time, a chunk of rows at a time.

A run goes `queued` → `in_progress` → `completed` (or `failed`, or `canceled` by request).
Each chunk is answered (for `completions` runs, through the serving engine, so eval traffic is
batched with chat traffic), graded by every testing criterion, and written with the run's new
totals in one transaction (the last chunk's also completes the run). Cancel and delete take
effect at the next chunk. A chunk is `CHUNK` rows when a row waits on something (a model's
answer, a sandbox, a judge) and `LOCAL_CHUNK` rows when every row is graded in this process,
where one commit (an fsync) per 32 rows would cost ten times the grading; such a chunk is
graded in columns and stored as its rows came, one store row for the chunk
(`openrft.evals.output_items` builds each output item when it is read). The rows the create
request read and checked are handed over (`wake`), so the file is read once; only a run
resumed after a restart reads it again.

Guarantees: a run is graded under this server's lease (`EvalStore.claim`), renewed every third
of `lease` seconds while it runs, so of several servers sharing the store one grades it, and
only that one writes its chunks. A server stopped cleanly requeues its runs at once; one killed
mid-run leaves its lease to expire, and then any server (another, or this one restarted)
requeues the run (`requeue_interrupted`, at start and every third of a lease) and goes on from
the first row without an output item, so no row is graded twice and none is lost (a crash
loses at most the chunk in flight, graded again). A row whose answer or grade fails is an
`errored` output item (the error is data), and only a failure of the run itself (its file gone,
its model deleted) fails the run. What it does not do: run two runs at once in one server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import Any

from openrft.errors import OpenRFTError
from openrft.evals.output_items import Chunk
from openrft.evals.records import EvalStore
from openrft.evals.samples import given, given_text, record
from openrft.evals.scoring import Answered, Totals, grade_local, graded_items
from openrft.evals.sources import (
    CompletionsSource,
    DataSource,
    FileId,
    Row,
    Rows,
    load_rows,
    messages_for,
    parse_data_source,
    sampling,
)
from openrft.graders import (
    AnyGrader,
    GraderContext,
    Sample,
    VariableError,
    is_sync,
    paused_gc,
    validate_grader,
)
from openrft.server.chat_wire import assistant_message, usage
from openrft.store.db import Row as StoreRow
from openrft.store.db import loads
from openrft.store.owners import OwnerLocks

__all__ = ["CHUNK", "LOCAL_CHUNK", "RunExecutor", "chunk_size"]

log = logging.getLogger(__name__)

CHUNK = 32
"""Rows answered and graded together when they wait on a model, a sandbox or a judge: small
enough that cancel is prompt, large enough that the engine batches the answers."""

LOCAL_CHUNK = 8192
"""Rows graded and written together when every criterion grades in-process and no model
answers (a `jsonl` run of local graders: a few tens of ms of work, where a commit's fsync
alone takes 5-20 ms on a busy disk). A crash loses at most this many rows' grades, which the
resumed run grades again."""


def chunk_size(source: DataSource, graders: list[AnyGrader]) -> int:
    if isinstance(source, CompletionsSource) or not all(map(is_sync, graders)):
        return CHUNK
    return LOCAL_CHUNK


class RunExecutor:
    def __init__(
        self, store: EvalStore, engine: Any, files: Any, context: GraderContext,
        *, lease: float = 30.0, home: Path | None = None,
    ):  # fmt: skip
        self.store, self.engine, self.files, self.context = store, engine, files, context
        self.lease = lease
        """Seconds a run stays this server's without a renewal (`OPENRFT_LEASE_SECONDS`)."""
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.locks = OwnerLocks(home) if home is not None else None
        """Servers on this home that died: their runs go on at once, not after their lease."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._handed: dict[str, Rows] = {}
        """Rows of queued runs as their create request read and checked them."""
        self._swept = 0.0

    def start(self) -> None:
        if self.locks is not None:
            self.locks.hold(self.owner)
        self._requeue()
        self._task = asyncio.get_running_loop().create_task(self._loop())

    def _requeue(self) -> None:
        """Requeue the runs whose server stopped renewing their lease (at most every third of
        a lease: the statement scans the runs in progress)."""
        self._swept = time.monotonic()
        gone = self.locks.gone(self.store.owners_in_progress()) if self.locks else set()
        requeued = self.store.requeue_interrupted(gone=gone)
        if requeued:
            log.info("eval runs requeued (their server stopped): %d", requeued)

    def wake(self, run_id: str | None = None, rows: Rows | None = None) -> None:
        """A run was queued: look now rather than at the next poll. `rows`: that run's rows,
        already read and checked, so the run does not read its file again."""
        if run_id is not None and rows is not None:
            self._handed[run_id] = rows
        self._wake.set()

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self.store.release(self.owner)  # stopped cleanly: its runs go on elsewhere now
        if self.locks is not None:
            self.locks.let_go(self.owner)

    async def _loop(self) -> None:
        while True:
            self._wake.clear()  # before looking, so a wake that comes after is not lost
            self._forget_gone()
            if time.monotonic() - self._swept > self.lease / 3:
                self._requeue()
            run = self.store.next_queued()
            if run is None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(5, self.lease / 3))
                continue
            if self.store.claim(run["id"], self.owner, self.lease):
                await self._grade(run)
            # else: cancelled before it started, or another server took it

    async def _grade(self, run: StoreRow) -> None:
        """Execute a claimed run, its lease renewed meanwhile; a failure fails the run."""
        renewing = asyncio.create_task(self._renew(run["id"]))
        try:
            await self._execute(run)
        except asyncio.CancelledError:
            raise  # the server is stopping: `aclose` requeues the run
        except OpenRFTError as exc:
            self._fail(run, exc.code or "run_failed", exc.message)
        except Exception as exc:  # boundary: one broken run must not stop the others
            log.exception("eval run %s failed", run["id"])
            self._fail(run, "internal_error", f"the run failed: {type(exc).__name__}")
        finally:
            renewing.cancel()

    async def _renew(self, run_id: str) -> None:
        """Renew the run's lease every third of a lease while it is graded (a chunk waiting
        on a model may take longer than a lease)."""
        while True:
            await asyncio.sleep(self.lease / 3)
            if not await asyncio.to_thread(self.store.renew, run_id, self.owner, self.lease):
                return  # finished, cancelled, or taken over: its next write finds out

    def _forget_gone(self) -> None:
        """Drop the rows of runs cancelled or deleted before they started."""
        if self._handed:
            waiting = self.store.waiting_runs(list(self._handed))
            for run_id in set(self._handed) - waiting:
                del self._handed[run_id]

    def _fail(self, run: StoreRow, code: str, message: str) -> None:
        error = {"code": code, "message": message}
        self.store.move(run["id"], {"in_progress"}, "failed", error, owner=self.owner)

    async def _execute(self, run: StoreRow) -> None:
        evaluation = self.store.db.one("SELECT * FROM evals WHERE id = ?", (run["eval_id"],))
        if evaluation is None:
            return  # deleted with its eval
        criteria = loads(evaluation["criteria"])  # as stored: header values `***`
        graded = self.store.graded_criteria(evaluation)  # with them: to grade with only
        graders = [validate_grader(_bare(criterion)) for criterion in graded]
        source = parse_data_source(loads(run["data_source"]))
        rows = self._rows(run, source)
        target = self.engine.resolve(run["project"], run["model"]) if run["model"] else None
        totals = Totals.of(run)
        context = self.context.for_project(run["project"])
        size = chunk_size(source, graders)
        starts = range(self.store.done_rows(run["id"]), len(rows), size)
        for start in starts:
            last = start + size >= len(rows)  # written with the run `completed`: one commit
            if size == LOCAL_CHUNK:  # on a thread: the HTTP loop goes on serving meanwhile
                lines = rows.lines[start : start + size] if rows.lines is not None else None
                written = await asyncio.to_thread(
                    self._local_chunk, run, criteria, graders, rows, lines, start, totals, last
                )
            else:
                chunk = rows[start : start + size]
                samples = await self._samples(source, target, run["model"], chunk)
                items = await graded_items(criteria, graders, chunk, samples, start, context)
                totals.add(items, run["model"])
                written = self.store.add_items(
                    run, items, totals.as_record(), last=last, owner=self.owner
                )
            if not written:
                return  # cancelled or deleted meanwhile
        if not starts:  # every row was written before a restart
            self.store.move(run["id"], {"in_progress"}, "completed", owner=self.owner)

    def _local_chunk(
        self, run: StoreRow, criteria: list[dict[str, Any]], graders: list[AnyGrader],
        rows: Rows, lines: list[bytes] | None, start: int, totals: Totals, last: bool,
    ) -> bool:  # fmt: skip
        """Grade and write the chunk at `start` of given samples with local criteria, as
        columns: the rows are stored as they came and each output item is built when it is
        read. The collector is paused: its passes over the run's rows would cost more than
        the grading."""
        with paused_gc():
            chunk = rows[start : start + LOCAL_CHUNK]
            samples = [given_text(row) for row in chunk]
            grades = grade_local(criteria, graders, samples, [row["item"] for row in chunk])
            totals.add_local(grades)
            written = Chunk(start, grades.statuses, chunk, grades.results, True, lines)
            return self.store.add_chunk(
                run, written, totals.as_record(), last=last, owner=self.owner
            )

    def _rows(self, run: StoreRow, source: DataSource) -> Rows:
        """The rows handed over at create, or (a run resumed after a restart) read again."""
        rows = self._handed.pop(run["id"], None)
        if rows is None:
            return load_rows(source.source, self.files, run["project"])
        if isinstance(source.source, FileId):  # a file deleted since still fails the run
            self.files.get(run["project"], source.source.id)
        return rows

    async def _samples(
        self, source: DataSource, target: str | None, model: str, chunk: list[Row]
    ) -> list[Answered]:
        if not isinstance(source, CompletionsSource):
            return [given(row) for row in chunk]
        params = sampling(source)
        answers = await asyncio.gather(
            *(self._answer(source, target, row, params) for row in chunk)
        )
        return [_answered(model, params, messages, answer) for messages, answer in answers]

    async def _answer(
        self, source: CompletionsSource, target: str | None, row: Row, params: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], Any]:
        """The messages asked and the completion, or the error that stopped it (a row's
        error is data: it makes an errored output item, never a failed run)."""
        try:
            messages = messages_for(source, row["item"])
        except (VariableError, ValueError) as exc:
            return [], _RowError("invalid_input_messages", str(exc))
        try:
            request = {**params, "messages": messages}
            completions = await self.engine.complete(target, request, wait=True)
        except OpenRFTError as exc:
            return messages, _RowError(exc.code or "sample_error", exc.message)
        except Exception as exc:  # boundary: the model's failure, without its internals
            log.warning("eval row answer failed: %r", exc)
            return messages, _RowError(
                "sample_error", f"the model call failed: {type(exc).__name__}"
            )
        return messages, completions[0]


class _RowError:
    def __init__(self, code: str, message: str):
        self.body = {"code": code, "message": message}


def _answered(
    model: str, params: dict[str, Any], messages: list[dict[str, Any]], answer: Any
) -> Answered:
    """The sample to grade and the output item's `sample` record for one answered row."""
    made = record(model, params, messages)
    if isinstance(answer, _RowError):
        made["error"] = answer.body
        return None, made
    message = assistant_message(answer)
    reason = getattr(answer, "finish_reason", None) or "stop"
    made.update(output=[message], finish_reason=reason)
    made["usage"].update(usage([answer]))
    json_expected = (params.get("response_format") or {}).get("type") in (
        "json_schema",
        "json_object",
    )
    sample = Sample.from_message(message, finish_reason=reason, json_expected=json_expected)
    return sample, made


def _bare(criterion: dict[str, Any]) -> dict[str, Any]:
    """A stored criterion without the `id` the eval gave it."""
    return {key: value for key, value in criterion.items() if key != "id"}
