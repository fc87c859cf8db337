"""Eval runs over jsonl rows graded in-process (openrft.server.eval_runs): they commit in chunks
of `LOCAL_CHUNK` rows, a crash loses at most the chunk in flight and the resumed run ends with
the items an uninterrupted run writes, and the uploaded file is read once, by the create request.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from openai import OpenAI

from openrft.evals import output_items, samples
from openrft.evals.records import EvalStore
from openrft.evals.scoring import LocalGrades
from openrft.evals.sources import parse_data_source
from openrft.graders import GraderContext, Sample, grade, validate_grader
from openrft.graders.passing import passed
from openrft.server import Settings, eval_runs
from openrft.server.eval_runs import CHUNK, LOCAL_CHUNK, RunExecutor, chunk_size
from openrft.store.db import Database
from openrft.store.files import FileStore
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend

EXACT = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
         "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
CLOSE = {"type": "text_similarity", "name": "close", "input": "{{sample.output_text}}",
         "reference": "{{item.answer}}", "evaluation_metric": "fuzzy_match",
         "pass_threshold": 0.7}  # fmt: skip
BROKEN = {"type": "string_check", "name": "broken", "input": "{{sample.output_text}}",
          "reference": "{{item.missing}}", "operation": "eq"}  # fmt: skip
PYTHON = {"type": "python", "name": "py", "source": "def grade(sample, item):\n    return 1.0\n"}
CRITERIA = [EXACT, CLOSE]
SOURCE = {"type": "jsonl", "source": {"type": "file_id", "id": "file-rows"}}
OWNER, LEASE = "test-server", 30.0


def rows(count: int) -> list[dict[str, Any]]:
    """Right, one letter off or wrong answers, some as Chat Completions, some rows missing
    `item.missing` on purpose for BROKEN (an errored grade)."""
    made = []
    for number in range(count):
        answer = f"answer {number:05d}"
        given = (answer, answer[:-1] + "x", "nothing like it")[number % 3]
        sample: dict[str, Any] = {"output_text": given}
        if number % 7 == 0:
            sample = {"choices": [{"message": {"role": "assistant", "content": given},
                                   "finish_reason": "length"}]}  # fmt: skip
        item: dict[str, Any] = {"answer": answer}
        if number % 5:
            item["missing"] = given
        made.append({"item": item, "sample": sample})
    return made


class Files:
    """The file store seam the executor reads through, counting opens."""

    def __init__(self, path: Path):
        self.path, self.opens = path, 0

    def get(self, project: str, file_id: str) -> None:
        return None

    def open_content(self, project: str, file_id: str) -> BinaryIO:
        self.opens += 1
        return self.path.open("rb")


class Crash(BaseException):
    """What a killed server leaves: the run `in_progress`, the chunk in flight unwritten."""


def make_eval(store: EvalStore, criteria: list[dict[str, Any]]) -> str:
    stored = [dict(criterion, id=f"c{index}") for index, criterion in enumerate(criteria)]
    fields = {"name": "e", "metadata": None, "config": {}, "criteria": stored}
    return str(store.create_eval("p", fields)["id"])


def make_run(store: EvalStore, eval_id: str) -> sqlite3.Row:
    fields = {"name": None, "model": "", "metadata": None, "data_source": SOURCE}
    run = store.create_run("p", eval_id, fields)
    assert store.claim(run["id"], OWNER, LEASE)
    return store.run_row("p", eval_id, run["id"])


def written(db: Database, run_id: str) -> list[tuple[Any, ...]]:
    """Each output item of the run as (row, status, item, results, sample)."""
    run = db.one("SELECT * FROM eval_runs WHERE id = ?", (run_id,))
    return [(item["datasource_item_id"], item["status"], item["datasource_item"],
             item["results"], item["sample"]) for item in output_items.read_all(db, run)]  # fmt: skip


def execute(store: EvalStore, files: Files, run: sqlite3.Row) -> None:
    executor = RunExecutor(store, None, files, GraderContext(), lease=LEASE)
    executor.owner = OWNER  # the server that claimed the run
    asyncio.run(executor._execute(run))


@pytest.mark.parametrize("criteria", [CRITERIA, [*CRITERIA, BROKEN]])
def test_a_crash_loses_at_most_the_chunk_in_flight_and_the_resumed_run_matches(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, criteria: list[dict[str, Any]]
) -> None:
    total = 3 * LOCAL_CHUNK + 100
    data = tmp_path / "rows.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows(total)))
    db = Database(tmp_path / "home")
    store = EvalStore(db)
    files = Files(data)

    eval_id = make_eval(store, criteria)
    whole = make_run(store, eval_id)
    execute(store, files, whole)
    finished = store.run_row("p", eval_id, whole["id"])
    assert finished["status"] == "completed"

    crashed = make_run(store, eval_id)
    real = eval_runs.grade_local
    calls = 0

    def crash_on_the_third_chunk(*args: Any) -> LocalGrades:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise Crash
        return real(*args)

    monkeypatch.setattr(eval_runs, "grade_local", crash_on_the_third_chunk)
    with pytest.raises(Crash):
        execute(store, files, crashed)
    monkeypatch.setattr(eval_runs, "grade_local", real)
    assert store.done_rows(crashed["id"]) == 2 * LOCAL_CHUNK  # only the chunk in flight lost
    partial = store.run_row("p", eval_id, crashed["id"])
    assert partial["status"] == "in_progress"
    assert json.loads(partial["counts"])["total"] == 2 * LOCAL_CHUNK  # counts match the items

    assert store.requeue_interrupted() == 0  # its lease still runs: maybe it is only slow
    # What a server does once the lease ran out without a renewal (the crashed one's).
    assert store.requeue_interrupted(now=time.time() + LEASE + 1) == 1
    resumed = store.next_queued()
    assert resumed is not None and resumed["id"] == crashed["id"]
    assert store.claim(resumed["id"], OWNER, LEASE)
    opens = files.opens
    execute(store, files, store.run_row("p", eval_id, crashed["id"]))
    assert files.opens == opens + 1  # a resumed run reads its file again, once
    done = store.run_row("p", eval_id, crashed["id"])
    assert done["status"] == "completed"
    assert written(db, crashed["id"]) == written(db, whole["id"])
    for key in ("counts", "per_criteria", "usage"):
        assert done[key] == finished[key]
    assert json.loads(done["counts"])["total"] == total

    # ... and the items say what grading each row alone says
    graders = [validate_grader(criterion) for criterion in criteria]
    for row, status, _, results, _ in written(db, whole["id"])[:: LOCAL_CHUNK // 8]:
        given = rows(total)[row]
        sample = Sample.coerce(samples.given(given)[0])
        alone = [grade(grader, sample, given["item"]) for grader in graders]
        assert [r["score"] for r in results] == [r.reward for r in alone]
        errored = any(r.errors for r in alone)
        good = all(passed(grader, r) for grader, r in zip(graders, alone, strict=True))
        assert status == ("error" if errored else "pass" if good else "fail")


def test_local_criteria_over_given_samples_grade_in_large_chunks() -> None:
    jsonl = parse_data_source(SOURCE)
    completions = parse_data_source({
        "type": "completions", "model": "m", "source": SOURCE["source"],
        "input_messages": {"type": "item_reference", "item_reference": "item.messages"}})  # fmt: skip
    local = [validate_grader(criterion) for criterion in CRITERIA]
    assert chunk_size(jsonl, local) == LOCAL_CHUNK > CHUNK
    assert chunk_size(jsonl, [*local, validate_grader(PYTHON)]) == CHUNK  # a sandbox waits
    assert chunk_size(completions, local) == CHUNK  # the model answers a chunk at a time


def test_an_uploaded_file_is_read_once_per_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []
    real = FileStore.open_content

    def counting(self: FileStore, project: str, file_id: str) -> BinaryIO:
        opened.append(file_id)
        return real(self, project, file_id)

    monkeypatch.setattr(FileStore, "open_content", counting)
    total = LOCAL_CHUNK + 10
    data = "".join(json.dumps(row) + "\n" for row in rows(total)).encode()
    config: Any = {"type": "custom", "item_schema": {"type": "object",
                   "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}  # fmt: skip
    settings = Settings(home=tmp_path / "home")
    with (
        live_server(settings, FakeBackend()) as live,
        OpenAI(base_url=live.base_url, api_key="x", max_retries=0) as sdk,
    ):
        upload = sdk.files.create(file=("rows.jsonl", data), purpose="fine-tune")
        evaluation = sdk.evals.create(data_source_config=config, testing_criteria=CRITERIA)  # type: ignore[arg-type, list-item]
        source: Any = {"type": "jsonl", "source": {"type": "file_id", "id": upload.id}}
        run = sdk.evals.runs.create(evaluation.id, data_source=source)
        deadline = time.monotonic() + 60
        while (run := sdk.evals.runs.retrieve(run.id, eval_id=evaluation.id)).status not in (
            "completed", "failed", "canceled"):  # fmt: skip
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert run.status == "completed" and run.result_counts.total == total
    assert opened == [upload.id]  # the create request's read, handed to the run
    assert EvalStore(Database(settings.home)).done_rows(run.id) == total


def test_the_fast_item_check_agrees_with_jsonschema() -> None:
    from jsonschema import Draft202012Validator

    from openrft.evals.sources import _fast_validator

    schema = {"type": "object", "required": ["answer"], "additionalProperties": False,
              "properties": {"answer": {"type": "string", "minLength": 2},
                             "n": {"type": "integer", "minimum": 0},
                             "tags": {"type": "array", "items": {"enum": ["edge", "refusal"]}}}}  # fmt: skip
    fast = _fast_validator(schema)
    assert fast is not None
    items: list[Any] = [{"answer": "ok"}, {"answer": "x"}, {"answer": "ok", "n": 1.0},
                        {"answer": "ok", "n": True}, {"answer": "ok", "n": -1}, {"n": 1},
                        {"answer": "ok", "tags": ["edge"]}, {"answer": "ok", "tags": ["other"]},
                        {"answer": "ok", "extra": 1}, {"answer": "ok", "n": 2**70}]  # fmt: skip
    slow = Draft202012Validator(schema)
    assert [fast(item) for item in items] == [slow.is_valid(item) for item in items]
    assert _fast_validator({"properties": {"a": {"pattern": "^x"}}}) is None  # regex dialects
    assert _fast_validator({"$ref": "https://example.com/s.json"}) is None  # never fetched
