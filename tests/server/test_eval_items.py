"""Output items stored a chunk at a time (openrft.evals.output_items): a server killed inside the
transaction that writes a chunk resumes the run with every row's item exactly once; the items
read back through the SDK (pages, order, status filter, retrieve) say what grading each row
alone says; a local run writes one row per chunk; items stored one per row before the upgrade
(Alembic revision 0002) read back the same, ids included."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from openai import OpenAI
from sqlalchemy import event

from openrft.evals.records import EvalStore
from openrft.graders import Sample, grade, passed, validate_grader
from openrft.server import Settings
from openrft.server.eval_runs import LOCAL_CHUNK
from openrft.store import migrations
from openrft.store.db import Database
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend
from tests.server.test_eval_chunks import (
    BROKEN,
    CRITERIA,
    Files,
    execute,
    make_eval,
    make_run,
    rows,
)
from tests.support.loopback import free_port, wait_healthy

CONFIG: Any = {"type": "custom", "item_schema": {"type": "object",
               "properties": {"answer": {"type": "string"}}, "required": ["answer"]}}  # fmt: skip
FINISHED = ("completed", "failed", "canceled")


def wait_run(sdk: OpenAI, eval_id: str, run_id: str, bound: float = 120) -> Any:
    deadline = time.monotonic() + bound
    while (run := sdk.evals.runs.retrieve(run_id, eval_id=eval_id)).status not in FINISHED:
        assert time.monotonic() < deadline, f"run still {run.status}"
        time.sleep(0.05)
    return run


def jsonl(count: int) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows(count)).encode()


def listed(sdk: OpenAI, eval_id: str, run_id: str, **filters: Any) -> list[dict[str, Any]]:
    pages = sdk.evals.runs.output_items.list(run_id, eval_id=eval_id, **filters)
    return [item.model_dump() for item in pages]


def graded_part(item: dict[str, Any]) -> tuple[Any, ...]:
    """An item without what differs between two runs of the same rows."""
    return tuple(value for key, value in item.items() if key not in ("id", "run_id", "created_at"))


@contextmanager
def stalling_serve(home: Path, port: int, marker: Path) -> Iterator[subprocess.Popen[bytes]]:
    command = [sys.executable, "-m", "tests.server.stalling_serve", "serve", "--port", str(port),
               "--home", str(home)]  # fmt: skip
    env = {**os.environ, "OPENRFT_TEST_STALLED": str(marker), "OPENRFT_LEASE_SECONDS": "600"}
    env.pop("OPENRFT_API_KEYS", None)
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env)  # fmt: skip
    try:
        wait_healthy(port, process)
        yield process
    finally:
        process.kill()
        process.wait()


def test_a_server_killed_while_writing_a_chunk_resumes_with_each_item_once(
    tmp_path: Path,
) -> None:
    home, port, marker = tmp_path / "home", free_port(), tmp_path / "stalled"
    total = 3 * LOCAL_CHUNK + 100
    with (
        stalling_serve(home, port, marker) as server,
        OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="x", max_retries=0) as sdk,
    ):
        upload = sdk.files.create(file=("rows.jsonl", jsonl(total)), purpose="fine-tune")
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=CRITERIA)  # type: ignore[arg-type, list-item]
        source: Any = {"type": "jsonl", "source": {"type": "file_id", "id": upload.id}}
        run = sdk.evals.runs.create(evaluation.id, data_source=source)
        deadline = time.monotonic() + 120
        while not marker.exists():  # the third chunk's INSERT is in, its COMMIT is not
            assert time.monotonic() < deadline and server.poll() is None
            time.sleep(0.01)
        server.send_signal(signal.SIGKILL)
        server.wait()
    store = EvalStore(Database(home))
    assert store.done_rows(run.id) == 2 * LOCAL_CHUNK  # the chunk in flight is gone whole
    with closing(sqlite3.connect(home / "openrft.db")) as db:
        status, counts = db.execute("SELECT status, counts FROM eval_runs WHERE id = ?",
                                    (run.id,)).fetchone()  # fmt: skip
    assert status == "in_progress" and json.loads(counts)["total"] == 2 * LOCAL_CHUNK

    with (
        live_server(Settings(home=home, lease_seconds=600), FakeBackend()) as live,
        OpenAI(base_url=live.base_url, api_key="x", max_retries=0) as sdk,
    ):
        # The killed server's 600 s lease is not waited out: its lock on the home is gone.
        resumed = wait_run(sdk, evaluation.id, run.id)
        assert resumed.status == "completed" and resumed.result_counts.total == total
        items = listed(sdk, evaluation.id, run.id, limit=100)
        again = sdk.evals.runs.create(evaluation.id, data_source=source)
        whole = wait_run(sdk, evaluation.id, again.id)
        reference = listed(sdk, evaluation.id, again.id, limit=100)
    assert [item["datasource_item_id"] for item in items] == list(range(total))
    assert len({item["id"] for item in items}) == total
    assert [graded_part(item) for item in items] == [graded_part(item) for item in reference]
    assert resumed.result_counts == whole.result_counts
    assert resumed.per_testing_criteria_results == whole.per_testing_criteria_results


def odd_file(made: list[dict[str, Any]]) -> bytes:
    """The rows as a file the strict reader accepts: a BOM, CRLF endings, blank lines, spaces,
    UTF-8 text left unescaped."""
    lines = [json.dumps(row, ensure_ascii=False, indent=None) for row in made]
    text = "".join(line + ("\r\n" if number % 2 else "\n") + ("\n  \n" if number % 97 == 0 else "")
                   for number, line in enumerate(lines))  # fmt: skip
    return b"\xef\xbb\xbf" + text.encode()


def odd_rows(count: int) -> list[dict[str, Any]]:
    """`rows`, with tool calls, text past ASCII, and rows without a sample."""
    made = rows(count)
    for number, row in enumerate(made):
        if number % 11 == 0:
            row["item"]["answer"] += " é ✓"
        if number % 13 == 0 and "output_text" in row["sample"]:
            row["sample"]["output_tools"] = [{"id": "c", "type": "function",
                                              "function": {"name": "f", "arguments": "{}"}}]  # fmt: skip
        if number % 17 == 0:
            del row["sample"]
    return made


def expected_sample(given: dict[str, Any] | None) -> dict[str, Any]:
    """An output item's `sample` for a jsonl row's own sample, written out."""
    message: dict[str, Any] = {"role": "assistant"}
    finish = "stop"
    if given and "choices" in given:
        choice = given["choices"][0]
        message["content"], finish = choice["message"]["content"], choice["finish_reason"]
    else:
        message["content"] = (given or {}).get("output_text", "")
        if given and given.get("output_tools"):
            message["tool_calls"] = given["output_tools"]
    zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0, "cached_tokens": 0}
    return {"input": [], "output": [message], "finish_reason": finish, "model": "",
            "usage": zero, "error": None, "temperature": 1.0, "max_completion_tokens": None,
            "top_p": 1.0, "seed": None}  # fmt: skip


def expected_results(criteria: list[dict[str, Any]], row: dict[str, Any]) -> list[Any]:
    sample = Sample.coerce(row.get("sample") or {"output_text": ""})
    results = []
    for criterion in criteria:
        grader = validate_grader(criterion)
        result = grade(grader, sample, row["item"])
        body = {"name": criterion["name"], "type": criterion["type"], "score": result.reward,
                "passed": passed(grader, result), "sample": None}  # fmt: skip
        if result.errors:
            body["errors"] = result.errors
        results.append(body)
    return results


def test_output_items_read_back_what_each_row_graded_alone_says(tmp_path: Path) -> None:
    total = 2 * LOCAL_CHUNK + 300
    made = odd_rows(total)
    criteria = [*CRITERIA, BROKEN]
    with (
        live_server(Settings(home=tmp_path / "home"), FakeBackend()) as live,
        OpenAI(base_url=live.base_url, api_key="x", max_retries=0) as sdk,
    ):
        upload = sdk.files.create(file=("rows.jsonl", odd_file(made)), purpose="fine-tune")
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=criteria)  # type: ignore[arg-type, list-item]
        source: Any = {"type": "jsonl", "source": {"type": "file_id", "id": upload.id}}
        run = sdk.evals.runs.create(evaluation.id, data_source=source)
        assert wait_run(sdk, evaluation.id, run.id).status == "completed"
        items = listed(sdk, evaluation.id, run.id, limit=100)
        by_status = {status: listed(sdk, evaluation.id, run.id, limit=37, status=status)
                     for status in ("pass", "fail", "error")}  # fmt: skip
        backwards = listed(sdk, evaluation.id, run.id, limit=100, order="desc")
        picks = [items[index] for index in (0, LOCAL_CHUNK - 1, LOCAL_CHUNK, total - 1)]
        fetched = [sdk.evals.runs.output_items.retrieve(item["id"], eval_id=evaluation.id,
                                                        run_id=run.id).model_dump()
                   for item in picks]  # fmt: skip

    assert [item["datasource_item_id"] for item in items] == list(range(total))
    for item, row in zip(items, made, strict=True):
        assert item["datasource_item"] == row["item"]
        assert item["sample"] == expected_sample(row.get("sample"))
        results = expected_results(criteria, row)
        assert item["results"] == results
        errored = any("errors" in result for result in results)
        good = all(result["passed"] for result in results)
        assert item["status"] == ("error" if errored else "pass" if good else "fail")
    assert {status for status, found in by_status.items() if found} == {"pass", "fail", "error"}
    for status, found in by_status.items():
        assert found == [item for item in items if item["status"] == status]
    assert backwards == items[::-1]
    assert fetched == picks


def test_a_local_run_writes_one_row_per_chunk(tmp_path: Path) -> None:
    total = 3 * LOCAL_CHUNK + 100
    data = tmp_path / "rows.jsonl"
    data.write_bytes(jsonl(total))
    store = EvalStore(Database(tmp_path / "home"))
    run = make_run(store, make_eval(store, CRITERIA))
    statements: list[str] = []
    event.listen(store.db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    execute(store, Files(data), run)
    inserts = [sql for sql in statements if sql.lstrip().upper().startswith("INSERT")]
    assert len(inserts) == 4  # one per chunk, however many rows it holds
    assert store.done_rows(run["id"]) == total


def at_m011(path: Path) -> sqlite3.Connection:
    """A store as the hand-written migrations (m001..m011, before Alembic) left it."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
    for migration in migrations.MIGRATIONS:
        migration(conn)
        conn.execute("INSERT INTO _migrations VALUES (?, 0)", (migration.__name__,))
    return conn


def test_items_stored_one_per_row_read_back_the_same_after_the_upgrade(tmp_path: Path) -> None:
    conn = at_m011(tmp_path / "openrft.db")
    conn.execute("INSERT INTO evals VALUES ('eval_1', 'p', 1, 1, 'e', NULL, '{}', '[]')")
    conn.execute(
        "INSERT INTO eval_runs VALUES ('evalrun_1', 'eval_1', 'p', 1, 'r', '', 'in_progress', "
        "'{}', NULL, NULL, '{}', '[]', '[]')"
    )
    expected = []
    for row in range(40):  # rows 0-31 written by one commit, 32-39 by the next
        status = ("pass", "fail", "error")[row % 3]
        results = [{"name": "exact", "type": "string_check", "score": float(row % 2),
                    "passed": row % 3 == 0, "sample": None}]  # fmt: skip
        if status == "error":
            results[0]["errors"] = {"template_error": True}
        item = {"answer": f"a{row}", "n": [row, 1.5, None, "é"]}
        sample = {"input": [], "output": [{"role": "assistant", "content": f"s{row}\n"}]}
        expected.append({
            "id": f"outputitem_{row:032x}" if row % 2 else f"outputitem_old{row}",
            "object": "eval.run.output_item", "run_id": "evalrun_1", "eval_id": "eval_1",
            "created_at": 100 if row < 32 else 200, "status": status, "datasource_item_id": row,
            "datasource_item": item, "results": results, "sample": sample,
        })  # fmt: skip
    for made in expected:
        conn.execute(
            "INSERT INTO eval_items VALUES (?, 'evalrun_1', 'eval_1', ?, ?, ?, ?, ?, ?)",
            (made["id"], made["created_at"], made["datasource_item_id"], made["status"],
             json.dumps(made["datasource_item"]), json.dumps(made["results"]),
             json.dumps(made["sample"])),
        )  # fmt: skip
    conn.close()

    store = EvalStore(Database(tmp_path))
    assert store.done_rows("evalrun_1") == 40  # a run left in progress goes on from row 40
    page, more = store.item_page("p", "eval_1", "evalrun_1", None, 100, "asc", None)
    assert page == expected and not more
    after, _ = store.item_page("p", "eval_1", "evalrun_1", expected[30]["id"], 5, "asc", "fail")
    assert after == [made for made in expected[31:] if made["status"] == "fail"][:5]
    assert store.output_item("p", "eval_1", "evalrun_1", expected[35]["id"]) == expected[35]
    with closing(sqlite3.connect(tmp_path / "openrft.db")) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert "eval_items" not in tables
