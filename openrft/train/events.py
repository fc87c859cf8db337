"""The runner's outside world: where events go (`EventSink`), who can stop it (`Control`), who
hears each validation's samples (`ValidationHook`) and the kept checkpoints (`CheckpointHook`).

Events are idempotent across resume: `Journal` appends every emitted event to `events.jsonl`
in the job's workdir (the job's own exactly-once record; `openrft train` reads it) and drops
an event whose key it has seen. A job killed
after step N's metrics went out re-runs step N from its last checkpoint and does not repeat
the event. The key is (type, step, message) for messages and (type, step) for metrics. An
event is emitted before it is journaled, so a kill in between can repeat one event; sinks
that must be exact dedupe on the same key (the job store does).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from openrft.train.outcome import KeptCheckpoint

EventType = Literal["message", "metrics"]
Level = Literal["info", "warn", "error"]
Command = Literal["cancel", "pause"]


class EventSink(Protocol):
    def emit(
        self,
        type: EventType,
        level: Level,
        message: str,
        data: dict[str, Any] | None = None,
        step: int | None = None,
    ) -> None: ...


class ValidationHook(Protocol):
    """Told each validation's samples: (step, [(row, sample, grade, completion tokens)]) and,
    for a job with an `eval_grader`, each sample's eval grade; the server's job child writes
    them as a run of the job's eval (`openrft.jobs.validation_runs`)."""

    def __call__(
        self,
        step: int,
        answers: list[tuple[dict[str, Any], Any, Any, int]],
        eval_grades: list[Any] | None = None,
    ) -> None: ...


CheckpointHook = Callable[[list["KeptCheckpoint"]], None]
"""Told the kept checkpoints (`JobOutcome.checkpoints`) whenever they change: after a
checkpoint is written and retention ran, before its event; the job child records them, so
`checkpoints.list` shows what is on disk while the job runs."""


class Control(Protocol):
    def check(self) -> Command | None:
        """Polled once per step: "cancel", "pause", or None to go on."""
        ...


def event_key(type: str, step: int | None, message: str) -> str:
    return f"{type}:{step}" if type == "metrics" else f"{type}:{step}:{message}"


class Journal:
    def __init__(self, path: Path, sink: EventSink):
        self.path, self.sink = path, sink
        self.seen: set[str] = set()
        _cut_torn_tail(path)  # the journal's one writer repairs it; readers never write
        for event in read_events(path):
            self.seen.add(event["key"])

    def emit(
        self,
        type: EventType,
        level: Level,
        message: str,
        data: dict[str, Any] | None = None,
        step: int | None = None,
    ) -> None:
        key = event_key(type, step, message)
        if key in self.seen:
            return
        self.sink.emit(type, level, message, data, step)
        self.seen.add(key)
        record: dict[str, Any] = {
            "key": key,
            "type": type,
            "level": level,
            "message": message,
            "data": data,
        }
        record |= {"step": step, "created_at": int(time.time())}
        line = (json.dumps(record) + "\n").encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            written = 0
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)


def read_events(path: Path) -> list[dict[str, Any]]:
    """The journal's events, oldest first. A last line without its newline is being written
    (or was torn by a kill) and is left out. Reading never changes the file: a reader that cut
    a line the writer was finishing would lose that event."""
    if not path.exists():
        return []
    data = path.read_bytes()
    data = data[: data.rfind(b"\n") + 1]
    return [json.loads(line) for line in data.decode().splitlines() if line.strip()]


def _cut_torn_tail(path: Path) -> None:
    """Drop a last line a kill tore mid-write, so the next event starts on a line of its own."""
    if not path.exists():
        return
    data = path.read_bytes()
    if data and not data.endswith(b"\n"):
        with path.open("r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
