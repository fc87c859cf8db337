"""The strict JSONL reader (decision D1).

Guarantees: the input is read as bytes and split on `\\n` only (so U+2028 inside a string never
splits a record); each line is strict UTF-8 holding exactly one JSON object. A UTF-8 BOM, CRLF
endings, blank lines and a last line without `\\n` are tolerated. `NaN`/`Infinity`, numbers out of
float range, duplicate keys, lone surrogates, NUL characters, nesting deeper than 64, integers
over 4300 digits and lines over `max_line_bytes` are errors. Memory stays bounded by
`max_line_bytes` whatever the input: an over-long line is skipped in chunks, never held whole.
Every error names its line. What it does not do: check RFT row rules (see `validate.py`).
"""

from __future__ import annotations

import json
import logging
import math
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from openrft.data.lines import TooLong, byte_lines, opened, source_label, utf16_reason
from openrft.errors import DataFileError

__all__ = ["MAX_DEPTH", "MAX_LINE_BYTES", "iter_jsonl", "iter_records", "parse_line", "scan_jsonl"]

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1 << 20
MAX_DEPTH = 64
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
# An escape is real only after an even number of backslashes ("\\u0000" is literal text).
_NUL_ESCAPE = re.compile(r"(?<!\\)(?:\\\\)*\\u0000")
_KINDS = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}


class _LineError(Exception):
    """A problem with one line; `parse_line` callers attach the path and line number."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    row = dict(pairs)
    if len(row) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _LineError(f"duplicate key {key!r}")
            seen.add(key)
    return row


def _constant(name: str) -> float:
    raise _LineError(f"{name} is not valid JSON (use a number or null)")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _LineError(f"number {text} is out of range")
    return value


_DECODER = json.JSONDecoder(object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float)
# The C scanner JSONDecoder itself uses; typeshed does not declare the attribute.
_SCAN: Callable[[str, int], tuple[Any, int]] = cast(Any, _DECODER).scan_once


def _too_deep(raw: bytes) -> bool:
    """Nesting check on bytes, before `json.loads` (whose C scanner hits RecursionError)."""
    if raw.count(b"[") + raw.count(b"{") <= MAX_DEPTH:
        return False  # the common case: too few brackets to nest that deep
    depth = 0
    for byte in _STRING.sub(b"", raw).translate(None, delete=_NOT_BRACKETS):
        depth += 1 if byte in (0x5B, 0x7B) else -1
        if depth > MAX_DEPTH:
            return True
    return False


_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def _decode_text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _LineError(f"invalid UTF-8 at byte {exc.start + 1}") from None


def _check_strings(text: str, row: dict[str, Any]) -> None:
    """NUL characters and lone surrogates are valid JSON escapes but poison everything later
    (C strings, `.encode("utf-8")`); the cheap tests keep the common case free."""
    if "\\" not in text or "\\u" not in text:
        return
    if _NUL_ESCAPE.search(text):
        raise _LineError("NUL character (\\u0000) in a string")
    if "\\ud" in text or "\\uD" in text:
        try:
            json.dumps(row, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            point = ord(exc.object[exc.start])
            raise _LineError(f"lone surrogate \\u{point:04x} in a string") from None


def _decode_json(text: str) -> Any:
    """The C scanner directly (the fast path); `JSONDecoder.decode` only to explain a failure."""
    stripped = text.strip(" \t\r\n")
    try:
        value, end = _SCAN(stripped, 0)
        if end == len(stripped):
            return value
    except _LineError:
        raise
    except Exception:
        pass
    try:
        _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        raise _LineError(f"invalid JSON: {exc.msg} at column {exc.colno}") from None
    except ValueError as exc:  # CPython's int limit (CVE-2020-10735)
        if "digits" in str(exc):
            raise _LineError("integer with more than 4300 digits") from None
        raise _LineError(f"invalid JSON: {exc}") from None
    raise _LineError("invalid JSON")  # unreachable: the slow path fails where the fast one did


def parse_line(raw: bytes) -> dict[str, Any]:
    """One line (without its `\\n`) to a dict; raises `_LineError` with a reason."""
    if _too_deep(raw):
        raise _LineError(f"nesting deeper than {MAX_DEPTH} levels")
    text = _decode_text(raw)
    if "\x00" in text:
        raise _LineError("NUL byte in the line")
    row = _decode_json(text)
    if not isinstance(row, dict):
        kind = _KINDS.get(type(row), "a number")
        raise _LineError(f"expected a JSON object, got {kind}")
    _check_strings(text, row)
    return row


def _too_long_reason(size: int, max_line_bytes: int) -> str:
    return f"line is longer than the {max_line_bytes} byte limit (at least {size} bytes)"


def _records(
    source: str | Path | BinaryIO, max_line_bytes: int, label: str | None
) -> Iterator[tuple[int, dict[str, Any] | DataFileError]]:
    """Each line as a row or as its error; a whole-file error ends the file."""
    with opened(source) as stream:
        first = True
        for number, raw in byte_lines(stream, max_line_bytes):
            if first and isinstance(raw, bytes) and (reason := utf16_reason(raw[:4])):
                yield number, DataFileError(reason, path=label)
                return
            first = False
            if isinstance(raw, TooLong):
                reason = _too_long_reason(int(raw), max_line_bytes)
                yield number, DataFileError(reason, path=label, line=number)
                continue
            try:
                yield number, parse_line(raw)
            except _LineError as exc:
                yield number, DataFileError(str(exc), path=label, line=number)


def iter_jsonl(
    source: str | Path | BinaryIO,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    path_label: str | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield `(line_number, row)`; raise `DataFileError` at the first bad line."""
    for number, row in _records(source, max_line_bytes, source_label(source, path_label)):
        if isinstance(row, DataFileError):
            raise row
        yield number, row


def iter_records(
    source: str | Path | BinaryIO,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    path_label: str | None = None,
) -> Iterator[tuple[int, dict[str, Any] | DataFileError]]:
    """Yield `(line_number, row or its error)` for every line, going on past bad lines (a
    whole-file error, such as UTF-16, is the last)."""
    return _records(source, max_line_bytes, source_label(source, path_label))


def scan_jsonl(
    source: str | Path | BinaryIO,
    *,
    max_line_bytes: int = MAX_LINE_BYTES,
    path_label: str | None = None,
    max_errors: int = 100,
) -> tuple[list[tuple[int, dict[str, Any]]], list[DataFileError]]:
    """Read the whole file, collecting rows and up to `max_errors` errors (for reports)."""
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[DataFileError] = []
    for number, row in _records(source, max_line_bytes, source_label(source, path_label)):
        if not isinstance(row, DataFileError):
            rows.append((number, row))
        elif len(errors) < max_errors:
            errors.append(row)
        elif len(errors) == max_errors:
            log.info("more than %d errors in %s; the rest are not listed", max_errors, row.path)
    return rows, errors
