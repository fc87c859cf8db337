"""The `sample` namespace: what the model produced, as graders see it (spec §2.3, G9).

`output_json` is parsed lazily, on first use, so graders that never read it pay nothing.
A sample given as a Chat Completion (`{"model", "choices": [...]}`, what an eval's jsonl rows
hold when they were made with `chat.completions.create(...).model_dump()`) is read as OpenAI
reads it: the text, tool calls and JSON of `choices[0].message`.
A sample produced under a `response_format` whose text does not parse is a sample parse error
for every grader; any other sample whose text is not a JSON object or array simply has no
`output_json`, and a template that reads it is a sample parse error too.
"""

from __future__ import annotations

import json
from typing import Any

_UNPARSED: Any = object()
NO_JSON: Any = object()


class SampleParseError(Exception):
    """A grader asked for `sample.output_json` and the output is not JSON."""


class Sample:
    __slots__ = (
        "_output_json",
        "choices",
        "json_expected",
        "output_text",
        "output_tools",
        "trace_id",
    )

    def __init__(
        self,
        output_text: str,
        *,
        output_tools: list[dict[str, Any]] | None = None,
        choices: list[dict[str, Any]] | None = None,
        json_expected: bool = False,
        trace_id: str | None = None,
    ):
        self.output_text = output_text
        self.output_tools = output_tools if output_tools is not None else []
        self.choices = choices
        self.json_expected = json_expected
        """True when the sample was generated under a JSON `response_format`."""
        self.trace_id = trace_id
        """An agentic episode's id (`trace_<uuid>`), the one its tool calls carried; an
        `endpoint` grader sends it beside the sample. None: not from an episode."""
        self._output_json = _UNPARSED

    @classmethod
    def from_text(cls, text: str, *, json_expected: bool = False) -> Sample:
        """A sample from plain text (`graders/run`'s `model_sample`)."""
        return cls(text, json_expected=json_expected)

    @classmethod
    def from_message(
        cls, message: dict[str, Any], *, finish_reason: str = "stop", json_expected: bool = False
    ) -> Sample:
        """A sample from a Chat Completions assistant message (content and tool_calls)."""
        tools = list(message.get("tool_calls") or [])
        choice = {"index": 0, "message": message, "finish_reason": finish_reason}
        text = message.get("content") or ""
        return cls(text, output_tools=tools, choices=[choice], json_expected=json_expected)

    @classmethod
    def coerce(cls, value: Any) -> Sample:
        """A `Sample` from a string or a sample object (`{"output_text": ..., ...}`, or a
        Chat Completion whose `choices[0].message` fills the fields it does not give)."""
        if isinstance(value, Sample):
            return value
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            value = {**_from_choices(value.get("choices")), **value}
        if isinstance(value, dict) and isinstance(value.get("output_text", ""), str):
            sample = cls(
                value.get("output_text", ""),
                output_tools=value.get("output_tools"),
                choices=value.get("choices"),
            )
            if "output_json" in value:
                sample._output_json = value["output_json"]
            return sample
        raise TypeError("a sample is a string or an object with a string `output_text`")

    @property
    def output_json(self) -> Any:
        """The output parsed as a JSON object or array, or `NO_JSON`."""
        if self._output_json is _UNPARSED:
            self._output_json = parse_json_container(self.output_text)
        return self._output_json

    @property
    def parse_failed(self) -> bool:
        """A response_format was requested and the output is not JSON."""
        return self.json_expected and self.output_json is NO_JSON

    def get_choices(self) -> list[dict[str, Any]]:
        if self.choices is not None:
            return self.choices
        message = {"role": "assistant", "content": self.output_text}
        return [{"index": 0, "message": message, "finish_reason": "stop"}]

    def field(self, name: str) -> Any:
        """A top-level field for templates; raises KeyError for an unknown one."""
        if name == "output_text":
            return self.output_text
        if name == "output_json":
            value = self.output_json
            if value is NO_JSON:
                raise SampleParseError(
                    "sample.output_json: the output is not a JSON object or array"
                )
            return value
        if name == "output_tools":
            return self.output_tools
        if name == "choices":
            return self.get_choices()
        raise KeyError(name)

    def as_dict(self) -> dict[str, Any]:
        """The dict a python grader receives as its first argument."""
        value = self.output_json
        return {
            "choices": self.get_choices(),
            "output_text": self.output_text,
            "output_json": None if value is NO_JSON else value,
            "output_tools": self.output_tools,
        }


def _from_choices(choices: Any) -> dict[str, Any]:
    """`output_text` and `output_tools` from a Chat Completion's first choice, if it has one."""
    first = choices[0] if isinstance(choices, list) and choices else None
    message = first.get("message") if isinstance(first, dict) else None
    if not isinstance(message, dict):
        return {}
    content = message.get("content")
    if isinstance(content, list):  # content parts: their text, in order
        content = "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return {
        "output_text": content if isinstance(content, str) else "",
        "output_tools": list(message.get("tool_calls") or []),
    }


def parse_json_container(text: str) -> Any:
    """The JSON object or array `text` holds, else `NO_JSON`."""
    stripped = text.lstrip()
    if not stripped or stripped[0] not in "{[":
        return NO_JSON
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return NO_JSON
    return value if isinstance(value, dict | list) else NO_JSON
