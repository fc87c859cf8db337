"""The checks every JSON request body passes before any route parses it (`RequestMiddleware`).

Guarantees: a body a route sees is UTF-8 (RFC 8259 §8.1: JSON exchanged between systems MUST
be UTF-8; a UTF-16 or UTF-32 body is a 400 saying so, not guessed at; a UTF-8 BOM is
tolerated), nests at most `MAX_DEPTH` arrays and objects, and holds no lone UTF-16 surrogate
escape (`"\\ud800"` is valid JSON, but no UTF-8 encoder, tokenizer or SQLite text accepts it).
Deeper bodies made the JSON scanner, pydantic and jsonschema recurse without bound (500s, and a
generation thread that never came back); surrogates hung chat and embeddings. The bound is
twice a JSONL row's (`openrft.data.jsonl.MAX_DEPTH`), so a valid row still fits inline in a
request. What it does not do: say whether the body is JSON at all (the route's parser answers
that, as a 400), or look at multipart uploads (the file reader checks those).
"""

from __future__ import annotations

import json
import re

from openrft.data.jsonl import MAX_DEPTH as ROW_DEPTH
from openrft.errors import InvalidRequestError

__all__ = ["MAX_DEPTH", "check_json_body", "is_json", "nesting"]

MAX_DEPTH = 2 * ROW_DEPTH
_BOM = b"\xef\xbb\xbf"
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def is_json(content_type: bytes | None) -> bool:
    """Bodies FastAPI parses as JSON: no content type, or a JSON one."""
    if not content_type:
        return True
    kind = content_type.split(b";")[0].strip().lower()
    return kind == b"application/json" or kind.endswith(b"+json")


def check_json_body(body: bytes) -> None:
    """Raises `InvalidRequestError` (400) for a body no route should have to parse."""
    body = body.removeprefix(_BOM)
    _check_utf8(body)
    if _too_deep(body):
        raise InvalidRequestError(
            f"The JSON body nests arrays and objects deeper than {MAX_DEPTH} levels."
        )
    if _SURROGATE_ESCAPE.search(body):
        _check_surrogates(body)


def _check_utf8(body: bytes) -> None:
    # JSON text outside a string is ASCII and a raw NUL is never valid JSON, so a NUL byte
    # means UTF-16 or UTF-32, which decodes as (wrong) UTF-8 without complaint.
    if body.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in body:
        raise InvalidRequestError(
            "The request body is UTF-16 or UTF-32; JSON bodies must be UTF-8 (RFC 8259 §8.1)."
        )
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidRequestError(
            f"The request body is not valid UTF-8 (at byte {exc.start}); JSON bodies must be "
            "UTF-8 (RFC 8259 §8.1)."
        ) from None


def _too_deep(body: bytes) -> bool:
    if body.count(b"[") + body.count(b"{") <= MAX_DEPTH:
        return False  # the common case: too few brackets to nest that deep
    depth = 0
    for byte in _STRING.sub(b"", body).translate(None, delete=_NOT_BRACKETS):
        depth += 1 if byte in b"[{" else -1
        if depth > MAX_DEPTH:
            return True
    return False


def _check_surrogates(body: bytes) -> None:
    """Only when the body has a surrogate escape at all: pairs are fine, a lone one is not."""
    try:
        value = json.loads(body)
    except (ValueError, RecursionError):
        return  # not JSON: the route's parser says so
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError as exc:
        point = ord(exc.object[exc.start])
        raise InvalidRequestError(
            f"The JSON body holds a lone UTF-16 surrogate (\\u{point:04x}) in a string; "
            "escape characters outside the Basic Multilingual Plane as surrogate pairs."
        ) from None


def nesting(value: object) -> int:
    """How deep arrays and objects nest in a parsed JSON value (0 for a scalar), found
    without recursion, since recursing is what deep input breaks."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            node = list(node.values())
        if isinstance(node, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in node)
    return deepest
