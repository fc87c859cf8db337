"""Lines of bytes from a file or stream, in memory bounded by the line cap.

Splits on `\\n` only; drops a UTF-8 BOM at the start, the `\\r` of CRLF endings and blank lines.
A line over the cap is never held whole: it is read and dropped in 64 KiB chunks up to its
`\\n`, and reported as `TooLong` so the reader can name it and go on with the next line.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from openrft.errors import DataFileError

__all__ = ["TooLong", "byte_lines", "opened", "source_label", "utf16_reason"]

_SKIP_CHUNK = 1 << 16
_BOM = b"\xef\xbb\xbf"


def utf16_reason(head: bytes) -> str | None:
    if head.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(head) > 1 and b"\x00" in head[:2]):
        return "file is UTF-16 (or UTF-32); save it as UTF-8"
    return None


class TooLong(int):
    """Marker for a line over the cap: its value is the bytes seen (at least the cap + 1)."""


def byte_lines(stream: BinaryIO, max_line_bytes: int) -> Iterator[tuple[int, bytes | TooLong]]:
    """(line number, line bytes without `\\n` and `\\r`), skipping blank lines."""
    number = 0
    while True:
        raw = stream.readline(max_line_bytes + 2)  # + "\r\n"
        if not raw:
            return
        number += 1
        if number == 1 and raw.startswith(_BOM):
            raw = raw[len(_BOM) :]
        if not raw.endswith(b"\n") and len(raw) > max_line_bytes:
            yield number, TooLong(len(raw) + _skip_line(stream))
            continue
        raw = raw.rstrip(b"\n").removesuffix(b"\r")
        if len(raw) > max_line_bytes:
            yield number, TooLong(len(raw))
        elif raw.strip():
            yield number, raw


def _skip_line(stream: BinaryIO) -> int:
    """Read and drop the rest of an over-long line in small chunks; returns the bytes dropped."""
    dropped = 0
    while chunk := stream.readline(_SKIP_CHUNK):
        dropped += len(chunk)
        if chunk.endswith(b"\n"):
            break
    return dropped


@contextmanager
def opened(source: str | Path | BinaryIO) -> Iterator[BinaryIO]:
    if isinstance(source, str | Path):
        try:
            stream = open(source, "rb")  # noqa: SIM115 - closed below, errors made readable
        except FileNotFoundError:
            raise DataFileError("no such file", path=str(source)) from None
        except IsADirectoryError:
            raise DataFileError("is a directory, expected a JSONL file", path=str(source)) from None
        with stream:
            yield stream
    else:
        yield source


def source_label(source: str | Path | BinaryIO, path_label: str | None) -> str | None:
    if path_label is not None:
        return path_label
    return str(source) if isinstance(source, str | Path) else getattr(source, "name", None)
