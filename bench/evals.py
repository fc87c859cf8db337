"""Evals API runs against doing the same work by hand, in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python bench/evals.py [--rows 5000] [--answers 96] [--rounds 3]
                                                      [--jsonl-only]

Both on `openrft serve` in its own process (built once under a temp OPENRFT_HOME), with the demo
task's rows and two testing criteria (the demo's `string_check` and a `fuzzy_match`):
- jsonl: an eval run over `rows` rows that carry their own samples, from `runs.create` until the
  run is `completed` (the server reads and checks the file at create, grades local criteria
  in columns, 8,192 rows a chunk, and writes each chunk, its rows as the file holds them and
  its grades, with the run's totals in one commit), against `grade_many` on the same rows in
  this process (the grader engine alone), timed in alternation in the same run. The client
  polls the run every 5 ms. The ratio is what the run's bookkeeping costs. `--jsonl-only`
  measures this phase alone (no model is loaded).
- completions: an eval run where `openrft-tiny` answers `answers` items (16 tokens, at the
  Evals defaults: temperature 1, seed 42), against what a user would do without the Evals API:
  16 concurrent SDK clients calling `chat.completions` (same settings) on the same server, then
  `grade_many` here.
- seeded batching, in this process: the same `answers` seeded requests in one
  `chat_completions` call against one call per request (how seeded requests ran before they
  got generators of their own).
- reading: every output item of the jsonl run through the SDK's auto-pagination.
Phases alternate for `rounds` rounds; the medians are reported.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from openai import AsyncOpenAI, OpenAI

from openrft.demo import task
from openrft.demo.server import local_server
from openrft.graders import grade_many
from openrft.models.generate import ChatRequest, chat_completions
from openrft.models.registry import load_model

EXACT = json.loads((Path(task.__file__).parent / "grader.json").read_text())
FUZZY = {"type": "text_similarity", "name": "close", "evaluation_metric": "fuzzy_match",
         "input": "{{ sample.output_text }}", "reference": "{{ item.reference }}",
         "pass_threshold": 0.8}  # fmt: skip
CONFIG = {"type": "custom", "item_schema": {"type": "object", "properties": {
    "prompt": {"type": "string"}, "reference": {"type": "string"}}}}  # fmt: skip
FINISHED = {"completed", "failed", "canceled"}


def items(count: int) -> list[dict[str, str]]:
    rows = task.make_rows(count, seed=7)
    return [{"prompt": r["messages"][0]["content"], "reference": r["reference"]} for r in rows]


def answered(rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Rows with a sample each: right, reversed or one digit off, so both criteria vary."""
    rng, out = random.Random(3), []
    for item in rows:
        ref = item["reference"]
        sample = rng.choice([ref, ref[::-1], ref[:-1] + "0"])
        out.append({"item": item, "sample": {"output_text": sample}})
    return out


def wait(client: OpenAI, eval_id: str, run_id: str) -> Any:
    while (run := client.evals.runs.retrieve(run_id, eval_id=eval_id)).status not in FINISHED:
        time.sleep(0.005)
    assert run.status == "completed", run
    return run


def by_hand_grades(rows: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for grader in (EXACT, FUZZY):
        grade_many(grader, rows)
    return time.perf_counter() - start


def jsonl_run(client: OpenAI, eval_id: str, file_id: str, count: int) -> float:
    start = time.perf_counter()
    run = client.evals.runs.create(eval_id, data_source={
        "type": "jsonl", "source": {"type": "file_id", "id": file_id}})  # fmt: skip
    done = wait(client, eval_id, run.id)
    assert done.result_counts.total == count
    return time.perf_counter() - start


def completions_run(client: OpenAI, eval_id: str, rows: list[dict[str, str]]) -> float:
    start = time.perf_counter()
    content = [{"item": row} for row in rows]
    run = client.evals.runs.create(eval_id, data_source={
        "type": "completions", "model": "openrft-tiny",
        "input_messages": {"type": "template",
                           "template": [{"role": "user", "content": "{{ item.prompt }}"}]},
        "sampling_params": {"max_completion_tokens": 16},
        "source": {"type": "file_content", "content": content}})  # fmt: skip
    done = wait(client, eval_id, run.id)
    assert done.result_counts.total == len(rows) and done.result_counts.errored == 0
    return time.perf_counter() - start


async def by_hand_answers(url: str, rows: list[dict[str, str]], clients: int) -> float:
    """16 concurrent SDK clients answer every item, then the engine grades the answers."""
    start = time.perf_counter()
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(rows)):
        queue.put_nowait(index)
    answers: dict[int, str] = {}
    async with AsyncOpenAI(base_url=url, api_key="bench", max_retries=0) as client:

        async def one_client() -> None:
            while not queue.empty():
                index = queue.get_nowait()
                reply = await client.chat.completions.create(
                    model="openrft-tiny", temperature=1, seed=42, max_completion_tokens=16,
                    messages=[{"role": "user", "content": rows[index]["prompt"]}])  # fmt: skip
                answers[index] = reply.choices[0].message.content or ""

        await asyncio.gather(*[one_client() for _ in range(clients)])
    graded = [{"item": row, "sample": answers[i]} for i, row in enumerate(rows)]
    for grader in (EXACT, FUZZY):
        grade_many(grader, graded)
    return time.perf_counter() - start


def seeded_batching(home: Path, rows: list[dict[str, str]]) -> tuple[float, float]:
    """Seconds for the seeded requests one per call, and all in one call."""
    loaded = load_model("openrft-tiny", home=home)
    requests = [ChatRequest([{"role": "user", "content": row["prompt"]}], max_tokens=16, seed=42)
                for row in rows]  # fmt: skip
    start = time.perf_counter()
    alone = [chat_completions(loaded, [request])[0] for request in requests]
    middle = time.perf_counter()
    together = chat_completions(loaded, requests)
    end = time.perf_counter()
    same = sum(a[0].text == b[0].text for a, b in zip(alone, together, strict=True))
    print(f"seeded answers equal alone and batched: {same}/{len(rows)}")
    return middle - start, end - middle


def read_items(client: OpenAI, eval_id: str, run_id: str, count: int) -> float:
    start = time.perf_counter()
    seen = sum(1 for _ in client.evals.runs.output_items.list(run_id, eval_id=eval_id, limit=100))
    assert seen == count
    return time.perf_counter() - start


def jsonl_only(times: dict[str, list[float]], count: int) -> None:
    engine, run = statistics.median(times["engine"]), statistics.median(times["jsonl"])
    print(f"jsonl, {count} rows: grade_many in-process (2 criteria) {engine:7.3f} s")
    print(f"jsonl, {count} rows: eval run, create → completed   {run:7.3f} s")
    rounds = ", ".join(f"{r / e:.2f}" for e, r in zip(times["engine"], times["jsonl"], strict=True))
    print(f"jsonl eval run / in-process engine: {run / engine:.2f}x the time (rounds: {rounds})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5000)
    parser.add_argument("--answers", type=int, default=96)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--jsonl-only", action="store_true", help="only the jsonl phase")
    args = parser.parse_args()
    rows = answered(items(args.rows))
    asked = items(args.answers)
    names = ("engine", "jsonl", "hand", "run", "read", "alone", "together")
    times: dict[str, list[float]] = {name: [] for name in names}
    with tempfile.TemporaryDirectory() as tmp, local_server(Path(tmp)) as url:
        with OpenAI(base_url=url, api_key="bench", max_retries=0) as client:
            data = "".join(json.dumps(row) + "\n" for row in rows).encode()
            file = client.files.create(file=("rows.jsonl", data), purpose="fine-tune")
            ev = client.evals.create(name="bench", data_source_config=CONFIG,  # type: ignore[arg-type]
                                     testing_criteria=[EXACT, FUZZY])  # fmt: skip
            if not args.jsonl_only:
                completions_run(client, ev.id, asked[:4])  # loads the model
            for _ in range(args.rounds):
                times["engine"].append(by_hand_grades(rows))
                times["jsonl"].append(jsonl_run(client, ev.id, file.id, args.rows))
                if not args.jsonl_only:
                    times["hand"].append(asyncio.run(by_hand_answers(url, asked, args.clients)))
                    times["run"].append(completions_run(client, ev.id, asked))
            if args.jsonl_only:
                return jsonl_only(times, args.rows)
            last = client.evals.runs.list(ev.id, status="completed", limit=100, order="asc")
            jsonl_id = next(run.id for run in last if run.data_source.type == "jsonl")
            times["read"].append(read_items(client, ev.id, jsonl_id, args.rows))
        for _ in range(args.rounds):
            alone, together = seeded_batching(Path(tmp), asked)
            times["alone"].append(alone)
            times["together"].append(together)
    med = {name: statistics.median(values) for name, values in times.items()}
    print(f"{'phase':52} {'s':>7} {'rows/s':>9}")
    lines = [
        (f"jsonl, {args.rows} rows: grade_many in-process (2 criteria)", med["engine"], args.rows),
        (f"jsonl, {args.rows} rows: eval run, create → completed", med["jsonl"], args.rows),
        (f"completions, {args.answers} items: {args.clients} clients + grade_many",
         med["hand"], args.answers),
        (f"completions, {args.answers} items: eval run, create → completed", med["run"],
         args.answers),
        (f"reading {args.rows} output items (SDK pages of 100)", med["read"], args.rows),
        (f"{args.answers} seeded requests, one chat_completions call each", med["alone"],
         args.answers),
        (f"{args.answers} seeded requests in one chat_completions call", med["together"],
         args.answers),
    ]  # fmt: skip
    for name, seconds, count in lines:
        print(f"{name:52} {seconds:7.2f} {count / seconds:9.0f}")
    print(f"jsonl eval run / in-process engine: {med['jsonl'] / med['engine']:.2f}x the time")
    print(f"completions eval run / by hand: {med['run'] / med['hand']:.2f}x the time")
    print(f"seeded requests batched: {med['alone'] / med['together']:.2f}x faster than alone")


if __name__ == "__main__":
    main()
