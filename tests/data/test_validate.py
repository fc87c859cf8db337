"""RFT row rules (decision D2) and the grader-vs-data check (decision D3)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from openrft.data.refs import check_refs, item_refs
from openrft.data.validate import row_problem, scan_file, validate_file
from openrft.errors import DataFileError
from openrft.graders import render

USER = {"role": "user", "content": "What is 2+2?"}
TOOL = {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}


def jsonl(rows: list[Any]) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(row) + "\n" for row in rows).encode())


@pytest.mark.parametrize(
    "row",
    [
        {"messages": [USER]},
        {"messages": [{"role": "developer", "content": "Be brief."}, USER], "answer": "4"},
        {"messages": [{"role": "system", "content": "Be brief."}, USER]},  # system = developer
        {"messages": [USER, {"role": "assistant", "content": "4"}, USER]},
        {
            "messages": [
                USER,
                {"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]},
                {"role": "tool", "content": "42", "tool_call_id": "c"},
                USER,
            ],
            "tools": [TOOL],
        },
        {"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]},
        {"messages": [USER], "reference": {"nested": [1, 2]}, "tags": ["edge"], "n": 3},
    ],
)
def test_valid_rows(row: dict[str, Any]) -> None:
    assert row_problem(row) is None


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ({"prompt": "hi"}, "missing 'messages'"),
        ({"messages": []}, "'messages' must be a non-empty list"),
        ({"messages": "hi"}, "'messages' must be a non-empty list"),
        ({"messages": ["hi"]}, "messages[0] must be an object"),
        ({"messages": [{"role": "bot", "content": "x"}]}, "messages[0]: role 'bot' is not one"),
        ({"messages": [{"content": "x"}]}, "messages[0]: role None is not one"),
        ({"messages": [{"role": "user", "content": 3}]}, "messages[0]: 'content' must be"),
        ({"messages": [{"role": "user"}]}, "messages[0]: 'content' must be"),
        ({"messages": [USER, {"role": "assistant", "content": "4"}]}, "the last message must be"),
        ({"messages": [{"role": "developer", "content": "x"}]}, "the last message must be"),
        ({"messages": [USER], "tools": TOOL}, "'tools' must be a list"),
        ({"messages": [USER], "tools": [{"type": "web"}]}, "tools[0] must be"),
        ({"messages": [USER], "tools": [{"type": "function"}]}, "tools[0].function must be"),
        (
            {"messages": [USER], "tools": [{"type": "function", "function": {"name": "a b"}}]},
            "tools[0].function.name must be",
        ),
        (
            {
                "messages": [USER],
                "tools": [{"type": "function", "function": {"name": "f", "parameters": []}}],
            },
            "tools[0].function.parameters must be",
        ),
    ],
)
def test_invalid_rows_say_what_is_wrong(row: dict[str, Any], problem: str) -> None:
    assert (row_problem(row) or "").startswith(problem)


def test_validate_file_names_the_line() -> None:
    rows = [{"messages": [USER]}, {"messages": [USER]}, {"messages": []}]
    with pytest.raises(DataFileError) as caught:
        validate_file(jsonl(rows), path_label="train.jsonl")
    assert caught.value.line == 3
    assert caught.value.message.startswith("train.jsonl:3: 'messages' must be")


def test_row_limits_default_to_openai_and_are_settable() -> None:
    valid_rows = [{"messages": [USER], "i": i} for i in range(1001)]
    with pytest.raises(DataFileError, match="more than the 1000 rows"):
        validate_file(jsonl(valid_rows), split="valid")
    assert len(validate_file(jsonl(valid_rows), split="train")) == 1001
    with pytest.raises(DataFileError, match="more than the 3 rows") as caught:
        validate_file(jsonl(valid_rows[:10]), max_rows=3)
    assert caught.value.line == 4


def test_train_limit_is_50000() -> None:
    from openrft.data.validate import MAX_TRAIN_ROWS, limit_problem

    assert MAX_TRAIN_ROWS == 50_000
    assert limit_problem(50_000, "train") is None
    assert "50000 allowed in a training file" in (limit_problem(50_001, "train") or "")


def test_empty_file_is_an_error() -> None:
    with pytest.raises(DataFileError, match="no rows"):
        validate_file(io.BytesIO(b"\n\n"))


def test_scan_file_collects_parse_and_row_problems() -> None:
    data = b'{"messages": [{"role": "user", "content": "a"}]}\n{oops\n{"messages": []}\n'
    rows, errors = scan_file(io.BytesIO(data), path_label="d.jsonl")
    assert [line for line, _ in rows] == [1]
    assert [(error.line, error.path) for error in errors] == [(2, "d.jsonl"), (3, "d.jsonl")]


# --- D3: grader references against rows ------------------------------------------------

STRING_CHECK = {
    "type": "string_check",
    "name": "exact",
    "input": "{{ sample.output_text }}",
    "reference": "{{ item.answer }}",
    "operation": "eq",
}
MULTI = {
    "type": "multi",
    "graders": {
        "exact": STRING_CHECK,
        "code": {"type": "python", "source": "def grade(sample, item):\n    return 1.0\n"},
        "sim": {
            "type": "text_similarity",
            "input": "{{sample.output_text}}",
            "reference": "{{item.meta.gold[0]}} / {{ item.messages[0].content }}",
            "evaluation_metric": "bleu",
        },
    },
    "calculate_output": "exact + code + sim",
}


def rows_of(*rows: dict[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    return [(index + 1, {"messages": [USER], **row}) for index, row in enumerate(rows)]


def test_every_item_reference_is_found_including_sub_graders() -> None:
    refs = {(ref.field, ref.text) for ref in item_refs(MULTI)}
    assert refs == {
        ("grader.graders.exact.reference", "item.answer"),
        ("grader.graders.sim.reference", "item.meta.gold[0]"),
        ("grader.graders.sim.reference", "item.messages[0].content"),  # T3: messages are item
    }


def test_references_that_resolve_everywhere_pass() -> None:
    rows = rows_of({"answer": "4", "meta": {"gold": ["x"]}}, {"answer": 4, "meta": {"gold": [1]}})
    assert check_refs(MULTI, rows) == []


def test_unresolved_reference_names_rows_and_path() -> None:
    rows = rows_of({"answer": "4"}, {"answer": "5"}, {"other": 1}, {})
    [failure] = check_refs(STRING_CHECK, rows)
    assert failure.field == "grader.reference"
    assert failure.lines == [3, 4]
    message = failure.message("train.jsonl")
    assert "grader.reference" in message and "item.answer" in message
    assert "train.jsonl lines 3, 4" in message


def test_list_index_out_of_range_and_wrong_type_fail() -> None:
    rows = rows_of(
        {"answer": "a", "meta": {"gold": []}},
        {"answer": "a", "meta": "flat"},
        {"answer": "a", "meta": {"gold": ["ok"]}},
    )
    [failure] = check_refs(MULTI, rows)
    assert failure.field == "grader.graders.sim.reference" and failure.lines == [1, 2]


def test_python_graders_are_not_template_checked() -> None:
    python = {"type": "python", "source": "def grade(sample, item):\n    return item['x']\n"}
    assert item_refs(python) == [] and check_refs(python, rows_of({})) == []


def test_model_grader_message_templates_are_checked() -> None:
    judge = {
        "type": "score_model",
        "name": "judge",
        "model": "gpt-4o-mini",
        "input": [
            {"role": "system", "content": "Grade against {{ item.rubric }}."},
            {"role": "user", "content": [{"type": "input_text", "text": "{{ item.gold }}"}]},
        ],
    }
    failures = check_refs(judge, rows_of({"rubric": "r"}))
    assert [(f.field, f.ref) for f in failures] == [
        ("grader.input[1].content[0].text", "item.gold")
    ]


def test_the_data_check_steps_into_json_strings_as_rendering_does() -> None:
    # T4: what `render` resolves, D3 passes, and what it does not, D3 names, row by row.
    grader = {**STRING_CHECK, "reference": "{{ item.call.function.arguments.city }}"}
    arguments = json.dumps({"city": "Paris"})
    rows = rows_of(
        {"call": {"function": {"arguments": arguments}}},
        {"call": {"function": {"arguments": "not json"}}},
        {"call": {"function": {"arguments": json.dumps({"town": "Lyon"})}}},
    )
    [failure] = check_refs(grader, rows)
    assert failure.lines == [2, 3]
    assert render(grader["reference"], None, rows[0][1]) == "Paris"
