"""Listing files: the SQLite `files` table vs reading one JSON record per file (the earlier
layout, emulated here in the same run).

    .venv/bin/python bench/files.py [--files 2000]

Both list the newest 20 of a project's files; best of 5 runs each.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from openrft.store.files import FileStore


def best(fn: Callable[[], object], runs: int = 5) -> float:
    fastest = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = FileStore(Path(tmp))
        for number in range(args.files):
            record = store.create("p", io.BytesIO(b"{}\n"), f"f{number}.jsonl", "fine-tune")
            (store.root / f"{record.id}.json").write_text(json.dumps(asdict(record)))

        def json_records() -> list[dict[str, Any]]:
            records = [json.loads(path.read_bytes()) for path in store.root.glob("file-*.json")]
            records = [r for r in records if r["project"] == "p"]
            records.sort(key=lambda r: (r["created_ns"], r["id"]), reverse=True)
            return records[:20]

        ours = best(lambda: store.list("p", limit=20))
        theirs = best(json_records)
    print(
        f"{args.files} files, newest 20: files table {ours * 1e3:.2f} ms, "
        f"one JSON record per file {theirs * 1e3:.2f} ms ({theirs / ours:.0f}x)"
    )


if __name__ == "__main__":
    main()
