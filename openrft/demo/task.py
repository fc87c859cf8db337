"""The demo task: sort 3–6 digits ascending (`sort 93172:` → `12379`).

Chosen by measurement (spec/cpu-feasibility.md, experiment 2b): a tiny model warm-started on
demonstrations that sort the wrong way half the time learns from the grader alone, on 2 CPU
cores, in about a minute. Rows are RFT dataset rows: chat `messages` plus a `reference` field
the grader compares against, and `tags` for slices.
"""

from __future__ import annotations

import random
from typing import Any


def prompt(digits: str) -> str:
    return f"sort {digits}:"


def make_row(rng: random.Random) -> dict[str, Any]:
    length = rng.randint(3, 6)
    digits = "".join(rng.choice("0123456789") for _ in range(length))
    tags = ["edge"] if len(set(digits)) == 1 or length == 3 else []
    return {
        "messages": [{"role": "user", "content": prompt(digits)}],
        "reference": "".join(sorted(digits)),
        "tags": tags,
    }


def make_rows(count: int, seed: int) -> list[dict[str, Any]]:
    """`count` rows, deterministic for a seed."""
    rng = random.Random(seed)
    return [make_row(rng) for _ in range(count)]


def make_split(
    train: int, valid: int, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Training rows (seed `seed`) and validation rows (seed `seed + 1`), no prompt twice.

    Drawn at random, 3-digit prompts repeat (there are only 1,000), and a prompt in both files
    would have validation measure memory, not skill (`openrft data lint` calls it leakage); a
    repeat is skipped and the next row drawn instead, so the files lint clean."""
    seen: set[str] = set()
    return _unique(train, random.Random(seed), seen), _unique(valid, random.Random(seed + 1), seen)


def _unique(count: int, rng: random.Random, seen: set[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    while len(rows) < count:
        row = make_row(rng)
        if row["messages"][0]["content"] not in seen:
            seen.add(row["messages"][0]["content"])
            rows.append(row)
    return rows
