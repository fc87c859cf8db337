"""Run `openrft serve` as a child process on a free loopback port, for the demo."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from openrft.errors import OpenRFTError


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def local_server(
    home: Path, *, timeout: float = 120.0, base_models: tuple[str, ...] = ()
) -> Iterator[str]:
    """Start the server with `home` as OPENRFT_HOME (and `base_models` allowed besides
    openrft-tiny); yields its `/v1` base URL; stops it after."""
    port = free_port()
    log = (home / "server.log").open("w")
    env = {**os.environ, "OPENRFT_HOME": str(home)}
    env.pop("OPENRFT_API_KEYS", None)  # the demo's server is loopback-only, without keys
    command = [sys.executable, "-m", "openrft.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--home", str(home)]
    command += [arg for name in base_models for arg in ("--base-model", name)]
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", process, home, timeout)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def _wait_healthy(base: str, process: subprocess.Popen[bytes], home: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise OpenRFTError(f"the server exited at start; see {home / 'server.log'}")
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise OpenRFTError(f"the server did not answer /health within {timeout:.0f} s")
