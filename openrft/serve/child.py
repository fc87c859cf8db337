"""The generation child: a process that makes a serving backend's model calls.

Started (spawned) by `openrft.serve.process.ProcessBackend`, which sends it one call at a time
on `inbox` and reads the answer on `outbox`:

    ("load", target)                   -> ("ok", context length or None)
    ("complete", target, [(id, params, streamed), ...])
                                       -> ("text", id, choice, text)*, then ("ok", answers)
    ("embed", target, texts)           -> ("ok", (vectors, tokens))
    ("cancel", id)                     a request of the call in progress stops at its next token
    ("stop",)                          exit

A call that fails answers ("error", exception). A reader thread takes the inbox, so a cancel
reaches a batch while it generates. The child keeps its own cache of loaded models (LRU,
`max_models`) and loads a model on first use, so a new child after a crash needs no replay.
It exits when its inbox closes: the server stopped, or died without a word.
"""

from __future__ import annotations

import logging
import pickle
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

from openrft import heap, threads

__all__ = ["main"]

log = logging.getLogger(__name__)


def main(
    factory: Callable[[], Any], max_models: int, inbox: Connection, outbox: Connection
) -> None:
    threads.prepare_environment()  # before the backend imports torch
    calls: queue.Queue[tuple[Any, ...] | None] = queue.Queue()
    cancels: dict[int, threading.Event] = {}
    reader = threading.Thread(target=_read, args=(inbox, calls, cancels), daemon=True)
    reader.start()
    try:
        child = _Child(factory(), max_models, outbox, cancels)
    except Exception as exc:  # boundary: the parent's first call hears why, then we exit
        _send(outbox, ("error", _portable(exc)))
        return
    heap.settle()  # the backend's imports are long-lived
    while (call := calls.get()) is not None:
        try:
            answer = ("ok", child.answer(call))
        except Exception as exc:  # boundary: a failed call is the caller's error
            answer = ("error", _portable(exc))
        _send(outbox, answer)


def _read(
    inbox: Connection, calls: queue.Queue[tuple[Any, ...] | None], cancels: dict[int, Any]
) -> None:
    try:
        while (call := inbox.recv())[0] != "stop":
            if call[0] == "cancel":
                if (event := cancels.get(call[1])) is not None:
                    event.set()
                continue
            if call[0] == "complete":  # registered here, so a cancel that follows finds it
                for rid, _, _ in call[2]:
                    cancels[rid] = threading.Event()
            calls.put(call)
    except (EOFError, OSError):  # the server is gone: stop what generates, then exit
        pass
    for event in list(cancels.values()):
        event.set()
    calls.put(None)


class _Child:
    def __init__(self, backend: Any, max_models: int, outbox: Connection, cancels: dict[int, Any]):
        self.backend, self.max_models = backend, max_models
        self.outbox, self.cancels = outbox, cancels
        self.models: OrderedDict[str, Any] = OrderedDict()

    def answer(self, call: tuple[Any, ...]) -> Any:
        kind, target, *rest = call
        loaded = self.loaded(target)
        if kind == "load":
            context = getattr(self.backend, "context_length", None)
            return None if context is None else context(loaded)
        if kind == "embed":
            return self.backend.embed(loaded, rest[0])
        return self.complete(loaded, rest[0])

    def loaded(self, target: str) -> Any:
        if target in self.models:
            self.models.move_to_end(target)
            return self.models[target]
        self.models[target] = self.backend.load(target)
        while len(self.models) > self.max_models:
            self.models.popitem(last=False)
        heap.settle()  # the model lives until evicted (then collected at the next settle)
        return self.models[target]

    def complete(self, loaded: Any, items: list[tuple[int, dict[str, Any], bool]]) -> list[Any]:
        try:
            requests = [self.backend.request(**self.params(*item)) for item in items]
            answers = self.backend.complete(loaded, requests)
        finally:
            for rid, _, _ in items:
                self.cancels.pop(rid, None)
        return [_portable(a) if isinstance(a, Exception) else a for a in answers]

    def params(self, rid: int, params: dict[str, Any], streamed: bool) -> dict[str, Any]:
        params = {**params, "cancel": self.cancels.get(rid) or threading.Event()}
        if streamed:
            params["on_text"] = lambda choice, text: self.outbox.send(("text", rid, choice, text))
        return params


def _send(outbox: Connection, message: tuple[Any, ...]) -> None:
    try:
        outbox.send(message)
    except OSError:  # the server is gone; the reader ends the loop
        log.info("the server closed the generation pipe")


def _portable(exc: Exception) -> Exception:
    """`exc`, or a plain RuntimeError saying the same when it does not survive pickling."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # boundary: any pickling failure
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc
