"""A job's tools: `method.reinforcement.tools = [{"name", "server_url", "headers"?}]`.

Azure's agentic RFT shape: each entry says where the function of that name is served; the
rows' `tools` (Chat Completions function schemas) are what the model sees. With tools, a
rollout is a multi-turn episode (`openrft.agent`) of at most `max_episode_steps` model turns.

What this module guarantees:
- `parse_tools` is the one check a job's tools get at the edge (the API route, `openrft
  train`'s job file): a 400 naming `method.reinforcement.tools[i].<field>` for a bad name, a
  duplicate, too many tools, a bad header, or a URL the outbound allow-list refuses
  (`openrft.outbound.check_url`). Its messages never quote a header's value.
- Header values are secrets. `redacted` is the only form of the tools that leaves the job
  spec (the stored method, the job object, events, the CLI's fingerprint); the values travel
  apart (`secrets` / `with_secrets`: the server keeps them in the store's `job_secrets`,
  never in the job's row, until the job finishes).
- `unserved_tool` is the job-start data check: in a job with tools, a row may offer the model
  only functions the job serves (else the model would call a tool nobody answers).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import Field

from openrft.errors import InvalidRequestError
from openrft.outbound import REDACTED, check_url, reject_redacted
from openrft.strict import Strict

__all__ = [
    "MAX_EPISODE_STEPS",
    "MAX_TOOLS",
    "REDACTED",
    "JobTool",
    "check_tools_format",
    "parse_tools",
    "redacted",
    "row_tool_names",
    "secrets",
    "unserved_tool",
    "with_secrets",
]

MAX_TOOLS = 128
"""As many as a Chat Completions request may offer."""
MAX_EPISODE_STEPS = 100
MAX_HEADERS = 32
MAX_HEADER_BYTES = 8192
PARAM = "method.reinforcement.tools"
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,256}")  # an HTTP token (RFC 9110)
_FIELDS = ("name", "server_url", "headers")


class JobTool(Strict):
    name: str = Field(pattern=_NAME.pattern)
    """The function's name, as the rows' `tools` and the model's calls spell it."""
    server_url: str
    """Where each call is POSTed (it passed the outbound allow-list at the edge)."""
    headers: dict[str, str] | None = Field(default=None, repr=False)
    """Sent with every call; secrets: shown as `***`, stored apart from the job (and
    left out of the model's repr, so a logged spec shows none)."""


def parse_tools(raw: Any, param: str = PARAM) -> list[JobTool]:
    """The job's tools, checked; a 400 naming the first bad field."""
    if not isinstance(raw, list):
        raise InvalidRequestError(f"'{param}' must be a list of tools", param=param)
    if len(raw) > MAX_TOOLS:
        raise InvalidRequestError(
            f"'{param}' has {len(raw)} tools; at most {MAX_TOOLS} are allowed", param=param
        )
    tools: list[JobTool] = []
    for index, entry in enumerate(raw):
        tool = _tool(entry, f"{param}[{index}]")
        clash = next((i for i, t in enumerate(tools) if t.name == tool.name), None)
        if clash is not None:
            raise InvalidRequestError(
                f"'{param}[{index}].name': duplicate tool name {tool.name!r} "
                f"({param}[{clash}] has it)",
                param=f"{param}[{index}].name",
            )
        tools.append(tool)
    return tools


def _tool(entry: Any, where: str) -> JobTool:
    if not isinstance(entry, dict):
        raise InvalidRequestError(
            f'\'{where}\' must be an object {{"name", "server_url", "headers"?}}', param=where
        )
    for key in entry:
        if key not in _FIELDS:
            raise InvalidRequestError(
                f"Unrecognized request argument supplied: {where}.{key}", param=f"{where}.{key}"
            )
    for key in ("name", "server_url"):
        if not isinstance(entry.get(key), str):
            raise InvalidRequestError(
                f"Missing required parameter: '{where}.{key}' (a string).", param=f"{where}.{key}"
            )
    if not _NAME.fullmatch(entry["name"]):
        raise InvalidRequestError(
            f"'{where}.name' must be 1-64 letters, digits, '_' or '-' (a function's name)",
            param=f"{where}.name",
        )
    check_url(entry["server_url"], param=f"{where}.server_url")
    headers = entry.get("headers")
    if headers is not None:
        _check_headers(headers, f"{where}.headers")
    return JobTool.model_validate(entry)


def _check_headers(headers: Any, where: str) -> None:
    """Names and sizes only: a value is never quoted back (it is a secret). A value that is
    the mask (`***`, copied from a job object) is refused, as an endpoint grader's is."""
    if not isinstance(headers, dict):
        raise InvalidRequestError(f"'{where}' must be an object of strings", param=where)
    if len(headers) > MAX_HEADERS:
        raise InvalidRequestError(f"'{where}' has more than {MAX_HEADERS} headers", param=where)
    for name, value in headers.items():
        if not _HEADER_NAME.fullmatch(name):
            raise InvalidRequestError(f"'{where}': {name[:64]!r} is not a header name", param=where)
        printable = isinstance(value, str) and value.isascii() and value.isprintable()
        if not printable or len(value) > MAX_HEADER_BYTES:
            raise InvalidRequestError(
                f"'{where}.{name}' must be a string of at most {MAX_HEADER_BYTES} printable "
                "ASCII characters (its value is not shown: headers are secrets)",
                param=f"{where}.{name}",
            )
    reject_redacted(headers, param=where)


def check_tools_format(tools: list[JobTool], response_format: Any, param: str) -> None:
    """Tool calls are free text in the model's own format: a job constrained to a JSON schema
    could never make one, so the two do not mix."""
    if tools and response_format is not None:
        raise InvalidRequestError(
            f"'{param}' cannot be combined with tools: an episode's turns must be free to "
            "call a tool; grade the final answer's JSON instead",
            param=param,
        )


def redacted(tools: list[JobTool]) -> list[dict[str, Any]]:
    """The tools as a job shows them: each header's name, never its value."""
    return [
        {
            "name": tool.name,
            "server_url": tool.server_url,
            **({"headers": dict.fromkeys(tool.headers, REDACTED)} if tool.headers else {}),
        }
        for tool in tools
    ]


def secrets(tools: list[JobTool]) -> dict[str, dict[str, str]]:
    """Tool name -> its headers, for the tools that have any."""
    return {tool.name: dict(tool.headers) for tool in tools if tool.headers}


def with_secrets(tools: list[JobTool], values: dict[str, dict[str, str]]) -> list[JobTool]:
    """`tools` (as stored: values redacted) with their header values put back; a header whose
    value is missing is an error, never sent as the mask."""
    out = []
    for tool in tools:
        if not tool.headers:
            out.append(tool)
            continue
        given = values.get(tool.name, {})
        missing = sorted(set(tool.headers) - set(given))
        if missing:
            raise InvalidRequestError(
                f"the value of tool {tool.name!r}'s header {missing[0]!r} is missing "
                "(the job's secrets were lost)",
                param=f"{PARAM}.headers",
                code="tool_secrets_missing",
            )
        out.append(tool.model_copy(update={"headers": {k: given[k] for k in tool.headers}}))
    return out


def row_tool_names(row: dict[str, Any]) -> list[str]:
    """The function names a row offers the model (its `tools`)."""
    tools = row.get("tools") or []
    return [t["function"]["name"] for t in tools if isinstance(t, dict) and "function" in t]


def unserved_tool(tools: list[JobTool], rows: list[tuple[int, dict[str, Any]]]) -> str | None:
    """In a job with tools, why a row may not be trained on: it offers the model a function
    no job tool serves (`line N: ...`); None when every row is served, or without tools."""
    if not tools:
        return None  # rows' tools are parsed from a single answer, as without episodes
    served = {tool.name for tool in tools}
    for number, row in rows:
        for name in row_tool_names(row):
            if name not in served:
                return (
                    f"line {number}: the row offers the tool {name!r}, which no entry of "
                    f'{PARAM} serves (add {{"name": {json.dumps(name)}, "server_url": ...}} '
                    "to the job's tools, or take it out of the row's tools)"
                )
    return None
