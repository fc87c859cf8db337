"""Judge answers kept in memory, so grading the same sample twice costs nothing.

The key is a hash of the exact structured request: model, rendered messages, sampling params
(seed included) and `response_format`. A judge is only deterministic when seeded, so the cache
is on by default only for requests that carry a seed (`OPENRFT_JUDGE_CACHE=on|off` forces it).
Only answers that parsed into a grade are stored: a refusal or a garbled answer is asked again.
A hit reports zero new tokens (nothing was spent), so summed usage equals what the judge billed.
"""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from typing import Any, Generic, TypeVar

Value = TypeVar("Value")


def cache_key(body: dict[str, Any]) -> str:
    """A stable hash of a request body (key order does not matter)."""
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class LRUCache(Generic[Value]):
    """A least-recently-used map with a fixed number of entries, and hit/miss counters."""

    def __init__(self, max_entries: int = 4096):
        self.max_entries = max(1, max_entries)
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[str, Value] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Value | None:
        value = self._entries.get(key)
        if value is None:
            self.misses += 1
            return None
        self.hits += 1
        self._entries.move_to_end(key)
        return value

    def put(self, key: str, value: Value) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def clear(self) -> None:
        self._entries.clear()
