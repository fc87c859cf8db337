"""Eval runs in the background (openrft.server.eval_runs): a run interrupted by a server stop
goes on from its first ungraded row, a server starting beside one that grades a run leaves the
run to it, cancel and delete stop it at the next chunk, a row whose
answer fails is an errored item (never a failed run), python criteria run in the sandbox."""

from __future__ import annotations

import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from openai import OpenAI

from openrft.evals import output_items
from openrft.server import Settings
from openrft.server.eval_runs import CHUNK
from openrft.store.db import Database
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend

EXACT = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
         "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
CONFIG = {"type": "custom", "item_schema": {"type": "object"}}
ASK = {"type": "template", "template": [{"role": "user", "content": "{{item.question}}"}]}


def client(url: str) -> OpenAI:
    return OpenAI(base_url=url, api_key="x", max_retries=0)


def completions(rows: list[dict[str, Any]], ask: dict[str, Any] = ASK) -> dict[str, Any]:
    return {"type": "completions", "model": "openrft-tiny", "input_messages": ask,
            "source": {"type": "file_content", "content": rows}}  # fmt: skip


def words(count: int) -> list[dict[str, Any]]:
    """Rows whose reversed question is the answer on even rows only."""
    rows = []
    for number in range(count):
        question = f"q{number:03d}"
        answer = question[::-1] if number % 2 == 0 else "wrong"
        rows.append({"item": {"question": question, "answer": answer}})
    return rows


def wait_run(sdk: OpenAI, eval_id: str, run_id: str, *statuses: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = sdk.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in statuses:
            return run
        assert time.monotonic() < deadline, f"run still {run.status}"
        time.sleep(0.05)


def item_rows(home: Path, run_id: str) -> list[int]:
    """The rows of the run's output items in the store (none once it is deleted)."""
    db = Database(home)
    try:
        run = db.one("SELECT * FROM eval_runs WHERE id = ?", (run_id,))
        items = output_items.read_all(db, run) if run is not None else []
        return [item["datasource_item_id"] for item in items]
    finally:
        db.close()


def test_a_stopped_server_resumes_the_run_without_grading_a_row_twice(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    total = 4 * CHUNK
    first_backend = FakeBackend(delay=0.3)
    with live_server(settings, first_backend) as first, client(first.base_url) as sdk:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])  # type: ignore[arg-type, list-item]
        run = sdk.evals.runs.create(evaluation.id, data_source=completions(words(total)))  # type: ignore[arg-type]
        deadline = time.monotonic() + 20
        while len(item_rows(settings.home, run.id)) < CHUNK:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    done_first = item_rows(settings.home, run.id)
    assert CHUNK <= len(done_first) < total
    with closing(sqlite3.connect(settings.home / "openrft.db")) as db:
        # A clean stop hands the run back at once (its items kept), for any server to go on.
        assert db.execute("SELECT status FROM eval_runs").fetchone()[0] == "queued"
    second_backend = FakeBackend()
    with live_server(settings, second_backend) as second, client(second.base_url) as sdk:
        finished = wait_run(sdk, evaluation.id, run.id, "completed", "failed")
        assert finished.status == "completed"
        counts = finished.result_counts
        assert (counts.total, counts.passed, counts.failed, counts.errored) == (total, total // 2,
                                                                                total // 2, 0)  # fmt: skip
        assert finished.per_model_usage[0].invocation_count == total
        ids = [item.datasource_item_id for item in
               sdk.evals.runs.output_items.list(run.id, eval_id=evaluation.id, limit=100)]  # fmt: skip
    assert item_rows(settings.home, run.id) == list(range(total))
    assert sorted(ids) == list(range(total))
    answered_again = sum(size for _, size in second_backend.calls)
    assert answered_again == total - len(done_first)  # only the rows without an item


def test_cancel_and_delete_stop_a_run_at_the_next_chunk(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with live_server(settings, FakeBackend(delay=0.3)) as live, client(live.base_url) as sdk:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])  # type: ignore[arg-type, list-item]
        run = sdk.evals.runs.create(evaluation.id, data_source=completions(words(6 * CHUNK)))  # type: ignore[arg-type]
        wait_run(sdk, evaluation.id, run.id, "in_progress")
        cancelled = sdk.evals.runs.cancel(run.id, eval_id=evaluation.id)
        assert cancelled.status == "canceled"
        time.sleep(0.8)  # a chunk in flight finishes, finds the run cancelled, writes nothing
        after = sdk.evals.runs.retrieve(run.id, eval_id=evaluation.id)
        assert after.status == "canceled"
        written = item_rows(settings.home, run.id)
        assert after.result_counts.total == len(written) < 6 * CHUNK
        assert len(written) % CHUNK == 0

        doomed = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])  # type: ignore[arg-type, list-item]
        slow = sdk.evals.runs.create(doomed.id, data_source=completions(words(6 * CHUNK)))  # type: ignore[arg-type]
        later = sdk.evals.runs.create(evaluation.id, data_source=completions(words(3)))  # type: ignore[arg-type]
        wait_run(sdk, doomed.id, slow.id, "in_progress")
        sdk.evals.delete(doomed.id)
        done = wait_run(sdk, evaluation.id, later.id, "completed", "failed")
        assert done.status == "completed" and done.result_counts.total == 3
        assert item_rows(settings.home, slow.id) == []  # nothing written after the delete


def test_a_failed_answer_is_an_errored_item_not_a_failed_run(live: Any) -> None:
    with OpenAI(base_url=live.base_url, api_key="key-a", max_retries=0) as sdk:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])  # type: ignore[arg-type, list-item]
        rows = [{"item": {"question": "abc", "answer": "cba"}},
                {"item": {"question": "__crash__", "answer": "x"}},
                {"item": {"answer": "no question"}}]  # fmt: skip
        run = sdk.evals.runs.create(evaluation.id, data_source=completions(rows))  # type: ignore[arg-type]
        done = wait_run(sdk, evaluation.id, run.id, "completed", "failed")
        assert done.status == "completed"
        counts = done.result_counts
        assert (counts.total, counts.passed, counts.failed, counts.errored) == (3, 1, 0, 2)
        [criterion] = done.per_testing_criteria_results
        assert (criterion.passed, criterion.failed) == (1, 0)  # never graded is not failed
        assert (criterion.model_extra or {})["errored"] == 2
        items = {item.datasource_item_id: item for item in
                 sdk.evals.runs.output_items.list(run.id, eval_id=evaluation.id)}  # fmt: skip
    crashed, unrendered = items[1].sample.error, items[2].sample.error
    assert crashed.code == "sample_error" and "secret" not in crashed.message
    assert unrendered.code == "invalid_input_messages" and "question" in unrendered.message
    assert items[1].status == "error" and items[1].results == []
    assert items[2].status == "error"
    assert items[0].results[0].passed is True


def test_a_deleted_file_fails_the_run_that_needs_it(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home")
    with live_server(settings, FakeBackend(delay=0.3)) as live, client(live.base_url) as sdk:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])  # type: ignore[arg-type, list-item]
        upload = sdk.files.create(file=("rows.jsonl", b'{"item": {"answer": "a"}}\n'),
                                  purpose="evals")  # fmt: skip
        busy = sdk.evals.runs.create(evaluation.id, data_source=completions(words(2 * CHUNK)))  # type: ignore[arg-type]
        source = {"type": "jsonl", "source": {"type": "file_id", "id": upload.id}}
        run = sdk.evals.runs.create(evaluation.id, data_source=source)  # type: ignore[arg-type]
        assert sdk.evals.runs.retrieve(busy.id, eval_id=evaluation.id).status != "completed"
        sdk.files.delete(upload.id)  # while the run waits behind the busy one
        failed = wait_run(sdk, evaluation.id, run.id, "failed", "completed")
    assert failed.status == "failed"
    assert failed.error.code and upload.id in failed.error.message


@pytest.mark.slow
def test_python_criteria_grade_in_the_sandbox(live: Any) -> None:
    source = "def grade(sample, item):\n    return 1.0 if sample['output_text'] == item['answer'] else 0.25\n"
    python = {"type": "python", "name": "py", "source": source, "pass_threshold": 0.5}
    rows = [{"item": {"answer": "yes"}, "sample": {"output_text": "yes"}},
            {"item": {"answer": "yes"}, "sample": {"output_text": "no"}}]  # fmt: skip
    with OpenAI(base_url=live.base_url, api_key="key-a", max_retries=0) as sdk:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[python])  # type: ignore[arg-type, list-item]
        data = {"type": "jsonl", "source": {"type": "file_content", "content": rows}}
        run = sdk.evals.runs.create(evaluation.id, data_source=data)  # type: ignore[arg-type]
        done = wait_run(sdk, evaluation.id, run.id, "completed", "failed", timeout=120)
        items = sorted(sdk.evals.runs.output_items.list(run.id, eval_id=evaluation.id),
                       key=lambda item: item.datasource_item_id)  # fmt: skip
    assert done.status == "completed"
    assert [item.results[0].score for item in items] == [1.0, 0.25]
    assert [item.status for item in items] == ["pass", "fail"]


def test_a_starting_server_leaves_a_run_another_live_server_grades(
    tmp_path: Path, store_backend: str
) -> None:
    """Two servers share the store (one SQLite home, or PostgreSQL with two homes): the one
    that starts while the other grades a run neither requeues nor grades it; the run is
    graded once, all of it by the first."""
    first_home = tmp_path / "one"
    second_home = first_home if store_backend == "sqlite" else tmp_path / "two"
    total = 6 * CHUNK
    first_backend, second_backend = FakeBackend(delay=0.3), FakeBackend()
    with (
        live_server(Settings(home=first_home, lease_seconds=3), first_backend) as first,
        client(first.base_url) as sdk,
    ):
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])  # type: ignore[arg-type, list-item]
        run = sdk.evals.runs.create(evaluation.id, data_source=completions(words(total)))  # type: ignore[arg-type]
        deadline = time.monotonic() + 20
        while not item_rows(first_home, run.id):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        later = Settings(home=second_home, lease_seconds=3)
        with live_server(later, second_backend) as second, client(second.base_url) as other:
            seen = other.evals.runs.retrieve(run.id, eval_id=evaluation.id)
            assert seen.status == "in_progress"  # still the first server's
            done = wait_run(other, evaluation.id, run.id, "completed", "failed")
        assert done.status == "completed" and done.result_counts.total == total
    assert second_backend.calls == []  # the second server answered none of its rows
    assert sum(size for _, size in first_backend.calls) == total  # each row answered once
    assert item_rows(first_home, run.id) == list(range(total))
