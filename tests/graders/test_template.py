"""Templating (decisions T1–T3): paths, lists, missing keys, non-string values."""

from __future__ import annotations

from typing import Any

import pytest

from openrft.graders.sample import Sample, SampleParseError
from openrft.graders.template import VariableError, compile_template, render

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
