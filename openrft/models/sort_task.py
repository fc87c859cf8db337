"""The sort task `openrft-tiny` is warm-started on: sort 3–6 digits ascending
(`sort 93172:` → `12379`).

It lives beside the model because the warm start needs it; the demo (`openrft.demo.task`)
builds its datasets from the same rows. Plain Python, no torch. Rows are RFT dataset rows: chat
`messages` plus a `reference` field the grader compares against, and `tags` for slices.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["make_row", "prompt"]


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
