"""Duplicate and near-duplicate prompts, fast enough for 50,000 rows.

Near-duplicates are found with MinHash over word 3-gram shingles of the normalised text and
LSH banding (16 bands of 4 hashes), then kept when the estimated Jaccard similarity of the
pair (64 hashes, ±0.06) reaches the threshold. A bucket is compared against its first member
only, so the work stays linear even when every prompt shares one long template; a chain of
similar prompts is still joined into one group. Results are deterministic (fixed hash seeds,
tokens numbered in input order). What it does not find: paraphrases with different words.

`ExactIndex` and `NearIndex` find the same groups over keys and texts added a chunk at a time,
holding per row only its 16-byte key digest or its MinHash signature (512 bytes), not its text.
"""

from __future__ import annotations

from array import array
from collections import defaultdict
from collections.abc import Sequence

import numpy as np

from openrft.data.prompts import tokens

__all__ = ["ExactIndex", "NearIndex", "exact_groups", "near_groups"]

_HASHES, _BANDS = 64, 16
_RNG = np.random.default_rng(20250601)
_XOR = _RNG.integers(1, 2**63, size=_HASHES, dtype=np.uint64)
_MUL = _RNG.integers(1, 2**63, size=_HASHES, dtype=np.uint64) | np.uint64(1)
_MIX = np.array([0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9], dtype=np.uint64)


def exact_groups(keys: Sequence[str]) -> list[list[int]]:
    """Indices sharing a key, for every key held by more than one index."""
    by_key: dict[str, list[int]] = defaultdict(list)
    for index, key in enumerate(keys):
        by_key[key].append(index)
    return [group for group in by_key.values() if len(group) > 1]


class ExactIndex:
    """`exact_groups` over 16-byte digests added one at a time (16 bytes a row)."""

    def __init__(self) -> None:
        self._keys = bytearray()

    def add(self, digest: bytes) -> None:
        self._keys += digest

    def groups(self) -> list[list[int]]:
        keys = np.frombuffer(bytes(self._keys), dtype=np.uint64).reshape(-1, 2)
        if not len(keys):
            return []
        _, inverse, counts = np.unique(keys, axis=0, return_inverse=True, return_counts=True)
        inverse = inverse.reshape(-1)
        found: dict[int, list[int]] = {}  # in order of each group's first row, as exact_groups
        for row in np.flatnonzero(counts[inverse] > 1).tolist():
            found.setdefault(int(inverse[row]), []).append(row)
        return list(found.values())


def _token_ids(
    texts: Sequence[str], vocab: dict[str, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flat token ids and the row each token belongs to. Tokens are numbered in order of first
    appearance (sorted within a row), so the ids do not depend on Python's hash seed; the
    per-token work stays in C (`set`, `map`, `array`). `vocab` carries the numbering from
    one batch of texts to the next."""
    vocab = {} if vocab is None else vocab
    ids = array("Q")
    lengths = array("q")
    for text in texts:
        words = tokens(text)
        if len(words) < 3:  # a short prompt is one shingle: it must match as a whole
            words = [" ".join(words)] * 3 if words else []
        for token in sorted(set(words).difference(vocab)):
            vocab[token] = len(vocab)
        ids.extend(map(vocab.__getitem__, words))
        lengths.append(len(words))
    owners = np.repeat(np.arange(len(lengths), dtype=np.int64), np.frombuffer(lengths, np.int64))
    return np.frombuffer(ids, dtype=np.uint64), owners


def _shingles(ids: np.ndarray, owners: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Word 3-gram hashes and their rows; a 3-gram may not cross a row boundary."""
    if len(ids) < 3:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64)
    hashed = ids[:-2] * _MIX[0] + ids[1:-1] * _MIX[1] + ids[2:] * _MIX[2]  # wraps mod 2**64
    inside = owners[:-2] == owners[2:]
    return hashed[inside], owners[:-2][inside]


def _signatures(hashed: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(rows that have shingles, their MinHash signatures: one row of 64 per row)."""
    starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
    signatures = np.empty((len(starts), _HASHES), dtype=np.uint64)
    for k in range(_HASHES):
        signatures[:, k] = np.minimum.reduceat((hashed ^ _XOR[k]) * _MUL[k], starts)
    return rows[starts], signatures


def _candidates(signatures: np.ndarray) -> np.ndarray:
    """(first, other) pairs of positions that share a band bucket, without repeats."""
    width = _HASHES // _BANDS
    pairs = []
    for band in range(_BANDS):
        columns = signatures[:, band * width : (band + 1) * width]
        key = (columns * _MUL[:width]).sum(axis=1, dtype=np.uint64)
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        starts = np.flatnonzero(np.r_[True, sorted_key[1:] != sorted_key[:-1]])
        first = order[np.repeat(starts, np.diff(np.r_[starts, len(order)]))]
        keep = first != order
        pairs.append(first[keep] * len(order) + order[keep])
    unique = np.unique(np.concatenate(pairs))
    return np.stack([unique // len(order), unique % len(order)], axis=1)


def _agreement(signatures: np.ndarray, pairs: np.ndarray, chunk: int = 20_000) -> np.ndarray:
    """The share of equal hashes per pair (the Jaccard estimate), in chunks to bound memory."""
    parts = [
        (signatures[part[:, 0]] == signatures[part[:, 1]]).mean(axis=1)
        for part in np.array_split(pairs, max(1, len(pairs) // chunk))
    ]
    return np.concatenate(parts) if parts else np.zeros(0)


def _components(size: int, pairs: np.ndarray) -> list[list[int]]:
    parent = list(range(size))

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for left, right in pairs.tolist():
        parent[root(left)] = root(right)
    groups: dict[int, list[int]] = defaultdict(list)
    for node in range(size):
        groups[root(node)].append(node)
    return [group for group in groups.values() if len(group) > 1]


class NearIndex:
    """`near_groups` over texts added a batch at a time: each batch is tokenized and signed,
    and only the signatures (and the token numbering) are kept."""

    def __init__(self) -> None:
        self.count = 0
        self._vocab: dict[str, int] = {}
        self._owners: list[np.ndarray] = []
        self._signatures: list[np.ndarray] = []

    def add(self, texts: Sequence[str]) -> None:
        hashed, rows = _shingles(*_token_ids(texts, self._vocab))
        if len(hashed):
            owners, signatures = _signatures(hashed, rows)
            self._owners.append(owners + self.count)
            self._signatures.append(signatures)
        self.count += len(texts)

    def groups(self, threshold: float = 0.8) -> list[list[int]]:
        """The groups; once (the batches' signatures are moved into one array as it goes,
        so memory peaks at one signature a row, not two)."""
        if not self._signatures:
            return []
        owners = np.concatenate(self._owners)
        signatures = np.empty((len(owners), _HASHES), dtype=np.uint64)
        parts, self._signatures = self._signatures[::-1], []
        filled = 0
        while parts:
            part = parts.pop()
            signatures[filled : filled + len(part)] = part
            filled += len(part)
        pairs = _candidates(signatures)
        if len(pairs):
            pairs = pairs[_agreement(signatures, pairs) >= threshold]
        return [sorted(owners[group].tolist()) for group in _components(len(owners), pairs)]


def near_groups(texts: Sequence[str], *, threshold: float = 0.8) -> list[list[int]]:
    """Groups of indices whose texts are near-duplicates (estimated Jaccard ≥ threshold)."""
    index = NearIndex()
    index.add(texts)
    return index.groups(threshold)
