"""Loopback HTTP for the bench scripts: a minimal HTTP/1.1 keep-alive server that answers every
POST with JSON after a fixed delay, and a wait for it to listen.

Hand-rolled on asyncio rather than a web framework so that the server's own CPU (it shares the
host with what a bench measures) stays negligible. A bench runs it in a child process of its
own (`python bench/X.py --serve PORT`), so its event loop never competes with the client's."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

Answer = Callable[[bytes], bytes]
"""A request's JSON body -> the response's JSON body."""


def serve(port: int, delay: float, answer: Answer) -> None:
    """Serve on 127.0.0.1:`port` until killed; each answer comes `delay` seconds after its
    request."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    (
                        int(line.split(b":", 1)[1])
                        for line in head.split(b"\r\n")
                        if line.lower().startswith(b"content-length:")
                    ),
                    0,
                )
                body = await reader.readexactly(length)
                await asyncio.sleep(delay)
                payload = answer(body)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                    + f"content-length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def wait_for(port: int, what: str, deadline: float = 20.0) -> None:
    """Return once 127.0.0.1:`port` accepts a connection; `what` names it in the error."""
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not start within {deadline:g} s")
