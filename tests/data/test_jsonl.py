"""The strict JSONL reader (decision D1; hostile inputs of Part D 25, 27, 28)."""

from __future__ import annotations

import io
import json
import tracemalloc
from pathlib import Path

import pytest

from openrft.data.jsonl import iter_jsonl, scan_jsonl
from openrft.errors import DataFileError

ROW = b'{"messages": [{"role": "user", "content": "hi"}], "answer": "4"}'


def read(data: bytes, **options: int) -> list[tuple[int, dict]]:
    return list(iter_jsonl(io.BytesIO(data), path_label="t.jsonl", **options))


def error_of(data: bytes, **options: int) -> DataFileError:
    with pytest.raises(DataFileError) as caught:
        read(data, **options)
    return caught.value


def test_plain_rows_with_line_numbers() -> None:
    assert read(ROW + b"\n" + b'{"b": 2}\n') == [(1, json.loads(ROW)), (2, {"b": 2})]


def test_bom_crlf_blank_lines_and_missing_final_newline_are_tolerated() -> None:
    data = b"\xef\xbb\xbf" + ROW + b"\r\n\r\n   \n\n" + b'{"b": 2}'
    assert [line for line, _ in read(data)] == [1, 5]


def test_u2028_inside_a_string_does_not_split_the_record() -> None:
    data = '{"a": "one\u2028two\u2029three"}\n{"b": 1}\n'.encode()
    assert read(data) == [(1, {"a": "one\u2028two\u2029three"}), (2, {"b": 1})]


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"a": NaN}', "NaN is not valid JSON"),
        (b'{"a": Infinity}', "Infinity is not valid JSON"),
        (b'{"a": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"a": 1e999}', "number 1e999 is out of range"),
        (b'{"messages": [], "messages": []}', "duplicate key 'messages'"),
        (b'{"a": {"x": 1, "x": 2}}', "duplicate key 'x'"),
        (b'{"a": "\\ud800"}', "lone surrogate \\ud800 in a string"),
        (b'{"a": "x\\udc00y"}', "lone surrogate \\udc00 in a string"),
        (b'{"a": "x\\u0000y"}', "NUL character (\\u0000) in a string"),
        (b'{"a": "x\x00y"}', "NUL byte in the line"),
        (b"[" * 100_000, "nesting deeper than 64 levels"),
        (b'{"a":' * 2000, "nesting deeper than 64 levels"),
        (b'{"a": ' + b"[" * 64 + b"]" * 64 + b"}", "nesting deeper than 64 levels"),
        (b'{"a": ' + b"9" * 5000 + b"}", "integer with more than 4300 digits"),
        (b'{"a": "caf\xe9"}', "invalid UTF-8 at byte 11"),
        (b'{"a": "\xed\xa0\x80"}', "invalid UTF-8 at byte 8"),  # a surrogate encoded in UTF-8
        (b"[1, 2]", "expected a JSON object, got an array"),
        (b"42", "expected a JSON object, got a number"),
        (b'"text"', "expected a JSON object, got a string"),
        (b"null", "expected a JSON object, got null"),
        (b'{"a": 1} {"b": 2}', "invalid JSON: Extra data at column 10"),
        (b'{"a": 1,}', "invalid JSON: Expecting property name"),
        (b'{"a": "tab\there"}', "invalid JSON: Invalid control character"),
    ],
)
def test_each_hostile_line_is_rejected_with_its_line_and_reason(line: bytes, reason: str) -> None:
    error = error_of(ROW + b"\n" + line + b"\n" + ROW)
    assert error.line == 2
    assert error.path == "t.jsonl"
    assert error.reason.startswith(reason)
    assert error.message.startswith("t.jsonl:2: ")


@pytest.mark.parametrize(
    "line",
    [
        b'{"a": "\\ud83d\\ude00"}',  # a surrogate pair is one character
        b'{"a": "x\\\\u0000"}',  # an escaped backslash, then the text "u0000"
        b'{"a": "[[[[[[[[[[' + b"[" * 100 + b'"}',  # brackets inside a string do not nest
        b'{"a": ' + b"[" * 63 + b"]" * 63 + b"}",  # 64 levels is the limit, not over it
        b'{"a": ' + b"9" * 4300 + b"}",
        b'{"a": 1.5e300, "b": -0.0, "c": null}',
    ],
)
def test_edge_cases_that_are_valid(line: bytes) -> None:
    assert len(read(line)) == 1


@pytest.mark.parametrize(
    "data",
    [
        '{"a": 1}\n{"b": 2}\n'.encode("utf-16"),
        '{"a": 1}\n'.encode("utf-16-le"),
        '{"a": 1}\n'.encode("utf-16-be"),
        '{"a": 1}\n'.encode("utf-32"),
    ],
)
def test_utf16_file_gets_one_clear_message(data: bytes) -> None:
    error = error_of(data)
    assert "UTF-16" in error.reason and "save it as UTF-8" in error.reason
    assert error.line is None


def test_line_cap_is_settable() -> None:
    error = error_of(ROW + b"\n" + b'{"a": "' + b"x" * 200 + b'"}\n' + ROW, max_line_bytes=100)
    assert error.line == 2 and "100 byte limit" in error.reason
    rows, errors = scan_jsonl(
        io.BytesIO(ROW + b"\n" + b"x" * 101 + b"\n" + ROW), max_line_bytes=100
    )
    assert [line for line, _ in rows] == [1, 3] and [e.line for e in errors] == [2]


def test_line_exactly_at_the_cap_is_read(tmp_path: Path) -> None:
    line = b'{"a": "' + b"x" * (100 - 9) + b'"}'
    assert len(line) == 100
    assert len(read(line + b"\r\n", max_line_bytes=100)) == 1
    assert len(read(line, max_line_bytes=100)) == 1


def test_100mb_line_is_rejected_in_constant_memory(tmp_path: Path) -> None:
    """Part D 25: the over-long line is skipped in chunks; the next line is still read."""
    path = tmp_path / "huge.jsonl"
    chunk = b"x" * (1 << 20)
    with path.open("wb") as out:
        out.write(b'{"a": "')
        for _ in range(100):
            out.write(chunk)
        out.write(b'"}\n' + ROW + b"\n")
    del chunk
    tracemalloc.start()
    try:
        rows, errors = scan_jsonl(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [error.line for error in errors] == [1]
    assert "1048576 byte limit" in errors[0].reason
    assert [line for line, _ in rows] == [2]
    assert peak < 4 * (1 << 20), f"peak {peak} bytes"


def test_iter_stops_at_the_first_error_and_scan_collects_all() -> None:
    data = b"\n".join([ROW, b"{bad", ROW, b"[]", b'{"a": NaN}', ROW])
    assert error_of(data).line == 2
    rows, errors = scan_jsonl(io.BytesIO(data))
    assert [line for line, _ in rows] == [1, 3, 6]
    assert [error.line for error in errors] == [2, 4, 5]
    _, capped = scan_jsonl(io.BytesIO(data), max_errors=2)
    assert len(capped) == 2


def test_paths_and_streams_are_both_sources(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    path.write_bytes(ROW + b"\n{")
    with pytest.raises(DataFileError, match=r"rows.jsonl:2: invalid JSON"):
        list(iter_jsonl(path))
    with pytest.raises(DataFileError, match=r"rows.jsonl:2:"):
        list(iter_jsonl(str(path)))
    with path.open("rb") as stream:
        assert next(iter_jsonl(stream))[0] == 1


def test_empty_input_has_no_rows() -> None:
    assert read(b"") == [] and read(b"\n\n\r\n") == []


def test_missing_file_or_directory_is_a_data_file_error(tmp_path: Path) -> None:
    with pytest.raises(DataFileError, match="no such file"):
        list(iter_jsonl(tmp_path / "nope.jsonl"))
    with pytest.raises(DataFileError, match="is a directory"):
        list(iter_jsonl(tmp_path))


def test_importing_the_data_and_store_packages_does_not_import_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, openrft.data.lint, openrft.data.split, openrft.store.files, openrft.cli.data;"
        "print('torch' in sys.modules)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
