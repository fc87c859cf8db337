"""Atomic writes (`openrft.store.atomic`): a crash or an error mid-write leaves the old content,
whole, and no partial file under the destination's name."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from openrft.store.atomic import atomic_dir, atomic_file

OLD = '{"row": "old"}\n'


def test_a_reader_sees_the_old_file_until_the_write_completes(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    target.write_text(OLD)
    with atomic_file(target) as out:
        out.write("new 1\n")
        out.flush()
        assert target.read_text() == OLD
        out.write("new 2\n")
    assert target.read_text() == "new 1\nnew 2\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_an_error_mid_write_keeps_the_old_file_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "rows.jsonl"
    target.write_text(OLD)
    with pytest.raises(RuntimeError), atomic_file(target) as out:
        out.write("half a row")
        raise RuntimeError("disk trouble")
    assert target.read_text() == OLD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]


def test_a_killed_writer_leaves_the_old_file_whole(tmp_path: Path) -> None:
    """`kill -9` in the middle of a write: the destination is the old file, byte for byte;
    only a dot-named temp file (which sweeps remove) holds the partial content."""
    target = tmp_path / "rows.jsonl"
    target.write_text(OLD)
    script = textwrap.dedent(
        f"""
        import os, sys
        from pathlib import Path
        from openrft.store.atomic import atomic_file
        with atomic_file(Path({str(target)!r})) as out:
            out.write("partial" * 1000)
            out.flush()
            print("writing", flush=True)
            sys.stdin.read()  # until killed
        """
    )
    child = subprocess.Popen(
        [sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "writing\n"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        assert child.stdin is not None
        child.stdin.close()
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    assert target.read_text() == OLD
    left = [p for p in tmp_path.iterdir() if p != target]
    assert len(left) == 1 and left[0].name.startswith(".tmp-")
    assert left[0].read_text() == "partial" * 1000


def test_a_directory_appears_whole_or_not_at_all(tmp_path: Path) -> None:
    dest = tmp_path / "models" / "m"
    with pytest.raises(RuntimeError), atomic_dir(dest) as tmp:
        (tmp / "config.json").write_text("{}")
        raise RuntimeError("conversion failed")
    assert not dest.exists() and list(dest.parent.iterdir()) == []
    with atomic_dir(dest) as tmp:
        (tmp / "config.json").write_text("{}")
        (tmp / "sub").mkdir()
        (tmp / "sub" / "weights").write_bytes(b"w")
        assert not dest.exists()
    assert (dest / "sub" / "weights").read_bytes() == b"w"
    assert dest.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in dest.parent.iterdir()] == ["m"]


def test_a_directory_never_replaces_one_another_writer_finished(tmp_path: Path) -> None:
    dest = tmp_path / "m"
    with atomic_dir(dest) as tmp:
        (tmp / "config.json").write_text("first")
    with pytest.raises(OSError), atomic_dir(dest) as tmp:
        (tmp / "config.json").write_text("second")
    assert (dest / "config.json").read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["m"]
