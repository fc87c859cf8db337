"""Headless Chromium driven over the DevTools protocol, for tests that look at rendered pages.

The protocol runs over a pipe (`--remote-debugging-pipe`: commands in on fd 3, answers out on
fd 4, each a JSON object ended by a NUL byte), so no websocket library is needed. Every wait is
bounded; `close` kills the browser and its temporary profile, whatever state it is in.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

CANDIDATES = (
    "chromium-headless-shell",
    "chromium",
    "/usr/lib/chromium/chromium-headless-shell",
    "/usr/lib/chromium/headless_shell",
    "/usr/lib/chromium/chromium",
)
TIMEOUT = 20.0


def binary() -> str:
    """The Chromium to run; fails (never skips) with how to install one."""
    for name in CANDIDATES:
        found = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if found:
            return found
    raise AssertionError(
        "no headless Chromium found (looked for chromium-headless-shell, chromium on PATH and "
        "in /usr/lib/chromium): run scripts/install-system-deps.sh as root, or "
        "`apt-get install chromium-headless-shell`"
    )


class Browser:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="openrft-chromium-")
        to_chrome, self._in = _high(os.pipe())
        self._out, from_chrome = _high(os.pipe())
        # Chromium wants the pipe on fds 3 and 4; bash puts it there (from fds above 9, so
        # the first move cannot overwrite the second) and execs. Debian's command is a script
        # that runs the real binary as a child: the browser gets a process group of its own,
        # and `close` kills the group.
        argv = [binary(), "--headless", "--no-sandbox", "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}", "--disable-gpu", "--no-first-run",
                "--hide-scrollbars", "--font-render-hinting=none", "--mute-audio"]  # fmt: skip
        command = f'exec "$@" 3<&{to_chrome} 4>&{from_chrome}'
        self.process = subprocess.Popen(
            ["bash", "-c", command, "bash", *argv],
            pass_fds=(to_chrome, from_chrome),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        os.close(to_chrome)
        os.close(from_chrome)
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def send(self, method: str, params: dict[str, Any] | None = None, session: str = "") -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._in, json.dumps(message).encode() + b"\0")
        while True:
            reply = self._read()
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise AssertionError(f"{method}: {reply['error']}")
                return reply["result"]
            self.events.append(reply)

    def wait_event(self, method: str) -> dict[str, Any]:
        for event in self.events:
            if event.get("method") == method:
                self.events.remove(event)
                return event
        while True:
            event = self._read()
            if event.get("method") == method:
                return event
            self.events.append(event)

    def _read(self) -> dict[str, Any]:
        deadline = time.monotonic() + TIMEOUT
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self._out], [], [], max(0.0, left))
            if not ready:
                raise AssertionError(f"Chromium did not answer within {TIMEOUT:.0f} s")
            chunk = os.read(self._out, 1 << 20)
            if not chunk:
                raise AssertionError(f"Chromium exited (status {self.process.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        reply: dict[str, Any] = json.loads(message)
        return reply

    def open(self, page: Path) -> str:
        """A new tab at the viewport size showing `page` once loaded; returns its session."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        attached = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        session = str(attached["sessionId"])
        metrics = {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False}  # fmt: skip
        self.send("Emulation.setDeviceMetricsOverride", metrics, session)
        self.send("Page.enable", {}, session)
        self.send("Page.navigate", {"url": page.resolve().as_uri()}, session)
        self.wait_event("Page.loadEventFired")
        return session

    def evaluate(self, session: str, expression: str) -> Any:
        params = {"expression": expression, "returnByValue": True}
        result = self.send("Runtime.evaluate", params, session)
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def screenshot(self, session: str, scale: float = 1.0) -> bytes:
        """The viewport as PNG; `scale` < 1 shrinks it (cheap to decode here)."""
        params: dict[str, Any] = {"format": "png"}
        if scale != 1.0:
            clip = {"x": 0, "y": 0, "width": self.width, "height": self.height, "scale": scale}
            params["clip"] = clip
        shot = self.send("Page.captureScreenshot", params, session)
        return base64.b64decode(shot["data"])

    def close(self) -> None:
        for fd in (self._in, self._out):
            os.close(fd)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


def _high(fds: tuple[int, int]) -> tuple[int, int]:
    """The same pipe ends, moved to fds above 9."""
    moved = tuple(fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in fds)
    for fd in fds:
        os.close(fd)
    return moved[0], moved[1]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Width, height and RGB(A) rows of an 8-bit PNG (what Chromium writes), filters undone."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    chunks, at = {}, 8
    idat = b""
    while at < len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        body = data[at + 8 : at + 8 + size]
        chunks[kind] = body
        idat += body if kind == b"IDAT" else b""
        at += 12 + size
    width, height, depth, colour = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert depth == 8 and colour in (2, 6), (depth, colour)
    step = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * step
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        line = bytearray(raw[start + 1 : start + 1 + stride])
        _unfilter(raw[start], line, previous, step)
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def _unfilter(kind: int, line: bytearray, previous: bytearray, step: int) -> None:
    for i in range(len(line)):
        left = line[i - step] if i >= step else 0
        up = previous[i]
        corner = previous[i - step] if i >= step else 0
        if kind == 1:
            line[i] = (line[i] + left) & 0xFF
        elif kind == 2:
            line[i] = (line[i] + up) & 0xFF
        elif kind == 3:
            line[i] = (line[i] + (left + up) // 2) & 0xFF
        elif kind == 4:
            line[i] = (line[i] + _paeth(left, up, corner)) & 0xFF


def _paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c
