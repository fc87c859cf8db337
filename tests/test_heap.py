"""`openrft.heap.settle`: garbage goes, survivors leave the collector's sight, and a frozen
cycle dropped later is reclaimed by the next settle."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from openrft import heap


class Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()  # the rest of the suite runs with an ordinary heap


def tracked(item: object) -> bool:
    return any(other is item for other in gc.get_objects())


def test_settle_collects_garbage_and_freezes_what_lives() -> None:
    garbage = Node()
    gone = weakref.ref(garbage)
    del garbage
    kept = Node()
    heap.settle()
    assert gone() is None
    assert gc.get_freeze_count() > 0 and not tracked(kept)
    made_after = Node()
    assert tracked(made_after)  # only what existed at the settle is frozen


def test_a_frozen_cycle_dropped_later_goes_at_the_next_settle() -> None:
    evicted = Node()
    gone = weakref.ref(evicted)
    heap.settle()
    del evicted
    gc.collect()
    assert gone() is not None  # frozen: a full pass does not see it
    heap.settle()
    assert gone() is None
