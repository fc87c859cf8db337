"""Generation in a child process of its own (`openrft.serve.process`), driven by the SDK
against a live server: the real tiny model answers (plain and streamed) from the child and
the server's shutdown leaves no child behind; with a scripted model in the child, a client
that leaves cancels its generation there, a child killed mid-generation is a clean 503 and
the next request starts a new child; the queue's token cap refuses (503) a request, or makes
background work (eval runs) wait, as documented."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from openrft.errors import InvalidRequestError, ServiceUnavailableError
from openrft.serve.engine import Engine
from openrft.serve.process import ProcessBackend
from openrft.server import Settings
from openrft.store.db import Database
from tests.server.conftest import Live, live_server
from tests.server.fakes import Completion, FakeBackend
from tests.server.test_chat_faults import chat, sdk_of, wait_until
from tests.train.helpers import tiny_home


class ChildBackend(FakeBackend):
    """The scripted model, built in the child: it writes what it sees to `log` (the test
    reads it from the other side). `gate` waits for the file `release` beside the log;
    `slow ...` generates a word every 10 ms until its cancel event is set."""

    def __init__(self, log: Path):
        super().__init__()
        self.log = log

    def load(self, target: str) -> str:
        self.weights = [[step] for step in range(1000)]  # what a loaded model holds
        return super().load(target)

    def note(self, line: str) -> None:
        with self.log.open("a") as out:
            out.write(line + "\n")

    def _one(self, loaded: str, request: dict[str, Any], index: int) -> Completion:
        prompt = request["messages"][-1]["content"]
        self.note(f"seen {prompt}")
        if prompt == "heap":  # is the model out of the collector's sight (`openrft.heap`)?
            tracked = {id(item) for item in gc.get_objects()}
            self.note(f"frozen {gc.get_freeze_count()} tracked {id(self.weights) in tracked}")
        if prompt == "gate":
            while not (self.log.parent / "release").exists():
                time.sleep(0.01)
        if not prompt.startswith("slow"):
            return super()._one(loaded, request, index)
        for step in range(60_000):
            if request["cancel"].is_set():
                self.note(f"cancelled {prompt}")
                return Completion("cancelled", None, "stop", 1, step)
            if request.get("on_text") is not None:
                request["on_text"](index, "word ")
            time.sleep(0.01)
        return Completion("never cancelled", None, "length", 1, 60_000)


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie not yet reaped counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def child_pid(live: Live) -> int:
    engine: Engine = live.app.state.engine
    pid = engine.backend.pid()  # type: ignore[attr-defined]
    assert pid is not None and alive(pid)
    return int(pid)


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[tuple[Live, Path]]:
    log = tmp_path / "child" / "log"
    log.parent.mkdir()
    backend = ProcessBackend(partial(ChildBackend, log))
    with live_server(Settings(home=tmp_path / "home"), backend) as server:
        yield server, log


def test_the_tiny_model_answers_from_a_child_that_shutdown_ends(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(home=tiny_home(tmp_path_factory))
    assert settings.generation == "process"  # the default
    request = chat("sort 93172:", max_tokens=8, temperature=0)
    with live_server(settings, backend=None) as live, sdk_of(live) as sdk:
        plain = sdk.chat.completions.create(**request).choices[0].message.content
        pid = child_pid(live)
        assert pid != os.getpid()
        streamed = "".join(
            chunk.choices[0].delta.content or ""
            for chunk in sdk.chat.completions.create(stream=True, **request)
            if chunk.choices
        )
        assert plain and streamed == plain
    wait_until(lambda: not alive(pid))  # the server's shutdown stopped the child


def test_a_client_that_leaves_cancels_its_generation_in_the_child(
    scripted: tuple[Live, Path],
) -> None:
    live, log = scripted
    url = live.base_url + "/chat/completions"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=chat("slow plain", max_tokens=100_000), timeout=1)
    wait_until(lambda: "cancelled slow plain" in lines(log))
    with sdk_of(live) as sdk:
        stream = sdk.chat.completions.create(stream=True, **chat("slow streamed"))
        heard = ""
        for chunk in stream:
            heard += chunk.choices[0].delta.content or "" if chunk.choices else ""
            if heard:
                break
        stream.close()
        assert heard == "word "  # the child's text reached the client as it was generated
        wait_until(lambda: "cancelled slow streamed" in lines(log))
        assert sdk.chat.completions.create(**chat("next")).choices[0].message.content == "txen"


def test_a_child_killed_mid_generation_is_a_503_and_the_next_request_works(
    scripted: tuple[Live, Path],
) -> None:
    live, log = scripted
    with sdk_of(live) as sdk, ThreadPoolExecutor(1) as pool:
        assert sdk.chat.completions.create(**chat("warm")).choices[0].message.content == "mraw"
        first = child_pid(live)
        pending = pool.submit(sdk.chat.completions.create, **chat("slow doomed"))
        wait_until(lambda: "seen slow doomed" in lines(log))
        os.kill(first, signal.SIGKILL)
        with pytest.raises(openai.InternalServerError) as caught:
            pending.result(timeout=60)
        assert caught.value.status_code == 503
        error = caught.value.body
        assert isinstance(error, dict) and error["type"] == "server_error"
        assert "model process stopped" in error["message"] and "Traceback" not in str(error)
        assert sdk.chat.completions.create(**chat("again")).choices[0].message.content == "niaga"
        assert child_pid(live) != first


def test_the_child_freezes_its_heap_after_a_load(scripted: tuple[Live, Path]) -> None:
    """A full collection in the child would walk the model on every pass and stall the batch
    in flight; after the load the model is frozen out of the collector's sight."""
    live, log = scripted
    with sdk_of(live) as sdk:
        sdk.chat.completions.create(**chat("heap"))
    (said,) = [line for line in lines(log) if line.startswith("frozen")]
    _, count, _, tracked = said.split()
    assert int(count) > 1000 and tracked == "False"


def test_a_request_past_the_queued_token_cap_is_a_503(tmp_path: Path) -> None:
    log = tmp_path / "child" / "log"
    log.parent.mkdir()
    settings = Settings(home=tmp_path / "home", max_queued_tokens=600)
    backend = ProcessBackend(partial(ChildBackend, log))
    body = {"max_tokens": 200}  # a size of 200 tokens plus the prompt's characters
    with (
        live_server(settings, backend) as live,
        sdk_of(live) as sdk,
        ThreadPoolExecutor(3) as pool,
    ):
        gate = pool.submit(sdk.chat.completions.create, **chat("gate", **body))
        wait_until(lambda: "seen gate" in lines(log))  # generating: the queue is empty
        queued = [pool.submit(sdk.chat.completions.create, **chat(f"q{i}", **body)) for i in (1, 2)]
        wait_until(lambda: live.app.state.engine.queued() == 2)
        with pytest.raises(openai.InternalServerError) as caught:
            sdk.chat.completions.create(**chat("one too many", **body))
        assert caught.value.status_code == 503
        assert "overloaded" in caught.value.message
        assert "OPENRFT_MAX_QUEUED_TOKENS" in caught.value.message
        (log.parent / "release").touch()
        assert gate.result(timeout=60).choices[0].message.content == "etag"
        assert [f.result(timeout=60).choices[0].message.content for f in queued] == ["1q", "2q"]
        # the queue drained: a request larger than the whole cap is still served (alone)
        big = sdk.chat.completions.create(**chat("big", max_tokens=1000))
        assert big.choices[0].message.content == "gib"
    assert "seen one too many" not in lines(log)


def test_generation_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRFT_GENERATION", "thread")
    monkeypatch.setenv("OPENRFT_MAX_BATCH_TOKENS", "4096")
    monkeypatch.setenv("OPENRFT_MAX_QUEUED_TOKENS", "0")
    settings = Settings.from_env()
    assert (settings.generation, settings.max_batch_tokens) == ("thread", 4096)
    assert settings.max_queued_tokens == 0
    monkeypatch.setenv("OPENRFT_GENERATION", "gpu")
    with pytest.raises(InvalidRequestError, match='"process" or "thread"'):
        Settings.from_env()


async def test_background_work_waits_for_room_in_the_queue(tmp_path: Path) -> None:
    """An eval run's rows (`wait=True`) wait for the queue to drain instead of a 503."""
    backend = FakeBackend()
    backend.gate = threading.Event()
    settings = Settings(home=tmp_path, max_queued_tokens=300, generation="thread")
    engine = Engine(settings, Database(tmp_path), backend=backend)
    target = engine.resolve("default", "openrft-tiny")
    params = {"n": 1, "max_tokens": 200}

    def ask(text: str, **options: Any) -> asyncio.Future[list[Any]]:
        messages = [{"role": "user", "content": text}]
        return asyncio.ensure_future(
            engine.complete(target, {**params, "messages": messages}, **options)
        )

    gate = ask("__gate__")
    await until(lambda: len(backend.calls) == 1)
    queued = ask("queued")
    await until(lambda: engine.queued() == 1)
    with pytest.raises(ServiceUnavailableError):
        await ask("refused")
    waiting = ask("waits", wait=True)
    await asyncio.sleep(0.2)
    assert not waiting.done() and engine.queued() == 1  # not queued: waiting for room
    backend.gate.set()
    assert [(await f)[0].text for f in (gate, queued, waiting)] == ["__etag__", "deueuq", "stiaw"]
    await engine.aclose()


async def until(check: Callable[[], bool]) -> None:
    for _ in range(1000):
        if check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("state never reached")
