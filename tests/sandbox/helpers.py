"""Helpers for hostile-grader tests: run a probe, read back what it saw, count processes."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from openrft.sandbox import SandboxPool, Verdict

SAMPLE = {"output_text": "hello", "output_json": None, "output_tools": [], "choices": []}


async def run(
    pool: SandboxPool, source: str, item: Any = None, *, timeout: float = 5.0, **sample: Any
) -> Verdict:
    return await pool.grade(source, {**SAMPLE, **sample}, item or {}, timeout=timeout)


def probe_source(body: str) -> str:
    """A grader whose `probe(item)` result comes back through the exception detail."""
    return (
        "import json\n"
        + body
        + "\ndef grade(sample, item):\n"
        + "    raise RuntimeError('REPORT' + json.dumps(probe(item)))\n"
    )


async def probe(pool: SandboxPool, body: str, item: Any = None, timeout: float = 10.0) -> Any:
    verdict = await run(pool, probe_source(body), item, timeout=timeout)
    match = re.search(r"^RuntimeError: REPORT(.*)$", verdict.detail, re.MULTILINE)
    assert match, verdict
    return json.loads(match.group(1))


def uid_processes(uids: list[int]) -> list[int]:
    """Host pids whose real uid is one of `uids`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("Uid:") and int(line.split()[1]) in uids:
                found.append(int(entry.name))
    return found


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))
