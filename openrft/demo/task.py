"""The demo task: sort 3–6 digits ascending (`sort 93172:` → `12379`).

Chosen by measurement (spec/cpu-feasibility.md, experiment 2b): a tiny model warm-started on
demonstrations that sort the wrong way half the time learns from the grader alone, on 2 CPU
cores, in about a minute. The row itself (`make_row`) is defined in `openrft.models.sort_task`,
beside the model whose warm start needs it; here are the datasets drawn from it.
"""

from __future__ import annotations

import random
from typing import Any

from openrft.models.sort_task import make_row, prompt

__all__ = ["make_row", "make_rows", "make_split", "prompt"]


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
