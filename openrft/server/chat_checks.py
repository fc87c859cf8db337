"""Checks on one chat request, made in the route before it joins a batch.

Everything that can make a single request fail is checked here: the messages, `tools`,
`response_format` (its schema is compiled), `stop` and `logit_bias`; and the token cap is
lowered to the model's context once the model is loaded (`token_cap`). So one bad request
is a 400 for its own client and never reaches the model call it would have shared with
others (a failed batch is re-run request by request, costing every neighbour a second model
call). Not checked here: a prompt longer than the context (that needs the tokenizer).
"""

from __future__ import annotations

import re
from typing import Any

from openrft.errors import InvalidRequestError
from openrft.models.structured import JsonAutomaton, schema_of
from openrft.server.json_body import nesting
from openrft.server.wire import ChatCompletionRequest

__all__ = ["check_chat", "token_cap"]

ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
FORMATS = frozenset({"text", "json_object", "json_schema"})
MAX_STOP = 4
MAX_SCHEMA_DEPTH = 64
"""JSON nesting of a `response_format` schema (as for dataset rows, decision D1)."""
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def check_chat(body: ChatCompletionRequest) -> None:
    """Raise `InvalidRequestError` (400, naming the parameter) for a request no model call
    could answer."""
    for index, message in enumerate(body.messages):
        _message(message, f"messages[{index}]")
    for index, tool in enumerate(body.tools or []):
        _tool(tool, f"tools[{index}]")
    if body.response_format is not None:
        _response_format(body.response_format)
    _stop(body.stop)
    _logit_bias(body.logit_bias)


def _bad(message: str, param: str) -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def _message(message: dict[str, Any], where: str) -> None:
    role = message.get("role")
    if role not in ROLES:
        raise _bad(f"{where}.role must be one of {sorted(ROLES)}, not {role!r}", f"{where}.role")
    content = message.get("content")
    if content is None and role in ("assistant", "tool", "function"):
        return
    if isinstance(content, str):
        return
    if not isinstance(content, list):
        raise _bad(f"{where}.content must be a string or a list of parts", f"{where}.content")
    for number, part in enumerate(content):
        _part(part, f"{where}.content[{number}]")


def _part(part: Any, where: str) -> None:
    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
        raise _bad(f"{where} must be an object with a `type`", where)
    if part["type"] == "text" and not isinstance(part.get("text"), str):
        raise _bad(f"{where}.text must be a string", f"{where}.text")


def _tool(tool: dict[str, Any], where: str) -> None:
    if tool.get("type") != "function" or not isinstance(tool.get("function"), dict):
        raise _bad(f"{where}: only function tools are supported", f"{where}.type")
    function = tool["function"]
    name = function.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        raise _bad(
            f"{where}.function.name must match [A-Za-z0-9_-]{{1,64}}", f"{where}.function.name"
        )
    if "parameters" in function and not isinstance(function["parameters"], dict):
        param = f"{where}.function.parameters"
        raise _bad(f"{param} must be a JSON Schema object", param)


def _response_format(response_format: dict[str, Any]) -> None:
    kind = response_format.get("type")
    if kind not in FORMATS:
        message = f"response_format.type must be one of {sorted(FORMATS)}, not {kind!r}"
        raise _bad(message, "response_format.type")
    if kind != "json_schema":
        return
    inner = response_format.get("json_schema", response_format)
    if not isinstance(inner, dict):
        raise _bad("response_format.json_schema must be an object", "response_format.json_schema")
    schema = schema_of(response_format)
    if nesting(schema) > MAX_SCHEMA_DEPTH:
        message = f"response_format schema is nested deeper than {MAX_SCHEMA_DEPTH} levels"
        raise _bad(message, "response_format")
    try:
        JsonAutomaton(schema or {})
    except (TypeError, AttributeError, ValueError) as exc:  # a schema of the wrong shapes
        message = f"response_format schema is not a usable JSON Schema: {exc}"
        raise _bad(message, "response_format") from None


def _stop(stop: str | list[str] | None) -> None:
    if isinstance(stop, list) and len(stop) > MAX_STOP:
        raise _bad(f"stop takes at most {MAX_STOP} sequences, not {len(stop)}", "stop")


def _logit_bias(bias: dict[str, float] | None) -> None:
    for token, value in (bias or {}).items():
        if not token.isdigit():
            raise _bad(f"logit_bias keys are token ids, not {token!r}", "logit_bias")
        if not -100 <= value <= 100:
            raise _bad(f"logit_bias values must be in [-100, 100], not {value}", "logit_bias")


def token_cap(body: ChatCompletionRequest, context: int | None) -> int | None:
    """The completion-token cap to generate with: the request's, lowered to the model's
    context when that is known (a judge written for a large hosted model asks for 32768
    tokens; a small local model stops at its context either way, so this is no error)."""
    cap = body.max_completion_tokens or body.max_tokens
    return cap if context is None or cap is None else min(cap, context)
