"""Deterministic train/validation splitting (decision D4 and `openrft data split`).

Guarantees: the same rows, fraction and seed give the same split on any machine (row order is
decided by a keyed hash, not `random` or `hash()`); rows with the same prompt (`prompt_key`) land
on the same side, so the validation set never tests a prompt the model trained on; with
`stratify`, each value of that field gets its share of the validation set. Rows keep their
input order on each side; a value too rare for a validation share of its own leaves its place
to other rows, so the size is the one asked for. What it does not promise: an exact size when
prompt groups cannot add up to it (a group is never cut in two): then `exact=True` (the CLI)
raises, and the job's automatic split (D4) takes a little less.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from openrft.data.prompts import prompt_key
from openrft.errors import InvalidRequestError

__all__ = ["split_rows", "valid_count"]

Row = dict[str, Any]


def valid_count(total: int, valid_fraction: float = 0.1, max_valid: int = 1000) -> int:
    """How many rows go to validation: the fraction, rounded half up, at least 1 and at most
    `max_valid`, leaving at least one training row."""
    if total < 2:
        return 0
    wanted = int(total * valid_fraction + 0.5)
    return max(1, min(wanted, max_valid, total - 1))


def _rank(seed: int, key: str) -> bytes:
    return hashlib.blake2b(key.encode(), digest_size=8, key=str(seed).encode()).digest()


def _groups(rows: Sequence[Row], seed: int) -> list[list[int]]:
    """Row indices grouped by prompt, the groups in seeded pseudo-random order."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, row in enumerate(rows):
        groups[prompt_key(row)].append(index)
    return [groups[key] for key in sorted(groups, key=lambda key: _rank(seed, key))]


def _fill(groups: list[list[int]], target: int) -> set[int]:
    """Take whole groups, in order, while they fit under `target`."""
    chosen: set[int] = set()
    for group in groups:
        if len(chosen) >= target:
            break
        if len(chosen) + len(group) <= target:
            chosen.update(group)
    return chosen


def _stratum(row: Row, field: str) -> str:
    return json.dumps(row.get(field), sort_keys=True, ensure_ascii=False)


def _shares(sizes: dict[str, int], target: int) -> dict[str, int]:
    """Split `target` over strata in proportion to their sizes (largest remainder)."""
    total = sum(sizes.values())
    exact = {name: target * size / total for name, size in sizes.items()}
    shares = {name: int(value) for name, value in exact.items()}
    leftover = target - sum(shares.values())
    by_remainder = sorted(exact, key=lambda name: (shares[name] - exact[name], name))
    for name in by_remainder[:leftover]:
        shares[name] += 1
    return shares


def _stratified(rows: Sequence[Row], groups: list[list[int]], field: str, target: int) -> set[int]:
    by_stratum: dict[str, list[list[int]]] = defaultdict(list)
    for group in groups:  # a group follows its first row's value
        by_stratum[_stratum(rows[group[0]], field)].append(group)
    sizes = {name: sum(map(len, members)) for name, members in by_stratum.items()}
    chosen: set[int] = set()
    for name, share in _shares(sizes, target).items():
        chosen |= _fill(by_stratum[name], share)
    # Rounding (a value too rare for a share of its own) and whole prompt groups leave some
    # strata short; the rest comes from the other groups, in the same seeded order.
    rest = [group for group in groups if group[0] not in chosen]
    return chosen | _fill(rest, target - len(chosen))


def _short(chosen: int, target: int, groups: list[list[int]]) -> InvalidRequestError:
    largest = max(map(len, groups))
    return InvalidRequestError(
        f"cannot take exactly {target} validation rows, only {chosen}: rows that share a "
        f"prompt stay on one side, and the prompt groups (up to {largest} rows each) do not "
        f"add up to {target}; ask for {chosen} rows, or merge the duplicates "
        "(`openrft data lint` lists them)",
        param="valid_size",
    )


def split_rows(
    rows: Sequence[Row],
    *,
    valid_fraction: float = 0.1,
    max_valid: int = 1000,
    seed: int,
    stratify: str | None = None,
    valid_size: int | None = None,
    exact: bool = False,
) -> tuple[list[Row], list[Row]]:
    """(train, valid). `valid_size` overrides the fraction; `max_valid` caps either. With
    `exact`, a split that cannot have that many validation rows is an `InvalidRequestError`
    saying why, instead of a smaller validation set."""
    if valid_size is not None:
        target = max(0, min(valid_size, max_valid, len(rows)))
    else:
        target = valid_count(len(rows), valid_fraction, max_valid)
    groups = _groups(rows, seed)
    if stratify is None:
        chosen = _fill(groups, target)
    else:
        chosen = _stratified(rows, groups, stratify, target)
    if exact and len(chosen) != target:
        raise _short(len(chosen), target, groups)
    train = [row for index, row in enumerate(rows) if index not in chosen]
    valid = [row for index, row in enumerate(rows) if index in chosen]
    return train, valid
