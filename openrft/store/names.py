"""Client-supplied filenames, made safe to show (never to use as a path).

Kept: the last path component, printable characters. Dropped: directories (`../../etc/passwd`
shows as `passwd`), control and format characters (NUL, newlines, bidi overrides), lone
surrogates. Capped at 255 characters, keeping a short extension so `.jsonl` still shows.
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_NAME_CHARS", "display_name"]

MAX_NAME_CHARS = 255
_DROPPED = ("Cc", "Cf", "Cs", "Co", "Cn")


def display_name(filename: str | None) -> str:
    name = (filename or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(char for char in name if unicodedata.category(char) not in _DROPPED).strip()
    if name in ("", ".", ".."):
        return "upload"
    return _truncate(name)


def _truncate(name: str) -> str:
    if len(name) <= MAX_NAME_CHARS:
        return name
    stem, dot, extension = name.rpartition(".")
    if dot and stem and len(extension) <= 16:
        return name[: MAX_NAME_CHARS - len(extension) - 1] + "." + extension
    return name[:MAX_NAME_CHARS]
