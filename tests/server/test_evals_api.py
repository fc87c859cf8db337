"""The Evals API (spec §9) through the official SDK, black-box against a live server: evals,
runs of each data source (inline rows, an uploaded file, a model answering), output items,
paging and filters, bad requests with their `param`, and one project never seeing another's.

Run objects carry `error: null` and jsonl output items `max_completion_tokens: null`, which the
SDK's strict types reject, so those go through a loose client and their fields are asserted here.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI, OpenAI
from openai.types.chat import ChatCompletion

from tests.server.conftest import Live

EXACT: Any = {"type": "string_check", "name": "exact", "input": "{{sample.output_text}}",
              "reference": "{{item.answer}}", "operation": "eq"}  # fmt: skip
SIMILAR: Any = {"type": "text_similarity", "name": "similar", "input": "{{sample.output_text}}",
                "reference": "{{item.answer}}", "evaluation_metric": "rouge_1",
                "pass_threshold": 0.5}  # fmt: skip
ITEM_SCHEMA = {"type": "object", "properties": {"question": {"type": "string"},
               "answer": {"type": "string"}}, "required": ["answer"]}  # fmt: skip
CONFIG: Any = {"type": "custom", "item_schema": ITEM_SCHEMA}
ASK: Any = {"type": "template", "template": [{"role": "user", "content": "{{item.question}}"}]}
REFERENCE: Any = {"type": "item_reference", "item_reference": "item.messages"}
LINES = (b'{"item": {"answer": "sun"}, "sample": {"output_text": "sun"}}\n'
         b'{"item": {"answer": "sun"}, "sample": {"output_text": "moon"}}\n')  # fmt: skip
FINISHED = ("completed", "failed", "canceled")

# (answer, output_text, exact score, rouge_1 F1): rouge_1 counts shared lowercase words, so
# "red green" against "red green blue" has precision 2/2, recall 2/3 and F1 0.8.
GIVEN = [
    ("red green blue", "red green blue", 1.0, 1.0),
    ("red green blue", "red green", 0.0, 0.8),
    ("one two three four", "nine", 0.0, 0.0),
    ("sun", "sun", 1.0, 1.0),
    ("cold", "hot", 0.0, 0.0),
]


def client(live: Live, key: str = "key-a", strict: bool = True) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key=key, max_retries=0,
                  _strict_response_validation=strict)  # fmt: skip


def inline(rows: list[dict[str, Any]]) -> Any:
    return {"type": "jsonl", "source": {"type": "file_content", "content": rows}}


def completions(rows: list[dict[str, Any]], ask: Any = ASK, **extra: Any) -> Any:
    return {"type": "completions", "model": "openrft-tiny", "input_messages": ask,
            "source": {"type": "file_content", "content": rows}, **extra}  # fmt: skip


def given_rows() -> list[dict[str, Any]]:
    return [{"item": {"answer": answer}, "sample": {"output_text": text}}
            for answer, text, _, _ in GIVEN]  # fmt: skip


def from_file(file_id: str) -> Any:
    return {"type": "jsonl", "source": {"type": "file_id", "id": file_id}}


def wait_run(sdk: OpenAI, eval_id: str, run_id: str, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        run = sdk.evals.runs.retrieve(run_id, eval_id=eval_id)
        if run.status in FINISHED:
            return run
        assert time.monotonic() < deadline, f"run still {run.status}"
        time.sleep(0.05)


def finished(loose: OpenAI, eval_id: str, data_source: Any, **fields: Any) -> Any:
    """A new run of `eval_id`, once it has finished."""
    run = loose.evals.runs.create(eval_id, data_source=data_source, **fields)
    return wait_run(loose, eval_id, run.id)


def items(sdk: OpenAI, eval_id: str, run_id: str, **query: Any) -> list[Any]:
    """Every output item (the SDK follows `after` across pages)."""
    return list(sdk.evals.runs.output_items.list(run_id, eval_id=eval_id, **query))


def rows_of(found: list[Any]) -> list[int]:
    return [item.datasource_item_id for item in found]


def test_eval_create_retrieve_update_delete(live: Live) -> None:
    with client(live) as sdk:
        with_sample: Any = {**CONFIG, "include_sample_schema": True}
        made = sdk.evals.create(name="shapes", metadata={"team": "a"},
                                data_source_config=with_sample, testing_criteria=[EXACT, SIMILAR])  # fmt: skip
        assert made.object == "eval" and made.id.startswith("eval_") and made.name == "shapes"
        assert made.metadata == {"team": "a"} and abs(made.created_at - time.time()) < 60
        config = made.data_source_config
        assert config.type == "custom"
        assert config.schema_["required"] == ["item", "sample"]
        properties: Any = config.schema_["properties"]
        assert properties["item"] == ITEM_SCHEMA and properties["sample"]["type"] == "object"
        assert [c.name for c in made.testing_criteria] == ["exact", "similar"]
        for criterion in made.testing_criteria:
            ident = str((criterion.model_extra or {})["id"])
            assert ident.startswith(criterion.name + "-")
            assert uuid.UUID(ident.removeprefix(criterion.name + "-")).version == 4
        assert made.testing_criteria[1].pass_threshold == 0.5  # type: ignore[union-attr]
        assert sdk.evals.retrieve(made.id).to_dict() == made.to_dict()

        bare = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
        assert bare.name == bare.id and bare.metadata == {}
        assert bare.data_source_config.to_dict() == {"type": "custom", "schema": {
            "type": "object", "properties": {"item": ITEM_SCHEMA}, "required": ["item"]}}  # fmt: skip

        renamed = sdk.evals.update(made.id, name="renamed", metadata={"team": "b"})
        assert (renamed.id, renamed.name, renamed.metadata) == (made.id, "renamed", {"team": "b"})
        assert renamed.to_dict()["testing_criteria"] == made.to_dict()["testing_criteria"]
        assert sdk.evals.update(made.id, metadata={"k": "v"}).name == "renamed"  # name kept
        again = sdk.evals.retrieve(made.id)
        assert (again.name, again.metadata) == ("renamed", {"k": "v"})

        gone = sdk.evals.delete(made.id)
        assert (gone.object, gone.deleted, gone.eval_id) == ("eval.deleted", True, made.id)
        with pytest.raises(openai.NotFoundError):
            sdk.evals.retrieve(made.id)
        with pytest.raises(openai.NotFoundError):
            sdk.evals.delete(made.id)
        assert sdk.evals.retrieve(bare.id).id == bare.id  # only the one deleted


def test_eval_list_pages_both_ways(live: Live) -> None:
    # Other tests share this server's project, so pages are anchored on these five evals.
    with client(live) as sdk:
        made = [sdk.evals.create(name=f"page{i}", data_source_config=CONFIG,
                                 testing_criteria=[EXACT]).id for i in range(5)]  # fmt: skip
        page = sdk.evals.list(limit=2, after=made[0])
        assert [e.id for e in page.data] == made[1:3] and page.has_more is True
        extra = page.to_dict()
        assert (extra["object"], extra["first_id"], extra["last_id"]) == ("list", made[1], made[2])
        last = sdk.evals.list(limit=2, after=made[2])
        assert [e.id for e in last.data] == made[3:] and last.has_more is False
        assert [e.id for e in sdk.evals.list(limit=2, after=made[0])] == made[1:]  # every page

        newest = sdk.evals.list(limit=2, order="desc")
        assert [e.id for e in newest.data] == made[:2:-1] and newest.has_more is True
        older = sdk.evals.list(limit=2, order="desc", after=made[3])
        assert [e.id for e in older.data] == [made[2], made[1]] and older.has_more is True
        assert newest.to_dict()["first_id"] == made[4]

        sdk.evals.update(made[1], name="touched")
        touched = sdk.evals.list(limit=1, order="desc", order_by="updated_at").data
        assert [e.id for e in touched] == [made[1]]
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.evals.list(limit=101)
        assert caught.value.param == "limit"


def test_bad_requests_name_the_param(live: Live) -> None:
    with client(live) as sdk:
        good: dict[str, Any] = {"data_source_config": CONFIG, "testing_criteria": [EXACT]}
        cases: list[tuple[dict[str, Any], str]] = [
            ({"data_source_config": None}, "data_source_config"),
            ({"data_source_config": {"type": "logs"}}, "data_source_config.type"),
            ({"data_source_config": {"type": "stored_completions"}}, "data_source_config.type"),
            ({"data_source_config": {"type": "custom"}}, "data_source_config.item_schema"),
            ({"testing_criteria": [EXACT, {**EXACT, "operation": "nope"}]},
             "testing_criteria[1].operation"),
            ({"testing_criteria": []}, "testing_criteria"),
            ({"bogus": 1}, "bogus"),
        ]  # fmt: skip
        for change, param in cases:
            body = {key: value for key, value in {**good, **change}.items() if value is not None}
            with pytest.raises(openai.BadRequestError) as caught:
                sdk.post("/evals", body=body, cast_to=object)
            assert caught.value.param == param, (change, caught.value.body)
        evaluation = sdk.evals.create(**good)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.post(f"/evals/{evaluation.id}", body={"bogus": 1}, cast_to=object)
        assert caught.value.param == "bogus"

        misfit = [{"item": {"answer": "a"}}, {"item": {"question": "no answer"}}]
        runs: list[tuple[Any, str]] = [
            ({**inline(misfit[:1]), "type": "responses"}, "data_source.type"),
            (inline(misfit), "data_source.source.content[1].item"),
            (from_file("file-nope"), "data_source.source.id"),
            (completions(misfit[:1], model="no-such-model"), "data_source.model"),
        ]  # fmt: skip
        for data_source, param in runs:
            with pytest.raises(openai.BadRequestError) as caught:
                sdk.evals.runs.create(evaluation.id, data_source=data_source)
            assert caught.value.param == param, (data_source, caught.value.body)
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.post(f"/evals/{evaluation.id}/runs", cast_to=object,
                     body={"data_source": inline(misfit[:1]), "bogus": 1})  # fmt: skip
        assert caught.value.param == "bogus"
        with client(live, strict=False) as loose:
            assert loose.evals.runs.list(evaluation.id).data == []  # none was made
        with pytest.raises(openai.NotFoundError):
            sdk.evals.runs.create("eval_nope", data_source=inline(misfit[:1]))


def test_jsonl_run_grades_given_samples(live: Live) -> None:
    with client(live) as sdk, client(live, strict=False) as loose:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT, SIMILAR])
        ids = [str((c.model_extra or {})["id"]) for c in evaluation.testing_criteria]
        source = inline(given_rows())
        created = loose.evals.runs.create(evaluation.id, data_source=source, metadata={"m": "1"})
        assert created.object == "eval.run" and created.id.startswith("evalrun_")
        assert created.status in ("queued", "in_progress", "completed")
        run = wait_run(loose, evaluation.id, created.id)
        assert run.status == "completed" and run.error is None
        assert (run.eval_id, run.name, run.model) == (evaluation.id, run.id, "")
        assert run.metadata == {"m": "1"} and isinstance(run.report_url, str)
        assert abs(run.created_at - time.time()) < 60
        assert run.data_source.to_dict() == source
        # string_check passes at 1, text_similarity at its pass_threshold (0.5): rows 0 and 3
        # pass both, row 1 passes only the similarity.
        counts = run.result_counts
        assert (counts.total, counts.passed, counts.failed, counts.errored) == (5, 2, 3, 0)
        per = [(r.testing_criteria, r.passed, r.failed) for r in run.per_testing_criteria_results]
        assert per == [(ids[0], 2, 3), (ids[1], 3, 2)]
        assert run.per_model_usage == []  # no model was asked

        found = items(loose, evaluation.id, run.id)
        assert rows_of(found) == [0, 1, 2, 3, 4]
        for item, (answer, text, exact, similar) in zip(found, GIVEN, strict=True):
            assert item.object == "eval.run.output_item" and item.id.startswith("outputitem_")
            assert (item.run_id, item.eval_id) == (run.id, evaluation.id)
            assert item.datasource_item == {"answer": answer}
            assert item.sample.output[0].content == text
            assert item.sample.output[0].role == "assistant"
            assert [r.sample for r in item.results] == [None, None]
            assert [(r.name, r.type) for r in item.results] == [("exact", "string_check"),
                                                                ("similar", "text_similarity")]  # fmt: skip
            assert item.results[0].score == exact
            assert item.results[1].score == pytest.approx(similar)
            assert [r.passed for r in item.results] == [exact == 1.0, similar >= 0.5]
            assert item.status == ("pass" if exact == 1.0 and similar >= 0.5 else "fail")

        assert rows_of(items(loose, evaluation.id, run.id, status="pass")) == [0, 3]
        assert rows_of(items(loose, evaluation.id, run.id, status="fail")) == [1, 2, 4]
        output_items = loose.evals.runs.output_items
        first = output_items.list(run.id, eval_id=evaluation.id, limit=2)
        assert rows_of(first.data) == [0, 1] and first.has_more is True
        assert first.to_dict()["last_id"] == first.data[1].id
        rest = output_items.list(run.id, eval_id=evaluation.id, limit=2, after=first.data[1].id)
        assert rows_of(rest.data) == [2, 3] and rest.has_more is True
        end = output_items.list(run.id, eval_id=evaluation.id, limit=2, after=rest.data[1].id)
        assert rows_of(end.data) == [4] and end.has_more is False
        backwards = output_items.list(run.id, eval_id=evaluation.id, order="desc", limit=3)
        assert rows_of(backwards.data) == [4, 3, 2]
        one = output_items.retrieve(found[3].id, eval_id=evaluation.id, run_id=run.id)
        assert one.to_dict() == found[3].to_dict()
        with pytest.raises(openai.NotFoundError):
            output_items.retrieve("outputitem_nope", eval_id=evaluation.id, run_id=run.id)


def test_jsonl_run_from_an_uploaded_file(live: Live) -> None:
    with client(live) as sdk, client(live, strict=False) as loose:
        # The SDK's FileObject has no "evals" purpose, though its create takes one.
        upload = loose.files.create(file=("rows.jsonl", LINES), purpose="evals")
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
        run = finished(loose, evaluation.id, from_file(upload.id))
        counts = run.result_counts
        assert run.status == "completed"
        assert (counts.total, counts.passed, counts.failed, counts.errored) == (2, 1, 1, 0)
        found = items(loose, evaluation.id, run.id)
        assert [(i.datasource_item_id, i.status) for i in found] == [(0, "pass"), (1, "fail")]
        assert [i.sample.output[0].content for i in found] == ["sun", "moon"]
        assert found[1].datasource_item == {"answer": "sun"}

        bad = LINES + b'{"item": {"question": "q"}}\n'
        misfit = loose.files.create(file=("bad.jsonl", bad), purpose="evals")
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.evals.runs.create(evaluation.id, data_source=from_file(misfit.id))
        assert caught.value.param == "data_source.source.id"
        assert re.search(r"\b3\b", caught.value.message), caught.value.message  # its line


def test_a_grading_error_is_an_errored_item(live: Live) -> None:
    # Errored is its own outcome everywhere: the run's counts, each criterion's counts (the
    # `errored` key is an extension the SDK keeps in model_extra), the item's status and the
    # status filter, so that `status="fail"` lists exactly `result_counts.failed` items.
    hinted: Any = {**EXACT, "name": "hinted", "reference": "{{item.hint}}"}
    rows = [{"item": {"answer": "a", "hint": "a"}, "sample": {"output_text": "a"}},
            {"item": {"answer": "a"}, "sample": {"output_text": "a"}},
            {"item": {"answer": "a", "hint": "b"}, "sample": {"output_text": "b"}}]  # fmt: skip
    with client(live) as sdk, client(live, strict=False) as loose:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT, hinted])
        run = finished(loose, evaluation.id, inline(rows))
        found = items(loose, evaluation.id, run.id)
        failing = items(loose, evaluation.id, run.id, status="fail")
        erroring = items(loose, evaluation.id, run.id, extra_query={"status": "error"})
    counts = run.result_counts
    assert run.status == "completed"  # a grader's error is data, not a failed run
    assert (counts.total, counts.passed, counts.failed, counts.errored) == (3, 1, 1, 1)
    per = [(r.passed, r.failed, (r.model_extra or {})["errored"])
           for r in run.per_testing_criteria_results]  # fmt: skip
    assert per == [(2, 1, 0), (2, 0, 1)]
    assert all(sum(entry) == counts.total for entry in per)
    assert [i.status for i in found] == ["pass", "error", "fail"]
    assert [r.passed for r in found[1].results] == [True, False]
    assert rows_of(failing) == [2] and rows_of(erroring) == [1]


def chat_completion(content: str | None, tool_calls: list[Any] | None = None) -> Any:
    """What `chat.completions.create(...).model_dump()` gives, as the regression cookbook
    uploads it for each row's sample."""
    message = {"role": "assistant", "content": content, "tool_calls": tool_calls}
    reason = "tool_calls" if tool_calls else "stop"
    return ChatCompletion.model_validate({
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": reason, "message": message}],
        "usage": {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12},
    }).model_dump()  # fmt: skip


def test_a_chat_completion_sample_is_graded_on_its_first_choice(live: Live) -> None:
    # OpenAI fills output_text, output_tools and output_json from choices[0].message; the
    # tools-evaluation cookbook's criterion reads a key inside the call's JSON `arguments`.
    symbols = [{"name": "Evals", "symbol_type": "class"}]
    call = {"id": "call_1", "type": "function",
            "function": {"name": "extract_symbols", "arguments": json.dumps({"symbols": symbols})}}  # fmt: skip
    listed: Any = {**EXACT, "name": "symbols",
                   "input": "{{sample.output_tools[0].function.arguments.symbols[0].name}}"}  # fmt: skip
    as_json: Any = {**EXACT, "name": "json", "input": "{{sample.output_json.answer}}"}
    rows = [
        {"item": {"answer": "sun"}, "sample": chat_completion("sun")},
        {"item": {"answer": "moon"}, "sample": chat_completion("sun")},
        {"item": {"answer": "Evals"}, "sample": chat_completion(None, [call])},
        {"item": {"answer": "sun"}, "sample": chat_completion('{"answer": "sun"}')},
    ]
    with client(live) as sdk, client(live, strict=False) as loose:
        with_sample: Any = {**CONFIG, "include_sample_schema": True}
        texts = sdk.evals.create(data_source_config=with_sample, testing_criteria=[EXACT])
        run = finished(loose, texts.id, inline(rows[:2]))
        assert (run.result_counts.passed, run.result_counts.failed) == (1, 1)
        found = items(loose, texts.id, run.id)
        assert [i.sample.output[0].content for i in found] == ["sun", "sun"]
        assert run.data_source.to_dict()["source"]["content"][0]["sample"]["model"] == "gpt-4o-mini"

        tools = sdk.evals.create(data_source_config=with_sample, testing_criteria=[listed])
        run = finished(loose, tools.id, inline(rows[2:3]))
        counts = run.result_counts
        assert (counts.passed, counts.errored) == (1, 0), items(loose, tools.id, run.id)
        [item] = items(loose, tools.id, run.id)
        assert item.sample.finish_reason == "tool_calls"
        assert (item.sample.output[0].model_extra or {})["tool_calls"] == [call]

        parsed = sdk.evals.create(data_source_config=with_sample, testing_criteria=[as_json])
        run = finished(loose, parsed.id, inline(rows[3:]))
        assert (run.result_counts.passed, run.result_counts.errored) == (1, 0)


def test_max_completions_tokens_is_an_alias_in_sampling_params(live: Live) -> None:
    # Two of OpenAI's cookbook notebooks send the misspelling; OpenAI runs them.
    rows = [{"item": {"question": "abc", "answer": "cba"}}]
    params = {"seed": 42, "temperature": 0.7, "top_p": 0.9, "max_completions_tokens": 40}
    with client(live) as sdk, client(live, strict=False) as loose:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
        run = finished(loose, evaluation.id, completions(rows, sampling_params=params))
        assert run.status == "completed" and run.result_counts.passed == 1
        [item] = items(loose, evaluation.id, run.id)
        assert item.sample.max_completion_tokens == 40
        both = {**params, "max_completion_tokens": 30}
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.evals.runs.create(
                evaluation.id, data_source=completions(rows, sampling_params=both)
            )
        assert caught.value.param == "data_source.sampling_params"
        assert "max_completions_tokens" in caught.value.message


def test_completions_run_asks_the_model(live: Live) -> None:
    # FakeBackend answers the question reversed: "abc" -> "cba" passes, "hello" -> "olleh"
    # fails, the palindrome "noon" passes.
    rows = [{"item": {"question": q, "answer": a}} for q, a in
            [("abc", "cba"), ("hello", "hello"), ("noon", "noon")]]  # fmt: skip
    params = {"seed": 7, "temperature": 0.5, "max_completion_tokens": 50}
    with client(live) as sdk, client(live, strict=False) as loose:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
        run = finished(loose, evaluation.id, completions(rows, sampling_params=params))
        assert run.status == "completed" and run.error is None
        assert (run.model, run.name) == ("openrft-tiny", "openrft-tiny")
        counts = run.result_counts
        assert (counts.total, counts.passed, counts.failed, counts.errored) == (3, 2, 1, 0)
        [usage] = run.per_model_usage
        assert (usage.model_name, usage.invocation_count) == ("openrft-tiny", 3)
        # FakeBackend counts a character as a token: 3 + 5 + 4 asked, as many answered.
        assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (12, 12, 24)
        found = items(loose, evaluation.id, run.id)
        assert [(i.datasource_item_id, i.status) for i in found] == [(0, "pass"), (1, "fail"),
                                                                     (2, "pass")]  # fmt: skip
        sample = found[1].sample
        assert [(m.role, m.content) for m in sample.input] == [("user", "hello")]
        assert [(m.role, m.content) for m in sample.output] == [("assistant", "olleh")]
        assert (sample.model, sample.finish_reason, sample.error) == ("openrft-tiny", "stop", None)
        assert (sample.seed, sample.temperature, sample.max_completion_tokens) == (7, 0.5, 50)
        assert (sample.usage.prompt_tokens, sample.usage.completion_tokens) == (5, 5)
        assert (sample.usage.total_tokens, sample.usage.cached_tokens) == (10, 0)
        assert found[1].results[0].score == 0.0 and found[0].results[0].passed is True

        chats = [{"item": {"messages": [{"role": "system", "content": "be brief"},
                                        {"role": "user", "content": q}], "answer": a}}
                 for q, a in [("xyz", "zyx"), ("ab", "ab")]]  # fmt: skip
        by_reference = completions(chats, REFERENCE)
        run = finished(loose, evaluation.id, by_reference, name="refs")
        assert run.status == "completed" and run.name == "refs"
        assert (run.result_counts.passed, run.result_counts.failed) == (1, 1)
        assert run.per_model_usage[0].invocation_count == 2
        first = items(loose, evaluation.id, run.id)[0]
        assert [(m.role, m.content) for m in first.sample.input] == [("system", "be brief"),
                                                                     ("user", "xyz")]  # fmt: skip
        assert first.sample.output[0].content == "zyx" and first.status == "pass"


def test_runs_list_cancel_and_delete(live: Live) -> None:
    # A slow model keeps the first run busy, so the second is still queued when it is cancelled.
    rows = [{"item": {"question": f"q{i}", "answer": f"q{i}"[::-1]}} for i in range(40)]
    live.backend.delay = 0.3
    try:
        with client(live) as sdk, client(live, strict=False) as loose:
            evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
            busy = loose.evals.runs.create(evaluation.id, data_source=completions(rows))
            waiting = loose.evals.runs.create(evaluation.id, data_source=inline(given_rows()))
            assert waiting.status == "queued"
            cancelled = loose.evals.runs.cancel(waiting.id, eval_id=evaluation.id)
            assert (cancelled.id, cancelled.status) == (waiting.id, "canceled")
            done = wait_run(loose, evaluation.id, busy.id)
    finally:
        live.backend.delay = 0.0
    with client(live, strict=False) as loose:
        runs = loose.evals.runs
        assert done.status == "completed" and done.result_counts.passed == 40
        assert runs.retrieve(waiting.id, eval_id=evaluation.id).status == "canceled"
        assert items(loose, evaluation.id, waiting.id) == []  # never started
        listed = runs.list(evaluation.id)
        assert [r.id for r in listed.data] == [busy.id, waiting.id] and listed.has_more is False
        assert [r.id for r in runs.list(evaluation.id, order="desc")] == [waiting.id, busy.id]
        page = runs.list(evaluation.id, limit=1)
        assert [r.id for r in page.data] == [busy.id] and page.has_more is True
        assert [r.id for r in runs.list(evaluation.id, status="canceled")] == [waiting.id]
        assert [r.id for r in runs.list(evaluation.id, status="completed")] == [busy.id]
        assert list(runs.list(evaluation.id, status="queued")) == []

        unchanged = runs.cancel(busy.id, eval_id=evaluation.id)
        assert unchanged.status == "completed" and unchanged.result_counts.total == 40
        reference: Any = loose.post(f"/evals/{evaluation.id}/runs/{busy.id}", cast_to=object)
        assert (reference["object"], reference["status"]) == ("eval.run", "completed")

        deleted = runs.delete(waiting.id, eval_id=evaluation.id)
        assert (deleted.object, deleted.deleted, deleted.run_id) == ("eval.run.deleted", True,
                                                                     waiting.id)  # fmt: skip
        with pytest.raises(openai.NotFoundError):
            runs.retrieve(waiting.id, eval_id=evaluation.id)
        assert [r.id for r in runs.list(evaluation.id)] == [busy.id]

        loose.evals.delete(evaluation.id)  # its runs and their items go with it
        with pytest.raises(openai.NotFoundError):
            runs.retrieve(busy.id, eval_id=evaluation.id)
        with pytest.raises(openai.NotFoundError):
            runs.output_items.list(busy.id, eval_id=evaluation.id)


def test_another_project_sees_nothing(live: Live) -> None:
    with client(live) as sdk, client(live, strict=False) as loose:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
        run = finished(loose, evaluation.id, inline(given_rows()))
        item = items(loose, evaluation.id, run.id)[0]
        upload = loose.files.create(file=("rows.jsonl", LINES), purpose="evals")
        mine = {e.id for e in sdk.evals.list(limit=100)}
    with client(live, "key-b") as other, client(live, "key-b", strict=False) as other_loose:
        calls = [
            lambda: other.evals.retrieve(evaluation.id),
            lambda: other.evals.update(evaluation.id, name="stolen"),
            lambda: other.evals.delete(evaluation.id),
            lambda: other_loose.evals.runs.create(evaluation.id, data_source=inline(given_rows())),
            lambda: other_loose.evals.runs.list(evaluation.id),
            lambda: other_loose.evals.runs.retrieve(run.id, eval_id=evaluation.id),
            lambda: other_loose.evals.runs.cancel(run.id, eval_id=evaluation.id),
            lambda: other_loose.evals.runs.delete(run.id, eval_id=evaluation.id),
            lambda: other_loose.evals.runs.output_items.list(run.id, eval_id=evaluation.id),
            lambda: other_loose.evals.runs.output_items.retrieve(item.id, eval_id=evaluation.id,
                                                                 run_id=run.id),
        ]  # fmt: skip
        for number, call in enumerate(calls):
            with pytest.raises(openai.NotFoundError):
                call()
                pytest.fail(f"call {number} reached another project's eval")
        assert mine and not mine & {e.id for e in other.evals.list(limit=100)}
        theirs = other.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
        with pytest.raises(openai.BadRequestError) as caught:
            other.evals.runs.create(theirs.id, data_source=from_file(upload.id))
        assert caught.value.param == "data_source.source.id"
    with client(live) as sdk, client(live, strict=False) as loose:
        assert sdk.evals.retrieve(evaluation.id).name == evaluation.name  # untouched
        assert loose.evals.runs.retrieve(run.id, eval_id=evaluation.id).status == "completed"
        assert len(items(loose, evaluation.id, run.id)) == len(GIVEN)


def test_ids_have_openai_shapes(live: Live) -> None:
    with client(live) as sdk, client(live, strict=False) as loose:
        evaluation = sdk.evals.create(data_source_config=CONFIG, testing_criteria=[EXACT])
        run = finished(loose, evaluation.id, inline(given_rows()))
        item = items(loose, evaluation.id, run.id)[0]
    assert re.fullmatch(r"eval_[0-9a-f]{32}", evaluation.id), evaluation.id
    assert re.fullmatch(r"evalrun_[0-9a-f]{32}", run.id), run.id
    assert re.fullmatch(r"outputitem_[0-9a-f]{32}", item.id), item.id


async def test_async_client_creates_runs_and_lists(live: Live) -> None:
    async with AsyncOpenAI(base_url=live.base_url, api_key="key-a", max_retries=0,
                           _strict_response_validation=True) as sdk, \
               AsyncOpenAI(base_url=live.base_url, api_key="key-a", max_retries=0) as loose:  # fmt: skip
        evaluation = await sdk.evals.create(name="async", data_source_config=CONFIG,
                                            testing_criteria=[EXACT])  # fmt: skip
        run: Any = await loose.evals.runs.create(evaluation.id, data_source=inline(given_rows()))
        deadline = time.monotonic() + 30
        while run.status not in FINISHED:
            assert time.monotonic() < deadline, f"run still {run.status}"
            await asyncio.sleep(0.05)
            run = await loose.evals.runs.retrieve(run.id, eval_id=evaluation.id)
        assert run.status == "completed" and run.result_counts.passed == 2
        pages = loose.evals.runs.output_items.list(run.id, eval_id=evaluation.id, limit=2)
        found = [item async for item in pages]
        assert rows_of(found) == [0, 1, 2, 3, 4]
        assert [i.status for i in found] == ["pass", "fail", "fail", "pass", "fail"]
        listed = [e.id async for e in sdk.evals.list(order="desc", limit=5)]
        assert listed[0] == evaluation.id
