"""`openrft serve` binds its port before anything else: a busy or impossible port is one line
on stderr and exit code 2, with the home untouched (no store created or migrated, no worker)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest


def serve(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OPENRFT_HOME": str(home), "PYTHONWARNINGS": "ignore"}
    command = [sys.executable, "-m", "openrft.cli", "serve", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)


def test_a_busy_port_fails_before_the_store_or_worker(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve(tmp_path / "home", "--port", str(port))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith("openrft: error: ")
    assert f"port {port}" in lines[0] and "already in use" in lines[0] and "--port" in lines[0]
    assert not (tmp_path / "home").exists()  # no openrft.db, no files/, no jobs/
    assert "worker" not in result.stderr.lower() and result.stdout == ""


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_an_impossible_port_is_one_line(tmp_path: Path, port: str) -> None:
    result = serve(tmp_path / "home", f"--port={port}")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"openrft: error: --port {port}: a TCP port is 1 to 65535 (0: any free one)"
    )
    assert not (tmp_path / "home").exists()


def test_a_port_that_is_not_a_number_is_a_usage_error(tmp_path: Path) -> None:
    result = serve(tmp_path / "home", "--port", "abc")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "'--port'" in result.stderr
    assert not (tmp_path / "home").exists()
