"""Keep the garbage collector's full passes short in long-lived serving processes.

CPython's collector walks every tracked object of the oldest generation on a full pass. In
the server and the generation child that is the whole import graph (torch, pydantic,
SQLAlchemy, the SDK) and the loaded models: objects that live until the process ends. A full
pass stalls every request in flight. Measured with `bench/serve.py --sweep` on 2 cores: full
passes took 66-90 ms in the server and 100-190 ms in the generation child (and 160-217 ms in
the benchmark's own client, which imports as much). `settle()` collects once and then moves
what is left out of the collector's sight (`gc.freeze`): the server's later full passes took
under 4 ms in the same kind of run, and the child's walk only what was made since.

Call it after the long-lived things exist (imports done, a model loaded), never per request:
it costs one full pass over everything. A frozen object freed by its reference count is freed
at once; one left in a cycle waits for the next `settle()`, which thaws everything first (a
model evicted from the cache is collected at the next load).
"""

from __future__ import annotations

import gc

__all__ = ["settle"]


def settle() -> None:
    """Collect what is garbage now, then keep what survives out of later full passes."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()
