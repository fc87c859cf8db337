"""`openrft serve` (`python -m tests.server.stalling_serve serve ...`) whose eval runs stop for
good inside the transaction that writes their third chunk of output items: after its INSERT,
before its COMMIT. It touches the file `OPENRFT_TEST_STALLED` names first, so a test knows
when to `kill -9` it there."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

from openrft.cli.main import main
from openrft.evals import output_items

_real_write = output_items.write
_written: list[int] = []


def _stalling_write(
    conn: sqlite3.Connection, run: sqlite3.Row, chunk: output_items.Chunk, created_at: int
) -> None:
    _real_write(conn, run, chunk, created_at)
    _written.append(chunk.first_row)
    if len(_written) == 3:
        Path(os.environ["OPENRFT_TEST_STALLED"]).touch()
        time.sleep(600)  # killed here, the transaction open


if __name__ == "__main__":
    output_items.write = _stalling_write
    main()
