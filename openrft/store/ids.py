"""Object ids in OpenAI's formats (spec §1.2), random and unguessable."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.ascii_letters + string.digits


def new_id(prefix: str, length: int = 24) -> str:
    """`prefix` + `length` base-62 characters from one read of the OS's CSPRNG (a chat
    completion makes one per request, so this is on the serving hot path)."""
    number = int.from_bytes(secrets.token_bytes(length * 6 // 8 + 1))
    chars = []
    for _ in range(length):
        number, digit = divmod(number, 62)
        chars.append(_ALPHABET[digit])
    return prefix + "".join(chars)


def new_hex_id(prefix: str) -> str:
    """`prefix` + 32 lowercase hex digits: the shape OpenAI gives eval, run and output-item
    ids (`eval_67abd54d…`)."""
    return prefix + secrets.token_hex(16)
