"""Judge answers in a SQLite file, so a re-run in another process costs nothing either.

Opt-in (`OPENRFT_JUDGE_CACHE_FILE`, e.g. `$OPENRFT_HOME/judge-cache.sqlite`), under the same
rules as the memory cache: same keys (with the judge's base URL mixed in, so two endpoints that
serve a model of the same name never share answers), only clean answers stored. Guarantees:
a write is committed before `put` returns; several processes may share the file (WAL). Does
not guarantee: eviction (the file grows; delete it to start over).
"""

from __future__ import annotations

import json
import sqlite3
import threading
import weakref
from pathlib import Path
from typing import Any

_SCHEMA = "CREATE TABLE IF NOT EXISTS answers (key TEXT PRIMARY KEY, answer TEXT NOT NULL)"


class DiskCache:
    def __init__(self, path: str | Path, *, namespace: str = ""):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self.path = Path(path)
        self.namespace = namespace
        """Mixed into every key: the judge's base URL."""
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute(_SCHEMA)
        self._closer = weakref.finalize(self, self._db.close)

    def get(self, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT answer FROM answers WHERE key = ?", (self.namespace + key,)
            ).fetchone()
        return json.loads(row[0]) if row else None

    def put(self, key: str, answer: dict[str, Any]) -> None:
        text = json.dumps(answer, ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO answers (key, answer) VALUES (?, ?)",
                (self.namespace + key, text),
            )

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM answers").fetchone()[0])

    def close(self) -> None:
        self._closer()
