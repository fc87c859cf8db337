"""What "the same prompt" means, shared by splitting and the lint.

Two rows hold the same prompt when their messages are equal after normalising each content
(casefold, punctuation removed, whitespace collapsed) and reading `system` as `developer`.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

__all__ = ["message_text", "normalize", "prompt_chars", "prompt_key", "tokens", "user_text"]

_PUNCTUATION = re.compile(r"[^\w\s]+")
# The ASCII fast path of _PUNCTUATION (`_` is a word character, so it stays).
_ASCII_PUNCTUATION = str.maketrans(
    "", "", "".join(c for c in map(chr, range(128)) if not (c.isalnum() or c.isspace() or c == "_"))
)


def tokens(text: str) -> list[str]:
    """Casefolded words with punctuation removed."""
    folded = text.casefold()
    if folded.isascii():
        return folded.translate(_ASCII_PUNCTUATION).split()
    return _PUNCTUATION.sub("", folded).split()


def normalize(text: str) -> str:
    """Casefold, strip punctuation, collapse whitespace."""
    return " ".join(tokens(text))


def message_text(message: Any) -> str:
    """A message's text: a string content, or its text parts joined."""
    if not isinstance(message, dict):
        return ""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            part["text"]
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return ""


def _messages(row: dict[str, Any]) -> list[Any]:
    messages = row.get("messages")
    return messages if isinstance(messages, list) else []


def prompt_key(row: dict[str, Any]) -> str:
    """A short digest equal for rows whose normalised messages are equal."""
    parts = []
    for message in _messages(row):
        role = message.get("role") if isinstance(message, dict) else None
        parts.append(("developer" if role == "system" else role, normalize(message_text(message))))
    encoded = json.dumps(parts, ensure_ascii=False).encode("utf-8", "surrogatepass")
    return hashlib.blake2b(encoded, digest_size=16).hexdigest()


def user_text(row: dict[str, Any]) -> str:
    """The text that varies between rows: developer/system messages are usually one shared
    instruction, which would make every pair of rows look alike to a near-duplicate check."""
    return "\n".join(
        message_text(message)
        for message in _messages(row)
        if not (isinstance(message, dict) and message.get("role") in ("developer", "system"))
    )


def prompt_chars(row: dict[str, Any]) -> int:
    """The prompt's length in characters: every message's text."""
    return sum(len(message_text(message)) for message in _messages(row))
