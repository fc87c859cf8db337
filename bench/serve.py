"""Chat-completions serving: batching gain and per-request server overhead, in the same run.

    .venv/bin/python bench/serve.py [--requests 96] [--clients 16] [--max-tokens 16]

On `openrft-tiny` (built once under a temp OPENRFT_HOME), greedy decoding so every setup does
the same work; the server is `openrft serve` in its own process, the real model backend:
- paired, request by request: `chat_completions(loaded, [request])` in this process, then
  the same request through the server with one SDK client. Overhead per request = the median
  of (server latency - in-process latency); pairing cancels drift from other load on the host;
- `clients` concurrent async SDK clients working through all the requests (server batching);
- in-process, all `clients` requests in one `chat_completions` call (the model's own ceiling).
Target (issue 7): N-client throughput >= 3x the 1-client throughput.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from openai import AsyncOpenAI, OpenAI

from openrft.demo import task
from openrft.models.generate import ChatRequest, chat_completions
from openrft.models.registry import load_model

Messages = list[dict[str, Any]]


@contextmanager
def server(home: Path) -> Iterator[str]:
    """`openrft serve` on a free loopback port; yields its /v1 base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    command = [
        sys.executable,
        "-m",
        "openrft.cli",
        "serve",
        "--port",
        str(port),
        "--home",
        str(home),
    ]
    env = {key: value for key, value in os.environ.items() if key != "OPENRFT_API_KEYS"}
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health").raise_for_status()
                break
            except httpx.HTTPError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("openrft serve did not start") from None
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=30)


def batching(url: str) -> dict[str, Any]:
    stats: dict[str, Any] = httpx.get(url + "/health").json()["batching"]["openrft-tiny"]
    return stats


def paired(
    url: str, loaded: Any, prompts: list[Messages], tokens: int
) -> tuple[list[float], list[float]]:
    """Per-request seconds (in-process, server) for the same requests, alternating."""
    local, remote = [], []
    with OpenAI(base_url=url, api_key="bench", max_retries=0) as sdk:
        for messages in [prompts[0], *prompts]:  # the first pair warms both paths up
            start = time.perf_counter()
            chat_completions(loaded, [ChatRequest(messages, max_tokens=tokens, temperature=0)])
            middle = time.perf_counter()
            sdk.chat.completions.create(model="openrft-tiny", messages=messages,  # type: ignore[arg-type]
                                        max_tokens=tokens, temperature=0)  # fmt: skip
            local.append(middle - start)
            remote.append(time.perf_counter() - middle)
    return local[1:], remote[1:]


async def concurrent(url: str, prompts: list[Messages], tokens: int, clients: int) -> float:
    """Seconds for `clients` concurrent clients to get through all the requests."""
    queue: asyncio.Queue[Messages] = asyncio.Queue()
    for messages in prompts:
        queue.put_nowait(messages)

    async def client(sdk: AsyncOpenAI) -> None:
        while not queue.empty():
            await sdk.chat.completions.create(model="openrft-tiny", messages=queue.get_nowait(),  # type: ignore[arg-type]
                                              max_tokens=tokens, temperature=0)  # fmt: skip

    async with AsyncOpenAI(base_url=url, api_key="bench", max_retries=0) as sdk:
        start = time.perf_counter()
        await asyncio.gather(*[client(sdk) for _ in range(clients)])
        return time.perf_counter() - start


def one_call(loaded: Any, prompts: list[Messages], tokens: int) -> float:
    start = time.perf_counter()
    chat_completions(loaded, [ChatRequest(m, max_tokens=tokens, temperature=0) for m in prompts])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=96)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=16)
    args = parser.parse_args()
    prompts = [row["messages"] for row in task.make_rows(args.requests, seed=11)]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        loaded = load_model("openrft-tiny", home=home)
        with server(home) as url:
            local, remote = paired(url + "/v1", loaded, prompts, args.max_tokens)
            before = batching(url)
            elapsed = asyncio.run(concurrent(url + "/v1", prompts, args.max_tokens, args.clients))
            after = batching(url)
        ceiling = one_call(loaded, prompts[: args.clients], args.max_tokens)
    single, serial = statistics.mean(local), statistics.mean(remote)
    overhead = statistics.median(b - a for a, b in zip(local, remote, strict=True))
    rows = [
        ("in-process, 1 request per call", 1 / single, single * 1000),
        ("server, 1 client (sequential)", 1 / serial, serial * 1000),
        (f"server, {args.clients} concurrent clients", args.requests / elapsed, None),
        (
            f"in-process, {args.clients} requests in one call",
            args.clients / ceiling,
            ceiling * 1000,
        ),
    ]
    print(f"{'setup':44} {'req/s':>8} {'ms/call':>8}")
    for name, rate, ms in rows:
        print(f"{name:44} {rate:8.1f} {'' if ms is None else f'{ms:8.1f}':>8}")
    print(f"batching gain, {args.clients} clients vs 1: {args.requests / elapsed * serial:.2f}x")
    print(f"server overhead per request (median of pairs): {overhead * 1000:.2f} ms")
    calls = after["batches"] - before["batches"]
    print(f"concurrent phase: {args.requests} requests in {calls} model calls "
          f"(mean batch {args.requests / calls:.1f}, largest {after['largest']})")  # fmt: skip


if __name__ == "__main__":
    main()
