"""`{{ item.path }}` / `{{ sample.path }}` templates (decisions T1–T4).

A template is compiled once (cached by its text) into literal parts and references. Rendering
inserts strings as they are and any other JSON value as compact JSON. A path that steps into a
string holding a JSON object or array steps into the parsed value (T4: tool-call `arguments`
are JSON strings); the string itself still renders as it is. A reference that does not resolve
raises `VariableError`; reading `sample.output_json` of a non-JSON output raises
`SampleParseError`. The grader engine turns both into error flags.

Guarantee: a key that starts with `__` (`__class__`, `__proto__`) never resolves, whatever the
data holds: the path is rejected when the grader is validated and flagged if it reaches a run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from openrft.graders.sample import NO_JSON, Sample, SampleParseError, parse_json_container

__all__ = [
    "Ref",
    "SampleParseError",
    "Template",
    "VariableError",
    "compile_template",
    "forbidden_key",
    "render",
]

_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_HEAD = re.compile(r"([A-Za-z_]\w*)(.*)", re.DOTALL)
_STEP = re.compile(r"\.([^.\[\]\s{}]+)|\[(\d+)\]")
_NAMESPACES = ("item", "sample")


class VariableError(Exception):
    """A template reference that does not resolve (`invalid_variable_error`)."""


@dataclass(frozen=True, slots=True)
class Ref:
    """A parsed reference: namespace plus steps (str keys, int indices). `steps` is None when
    the expression itself is malformed (an unknown namespace or bad syntax)."""

    text: str
    namespace: str
    steps: tuple[str | int, ...] | None
    problem: str | None = None
    """Set (with `steps` None) when the path reads a forbidden key: validation rejects it."""

    def resolve(self, sample: Sample | None, item: Any) -> Any:
        if self.steps is None:
            problem = self.problem or "expected item.<path> or sample.<path>"
            raise VariableError(f"{{{{ {self.text} }}}}: {problem}")
        if self.namespace == "item":
            value, steps = item, self.steps
        elif sample is None:
            raise VariableError(f"{{{{ {self.text} }}}}: there is no sample here")
        elif not self.steps:
            value, steps = sample.as_dict(), ()
        else:
            first = self.steps[0]
            try:
                value = sample.field(first) if isinstance(first, str) else None
            except KeyError:
                value = None
            if value is None:
                raise VariableError(f"{{{{ {self.text} }}}}: sample has no field {first!r}")
            steps = self.steps[1:]
        return _walk(value, steps, self.text)


def _walk(value: Any, steps: tuple[str | int, ...], text: str) -> Any:
    for step in steps:
        if isinstance(value, str):
            value = _json_container(value)
        if isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        elif isinstance(value, dict) and isinstance(step, str) and step in value:
            value = value[step]
        else:
            raise VariableError(f"{{{{ {text} }}}}: {step!r} not found")
    return value


def _json_container(text: str) -> Any:
    """The JSON object or array a string holds (T4), else the string itself."""
    value = parse_json_container(text)
    return text if value is NO_JSON else value


def forbidden_key(step: str | int) -> bool:
    """A key no template may read: `__class__`, `__proto__` and every other `__` name."""
    return isinstance(step, str) and step.startswith("__")


def parse_ref(expression: str) -> Ref:
    text = expression.strip()
    head = _HEAD.fullmatch(text)
    if head is None or head.group(1) not in _NAMESPACES:
        return Ref(text, head.group(1) if head else text, None)
    namespace, rest = head.groups()
    steps: list[str | int] = []
    position = 0
    for match in _STEP.finditer(rest):
        if match.start() != position:
            return Ref(text, namespace, None)
        key, index = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    if position != len(rest):
        return Ref(text, namespace, None)
    forbidden = next((step for step in steps if forbidden_key(step)), None)
    if forbidden is not None:
        return Ref(text, namespace, None, f"{forbidden!r}: keys starting with '__' never resolve")
    return Ref(text, namespace, tuple(steps))


def to_text(value: Any) -> str:
    """T2: strings as they are, every other JSON value as compact JSON."""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Template:
    """A compiled template: `parts` alternates literal text and references."""

    __slots__ = ("parts", "refs", "single", "text")

    def __init__(self, text: str):
        self.text = text
        parts: list[str | Ref] = []
        position = 0
        for match in _EXPRESSION.finditer(text):
            if match.start() > position:
                parts.append(text[position : match.start()])
            parts.append(parse_ref(match.group(1)))
            position = match.end()
        if position < len(text):
            parts.append(text[position:])
        self.parts = tuple(parts)
        self.refs = tuple(part for part in parts if isinstance(part, Ref))
        self.single = self.refs[0] if len(self.parts) == 1 and self.refs else None

    def render(self, sample: Sample | None, item: Any) -> str:
        if self.single is not None:
            return to_text(self.single.resolve(sample, item))
        if not self.refs:
            return self.text
        return "".join(
            part if isinstance(part, str) else to_text(part.resolve(sample, item))
            for part in self.parts
        )


@lru_cache(maxsize=4096)
def compile_template(text: str) -> Template:
    return Template(text)


def render(text: str, sample: Sample | None, item: Any) -> str:
    """Render one template string against a sample and an item (the whole dataset row)."""
    return compile_template(text).render(sample, item)
