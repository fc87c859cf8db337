"""The event journal: readers never change it, its writer repairs a torn tail, events go once."""

import json
from pathlib import Path
from typing import Any

from openrft.train.events import Journal, read_events


class Sink:
    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def emit(self, *event: Any) -> None:
        self.events.append(event)


def line(step: int) -> bytes:
    record = {"key": f"metrics:{step}", "type": "metrics", "level": "info", "message": "m"}
    return (json.dumps(record | {"data": {}, "step": step}) + "\n").encode()


def test_a_reader_leaves_a_line_being_written_alone(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    whole = line(1) + line(2)
    journal.write_bytes(whole[:-10])  # step 2 half written
    assert [e["step"] for e in read_events(journal)] == [1]
    journal.write_bytes(whole)  # ... and finished by its writer after the read
    assert journal.read_bytes() == whole
    assert [e["step"] for e in read_events(journal)] == [1, 2]


def test_the_writer_cuts_a_torn_tail_and_skips_what_it_has_seen(tmp_path: Path) -> None:
    journal = tmp_path / "events.jsonl"
    journal.write_bytes(line(1) + line(2)[:-10])  # killed while writing step 2
    sink = Sink()
    writer = Journal(journal, sink)
    writer.emit("metrics", "info", "m", {}, step=1)  # already journaled: not emitted again
    writer.emit("metrics", "info", "m", {"x": 1}, step=2)
    writer.emit("message", "info", "Step 2 done", step=2)
    writer.emit("message", "info", "Step 2 done", step=2)
    assert [e["step"] for e in read_events(journal)] == [1, 2, 2]
    assert [event[2] for event in sink.events] == ["m", "Step 2 done"]
    assert journal.read_bytes().endswith(b"\n")
