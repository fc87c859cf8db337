"""Templating (decisions T1–T4): paths, lists, missing keys, non-string values, JSON strings,
forbidden keys."""

from __future__ import annotations

import json
from typing import Any

import pytest

from openrft.graders import Sample, SampleParseError, VariableError, compile_template, render

ITEM: dict[str, Any] = {
    "reference": "yes",
    "nested": {"list": [{"name": "first"}, {"name": "second"}], "n": 3},
    "number": 2.5,
    "integer": 7,
    "flag": True,
    "nothing": None,
    "unicode": "café ✓",
    "obj": {"b": 1, "a": "é"},
    "messages": [{"role": "user", "content": "sort 321:"}],
    "tools": [{"type": "function", "function": {"name": "lookup"}}],
    "reference-answer": "hyphen",
}
TOOL_CALL = {
    "id": "c1",
    "type": "function",
    "function": {"name": "lookup", "arguments": '{"q": 1}'},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{item.reference}}", "yes"),
        ("{{ item.reference }}", "yes"),
        ("{{\titem.reference\n}}", "yes"),
        ("answer: {{item.reference}}!", "answer: yes!"),
        ("{{item.nested.list[1].name}}", "second"),
        ("{{item.nested.n}}", "3"),
        ("{{item.number}}", "2.5"),
        ("{{item.integer}}", "7"),
        ("{{item.flag}}", "true"),
        ("{{item.nothing}}", "null"),
        ("{{item.unicode}}", "café ✓"),
        ("{{item.obj}}", '{"b":1,"a":"é"}'),
        ("{{item.nested.list}}", '[{"name":"first"},{"name":"second"}]'),
        ("{{item.messages[0].content}}", "sort 321:"),
        ("{{item.tools[0].function.name}}", "lookup"),
        ("{{item.reference-answer}}", "hyphen"),
        ("{{item.reference}} and {{item.integer}}", "yes and 7"),
        ("no braces at all", "no braces at all"),
        ("{ item.reference }", "{ item.reference }"),
        ("{{ unclosed", "{{ unclosed"),
        ("{{sample.output_text}}", '{"compliant": "yes", "score": 0.5}'),
        ("{{sample.output_json.compliant}}", "yes"),
        ("{{sample.output_json.score}}", "0.5"),
        ("{{sample.output_tools[0].function.name}}", "lookup"),
        ("{{sample.output_tools[0].function.arguments}}", '{"q": 1}'),
        ("{{sample.choices[0].message.content}}", '{"compliant": "yes", "score": 0.5}'),
    ],
)
def test_render(template: str, expected: str) -> None:
    message = {
        "role": "assistant",
        "content": '{"compliant": "yes", "score": 0.5}',
        "tool_calls": [TOOL_CALL],
    }
    assert render(template, Sample.from_message(message), ITEM) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{item.missing}}",
        "{{item.nested.list[2].name}}",
        "{{item.nested.list.name}}",
        "{{item.reference[0]}}",
        "{{item.nested.n.deeper}}",
        "{{items.reference}}",
        "{{reference}}",
        "{{ }}",
        "{{item..reference}}",
        "{{item.reference[x]}}",
        "{{item.nested.list[-1]}}",
        "{{sample.output_txt}}",
        "{{sample.output_tools[0].function.name}}",
        "{{ item.reference | upper }}",
    ],
)
def test_unresolvable_references_raise_variable_error(template: str) -> None:
    with pytest.raises(VariableError):
        render(template, Sample.from_text("plain"), ITEM)


def test_whole_namespaces_render_as_json() -> None:
    assert render("{{item}}", None, {"a": 1}) == '{"a":1}'
    assert '"output_text":"hi"' in render("{{sample}}", Sample.from_text("hi"), {})


def test_output_json_of_a_non_json_output_is_a_sample_parse_error() -> None:
    for text in ("plain", "[1, 2", '"a string"', "42"):
        with pytest.raises(SampleParseError):
            render("{{sample.output_json.x}}", Sample.from_text(text), {})


def test_json_arrays_count_as_output_json() -> None:
    assert render("{{sample.output_json[1]}}", Sample.from_text(" [1, 2]"), {}) == "2"


def test_compiled_templates_are_cached_and_know_their_references() -> None:
    first = compile_template("{{ item.a }}-{{sample.output_text}}")
    assert first is compile_template("{{ item.a }}-{{sample.output_text}}")
    assert [(ref.namespace, ref.steps) for ref in first.refs] == [
        ("item", ("a",)),
        ("sample", ("output_text",)),
    ]
    assert compile_template("{{ foo.a }}").refs[0].steps is None


def test_sample_coerce_accepts_sample_objects() -> None:
    sample = Sample.coerce(
        {"output_text": "x", "output_json": {"k": 1}, "output_tools": [TOOL_CALL]}
    )
    assert render("{{sample.output_json.k}}/{{sample.output_tools[0].id}}", sample, {}) == "1/c1"
    with pytest.raises(TypeError):
        Sample.coerce({"output_text": 5})
    assert Sample.from_text("hi").as_dict() == {
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}
        ],
        "output_text": "hi",
        "output_json": None,
        "output_tools": [],
    }


# OpenAI's tools-evaluation cookbook reads a key inside the tool call's `arguments`, a JSON string.
SYMBOLS = [{"name": "Evals", "symbol_type": "class"}, {"name": "runs", "symbol_type": "function"}]
ARGUMENTS = json.dumps({"symbols": SYMBOLS})
COOKBOOK_TOOLS = [{"id": "c1", "type": "function",
                   "function": {"name": "extract_symbols", "arguments": ARGUMENTS}}]  # fmt: skip


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{sample.output_tools[0].function.arguments.symbols}}", json.dumps(SYMBOLS, separators=(",", ":"))),
        ("{{sample.output_tools[0].function.arguments.symbols[1].name}}", "runs"),
        ("{{ sample.output_tools[0].function.arguments }}", ARGUMENTS),  # the string, as it is
        ("{{item.encoded.k[0]}}", "v"),
        ("{{item.listed[1]}}", "2"),
    ],
)  # fmt: skip
def test_a_path_steps_into_a_json_string(template: str, expected: str) -> None:
    item = {"encoded": ' {"k": ["v"]}', "listed": "[1, 2]"}
    assert render(template, Sample("", output_tools=COOKBOOK_TOOLS), item) == expected


@pytest.mark.parametrize(
    "template",
    [
        "{{sample.output_tools[0].function.arguments.missing}}",
        "{{sample.output_tools[0].function.name.symbols}}",  # not JSON
        "{{item.scalar.x}}",  # JSON, but a number
        "{{item.broken.x}}",  # not valid JSON
        "{{item.plain[0]}}",  # never an index into a string's characters
    ],
)
def test_a_path_into_a_string_that_holds_no_container_does_not_resolve(template: str) -> None:
    item = {"scalar": "42", "broken": '{"x": ', "plain": "abc"}
    with pytest.raises(VariableError):
        render(template, Sample("", output_tools=COOKBOOK_TOOLS), item)


@pytest.mark.parametrize(
    "template",
    [
        "{{ sample.output_json.__class__ }}",
        "{{ sample.__class__ }}",
        "{{ item.__class__ }}",
        "{{ item.__dict__ }}",
        "{{ item.nested.__proto__ }}",
        "{{ item.__len__ }}",
        "{{ sample.output_tools[0].function.arguments.__doc__ }}",
    ],
)
def test_double_underscore_keys_never_resolve_even_when_the_data_has_them(template: str) -> None:
    item = {"__class__": "x", "__dict__": {}, "nested": {"__proto__": "p"}, "__len__": 1}
    sample = Sample('{"__class__": "y"}', output_tools=COOKBOOK_TOOLS)
    with pytest.raises(VariableError, match="never resolve"):
        render(template, sample, item)


def test_single_underscore_keys_are_data() -> None:
    assert render("{{ item._id }}/{{ item.a_b._x }}", None, {"_id": "7", "a_b": {"_x": 1}}) == "7/1"


def test_a_chat_completion_sample_is_read_from_its_first_choice() -> None:
    completion = {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": "gpt-4o-mini",
        "choices": [{"index": 0, "finish_reason": "tool_calls", "logprobs": None,
                     "message": {"role": "assistant", "content": '{"answer": "sun"}',
                                 "refusal": None, "tool_calls": COOKBOOK_TOOLS}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }  # fmt: skip
    sample = Sample.coerce(completion)
    assert sample.output_text == '{"answer": "sun"}' and sample.output_tools == COOKBOOK_TOOLS
    assert render("{{sample.output_json.answer}}", sample, {}) == "sun"
    assert render("{{sample.choices[0].finish_reason}}", sample, {}) == "tool_calls"
    silent = {**completion, "choices": [{"index": 0, "message": {"role": "assistant",
                                                                 "content": None}}]}  # fmt: skip
    assert Sample.coerce(silent).output_text == "" and Sample.coerce(silent).output_tools == []
    given = Sample.coerce({**completion, "output_text": "given wins"})
    assert given.output_text == "given wins"
