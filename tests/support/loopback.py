"""A real HTTP server on 127.0.0.1 for tests: any ASGI app, served by uvicorn in a thread."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import uvicorn

from openrft.demo.server import free_port

__all__ = ["free_port", "serve", "wait_healthy"]


@contextmanager
def serve(app: Any, *, lifespan: str = "off", stop_timeout: float = 10) -> Iterator[str]:
    """Serve `app` on loopback; yields its base URL (`http://127.0.0.1:PORT`).

    `lifespan="on"` runs the app's startup and shutdown (the openrft server's job worker)."""
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan=lifespan
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("loopback server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=stop_timeout)


def wait_healthy(port: int, process: subprocess.Popen[bytes], bound: float = 30) -> None:
    """Wait until an `openrft serve` subprocess on `port` answers `/health`; fail if it dies
    or takes longer than `bound` seconds."""
    deadline = time.monotonic() + bound
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health").raise_for_status()
            return
        except httpx.HTTPError:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.1)
