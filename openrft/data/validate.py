"""RFT row rules (decision D2) and file validation for the job layer.

A row is `{"messages": [...], "tools": [...]?, <any other key>: <data for item>}`. Messages are
checked for shape (roles, last message from the user), tools for Chat Completions' function
shape; every other key is left alone. `system` is accepted and means `developer`. What this does
not do: check message contents against a model's context window, or the grader (see `refs.py`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, Literal

from openrft.data.jsonl import MAX_LINE_BYTES, iter_jsonl, scan_jsonl
from openrft.errors import DataFileError

__all__ = [
    "MAX_TRAIN_ROWS",
    "MAX_VALID_ROWS",
    "ROLES",
    "iter_valid_rows",
    "limit_problem",
    "row_problem",
    "scan_file",
    "validate_file",
    "validate_rows",
]

MAX_TRAIN_ROWS = 50_000
MAX_VALID_ROWS = 1_000
ROLES = ("developer", "system", "user", "assistant", "tool")
Split = Literal["train", "valid"]
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")


def _content_problem(message: dict[str, Any], where: str) -> str | None:
    content = message.get("content")
    if isinstance(content, str):
        return None
    if isinstance(content, list) and all(isinstance(part, dict) for part in content):
        return None
    if content is None and message.get("role") == "assistant" and message.get("tool_calls"):
        return None  # an assistant turn that only calls tools
    return f"{where}: 'content' must be a string or a list of content parts"


def _message_problem(message: Any, index: int) -> str | None:
    where = f"messages[{index}]"
    if not isinstance(message, dict):
        return f"{where} must be an object with 'role' and 'content'"
    role = message.get("role")
    if role not in ROLES:
        return f"{where}: role {role!r} is not one of {', '.join(ROLES)}"
    return _content_problem(message, where)


def _messages_problem(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty list"
    for index, message in enumerate(messages):
        if problem := _message_problem(message, index):
            return problem
    last = messages[-1].get("role")
    if last != "user":
        return f"the last message must be from the user (it is {last!r}); the model answers it"
    return None


def _tool_problem(tool: Any, index: int) -> str | None:
    where = f"tools[{index}]"
    if not isinstance(tool, dict) or tool.get("type") != "function":
        return f'{where} must be {{"type": "function", "function": {{"name": ...}}}}'
    function = tool.get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return f"{where}.function must be an object with a 'name'"
    if not _TOOL_NAME.fullmatch(function["name"]):
        return f"{where}.function.name must be 1-64 letters, digits, '_' or '-'"
    if "parameters" in function and not isinstance(function["parameters"], dict):
        return f"{where}.function.parameters must be a JSON Schema object"
    return None


def _tools_problem(tools: Any) -> str | None:
    if not isinstance(tools, list):
        return "'tools' must be a list of tool definitions"
    for index, tool in enumerate(tools):
        if problem := _tool_problem(tool, index):
            return problem
    return None


def row_problem(row: dict[str, Any]) -> str | None:
    """The first thing wrong with one RFT row, as a sentence, or None."""
    if "messages" not in row:
        return "missing 'messages' (a list of chat messages ending with a user message)"
    if problem := _messages_problem(row["messages"]):
        return problem
    if "tools" in row:
        return _tools_problem(row["tools"])
    return None


def _limit(split: Split, max_rows: int | None) -> int:
    if max_rows is not None:
        return max_rows
    return MAX_TRAIN_ROWS if split == "train" else MAX_VALID_ROWS


def limit_problem(count: int, split: Split, max_rows: int | None = None) -> str | None:
    limit = _limit(split, max_rows)
    if count > limit:
        name = "training" if split == "train" else "validation"
        return f"{count} rows is more than the {limit} allowed in a {name} file"
    return None


def validate_rows(
    rows: Iterable[tuple[int, dict[str, Any]]], *, path: str | None = None
) -> list[DataFileError]:
    """Every row problem, each naming its line."""
    return [
        DataFileError(problem, path=path, line=number)
        for number, row in rows
        if (problem := row_problem(row))
    ]


def iter_valid_rows(
    source: str | Path | BinaryIO,
    *,
    split: Split = "train",
    max_rows: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    path_label: str | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Stream `(line, row)` for rows that pass; raise `DataFileError` at the first problem."""
    limit = _limit(split, max_rows)
    label = path_label or _name(source)
    rows = iter_jsonl(source, max_line_bytes=max_line_bytes, path_label=label)
    for count, (number, row) in enumerate(rows, 1):
        if problem := row_problem(row):
            raise DataFileError(problem, path=label, line=number)
        if count > limit:
            raise DataFileError(f"more than the {limit} rows allowed", path=label, line=number)
        yield number, row


def validate_file(
    source: str | Path | BinaryIO,
    *,
    split: Split = "train",
    max_rows: int | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
    path_label: str | None = None,
) -> list[dict[str, Any]]:
    """Read and check a whole RFT file: its rows, or `DataFileError` at the first problem."""
    label = path_label or _name(source)
    rows = [
        row
        for _, row in iter_valid_rows(
            source, split=split, max_rows=max_rows, max_line_bytes=max_line_bytes, path_label=label
        )
    ]
    if not rows:
        raise DataFileError("the file has no rows", path=label)
    return rows


def _name(source: str | Path | BinaryIO) -> str | None:
    return str(source) if isinstance(source, str | Path) else getattr(source, "name", None)


def scan_file(
    source: str | Path | BinaryIO, *, path_label: str | None = None, max_errors: int = 100
) -> tuple[list[tuple[int, dict[str, Any]]], list[DataFileError]]:
    """Like `scan_jsonl`, with row rules: the good rows and up to `max_errors` problems."""
    label = path_label or _name(source)
    parsed, errors = scan_jsonl(source, path_label=label, max_errors=max_errors)
    problems = validate_rows(parsed, path=label)
    bad = {error.line for error in problems}
    good = [(number, row) for number, row in parsed if number not in bad]
    merged = sorted(errors + problems, key=lambda error: error.line or 0)
    return good, merged[:max_errors]
