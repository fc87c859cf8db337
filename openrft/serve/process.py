"""A serving backend whose model calls run in a child process of their own.

Why: generating on a thread of the server's process holds the GIL most of the time (tensor
ops are many short Python calls), which starves the event loop that reads and answers HTTP:
with 64 clients the in-thread engine answered fewer requests per second than with 16, and
its p99 was ~10x the in-app latency. In a child, the model has its own interpreter; the
server's generation thread only waits on a pipe (GIL released) and unpickles the answers.

Guarantees: one child (spawn context, so no forked torch or locks), started on the first call
and again on the first call after it died; a call in progress when it dies raises
`ServiceUnavailableError` (503, OpenAI's status for "retry later"), never hangs. Streaming
works as in-process: the child sends each request's new text, the `on_text` listener hears it
here. Cancel works: a request's `cancel` event set here reaches the child within `POLL`
seconds and stops its rows at the next token. `close()` stops the child (terminate, then kill)
and the child exits by itself when this process dies (its pipe closes).
What it does not do: run two calls at once (one generation thread calls it, as in-process),
or time a call out (a long generation is legitimate; only a dead child ends one early).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

from openrft.errors import ServiceUnavailableError
from openrft.serve import child

__all__ = ["ProcessBackend"]

log = logging.getLogger(__name__)

POLL = 0.02
"""Seconds between looks at the cancel events while a call waits for the child."""
STOP_SECONDS = 10.0
"""How long `close()` waits for the child to exit before it terminates it."""


@dataclass(frozen=True)
class Loaded:
    """What the server holds for a model the child loaded."""

    target: str
    context: int | None


@dataclass(eq=False)
class Remote:
    """A chat request as the child will build it, with the listener and event kept here."""

    id: int
    params: dict[str, Any]
    on_text: Callable[[int, str], None] | None = None
    cancel: threading.Event = field(default_factory=threading.Event)


@dataclass(eq=False)
class _Child:
    process: BaseProcess
    inbox: Connection
    outbox: Connection


class ProcessBackend:
    """The serving `Backend` protocol, answered by `factory()` (a picklable callable that
    builds the real backend, e.g. `partial(TorchBackend, home)`) in a child process."""

    def __init__(self, factory: Callable[[], Any], *, max_models: int = 4):
        self.factory, self.max_models = factory, max_models
        self._spawn = multiprocessing.get_context("spawn")
        self._child: _Child | None = None
        self._ids = itertools.count()
        self.starts = 0
        """Children started so far (1 + restarts after a death)."""

    def load(self, target: str) -> Loaded:
        return Loaded(target, self._call(("load", target)))

    def request(self, **params: Any) -> Remote:
        on_text, cancel = params.pop("on_text", None), params.pop("cancel", None)
        return Remote(next(self._ids), params, on_text, cancel or threading.Event())

    def complete(self, loaded: Loaded, requests: list[Remote]) -> list[Any]:
        items = [(r.id, r.params, r.on_text is not None) for r in requests]
        answers: list[Any] = self._call(("complete", loaded.target, items), requests)
        return answers

    def context_length(self, loaded: Loaded) -> int | None:
        return loaded.context

    def embed(self, loaded: Loaded, texts: list[str]) -> tuple[list[list[float]], int]:
        result: tuple[list[list[float]], int] = self._call(("embed", loaded.target, texts))
        return result

    def pid(self) -> int | None:
        """The running child's process id, if one runs."""
        return self._child.process.pid if self._child is not None else None

    def close(self) -> None:
        """Stop the child: ask, then terminate, then kill. Safe to call twice."""
        running, self._child = self._child, None
        if running is None:
            return
        with contextlib.suppress(OSError):  # already gone
            running.inbox.send(("stop",))
        running.process.join(STOP_SECONDS)
        if running.process.is_alive():
            running.process.terminate()
            running.process.join(5)
        if running.process.is_alive():
            running.process.kill()
            running.process.join()
        _close(running)

    def _call(self, message: tuple[Any, ...], requests: Sequence[Remote] = ()) -> Any:
        running = self._running()
        done = False
        try:
            running.inbox.send(message)
            reply = self._reply(running, requests)
            done = True
        except (EOFError, OSError):
            raise self._died(running) from None
        finally:
            if not done and self._child is running:  # out of step with the child: start over
                self.close()
        if reply[0] == "error":
            raise reply[1]
        return reply[1]

    def _reply(self, running: _Child, requests: Sequence[Remote]) -> tuple[Any, ...]:
        """The call's answer, relaying its streamed text and its cancels meanwhile."""
        by_id = {request.id: request for request in requests}
        told: set[int] = set()
        while True:
            if wait([running.outbox, running.process.sentinel], POLL):
                if not running.outbox.poll():  # the child exited and said nothing more
                    raise EOFError
                reply = running.outbox.recv()
                if reply[0] != "text":
                    return tuple(reply)
                _hear(by_id[reply[1]], reply[2], reply[3])
            for request in requests:
                if request.cancel.is_set() and request.id not in told:
                    running.inbox.send(("cancel", request.id))
                    told.add(request.id)

    def _running(self) -> _Child:
        if self._child is not None and self._child.process.is_alive():
            return self._child
        if self._child is not None:
            self._died(self._child)  # between calls: say so in the log, start a new one
        inbox_read, inbox = self._spawn.Pipe(duplex=False)
        outbox, outbox_write = self._spawn.Pipe(duplex=False)
        process = self._spawn.Process(
            target=child.main,
            args=(self.factory, self.max_models, inbox_read, outbox_write),
            name="openrft-generate",
            daemon=True,
        )
        process.start()
        inbox_read.close()  # the child has its own copies; ours would hide its exit
        outbox_write.close()
        self.starts += 1
        log.info("started the generation process (pid %s)", process.pid)
        self._child = _Child(process, inbox, outbox)
        return self._child

    def _died(self, running: _Child) -> ServiceUnavailableError:
        running.process.join(1)
        if running.process.is_alive():  # its pipe broke but it lives on: end it
            running.process.kill()
            running.process.join()
        code = running.process.exitcode
        log.warning("the generation process (pid %s) exited with %s", running.process.pid, code)
        if self._child is running:
            self._child = None
        _close(running)
        return ServiceUnavailableError(
            f"The model process stopped (exit code {code}) while serving this request; the "
            "next request starts a new one. Retry the request."
        )


def _hear(request: Remote, choice: int, text: str) -> None:
    """Hand streamed text to its listener; a listener that fails stops only its request."""
    if request.on_text is None:
        return
    try:
        request.on_text(choice, text)
    except Exception as exc:  # boundary: its stream is gone; the batch goes on
        log.info("a stream's listener failed (%s); its request is cancelled", exc)
        request.on_text = None
        request.cancel.set()


def _close(running: _Child) -> None:
    for connection in (running.inbox, running.outbox):
        connection.close()
