"""Chat serving under faults, driven by the SDK against a live server: a stream in a batch
that fails hears its text once (and an error), a client that leaves cancels its generation
(streamed or not) or its place in the queue, a prompt past the model's context is a 400, and
`openrft serve` stops promptly on SIGTERM in the middle of a generation."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from openai import OpenAI

from openrft.server import Settings
from tests.server.conftest import Live, live_server
from tests.server.fakes import Completion, FakeBackend
from tests.support.loopback import free_port
from tests.train.helpers import tiny_home


class SlowBackend(FakeBackend):
    """`slow ...` generates a step every 10 ms (streamed: a word each) until its request's
    cancel event is set, for at most 10 minutes, and records that it saw the cancel; `gate`
    holds the generation thread until `release` is set. Every prompt seen is recorded."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []
        self.cancelled: list[str] = []
        self.saw_cancel = threading.Event()
        self.release = threading.Event()

    def complete(self, loaded: str, requests: list[dict[str, Any]]) -> list[list[Completion]]:
        self.seen += [request["messages"][-1]["content"] for request in requests]
        return super().complete(loaded, requests)

    def _one(self, loaded: str, request: dict[str, Any], index: int) -> Completion:
        prompt = request["messages"][-1]["content"]
        if prompt == "gate" and not self.release.wait(30):
            raise TimeoutError("the gate was never released")
        if not prompt.startswith("slow"):
            return super()._one(loaded, request, index)
        print(f"generating {prompt!r}", file=sys.stderr, flush=True)
        for step in range(60_000):
            if request["cancel"].is_set():
                self.cancelled.append(prompt)
                self.saw_cancel.set()
                print(f"cancelled {prompt!r}", file=sys.stderr, flush=True)
                return Completion("cancelled", None, "stop", 1, step)
            if request.get("on_text") is not None:
                request["on_text"](index, "word ")
            time.sleep(0.01)
        return Completion("never cancelled", None, "length", 1, 60_000)


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[Live]:
    with live_server(Settings(home=tmp_path / "home"), SlowBackend()) as server:
        yield server


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "openrft-tiny", "messages": [{"role": "user", "content": text}], **extra}


def sdk_of(live: Live) -> OpenAI:
    return OpenAI(base_url=live.base_url, api_key="x", max_retries=0)


def wait_until(check: Callable[[], bool]) -> None:
    """A bounded wait for the server to reach a state (what is asserted is the state)."""
    deadline = time.monotonic() + 30
    while not check():
        assert time.monotonic() < deadline, "state never reached"
        time.sleep(0.01)


def queued(live: Live) -> int:
    return int(live.app.state.engine.queued())


def held(live: Live, sdk: OpenAI, pool: ThreadPoolExecutor) -> Future[Any]:
    """A request that holds the generation thread until `release` (so others queue)."""
    started = len(live.backend.seen)  # type: ignore[attr-defined]
    future = pool.submit(sdk.chat.completions.create, **chat("gate"))
    wait_until(lambda: len(live.backend.seen) > started)  # type: ignore[attr-defined]
    return future


def streamed_text(live: Live, text: str) -> tuple[str, Exception | None]:
    """What a streaming SDK client heard, and the error it raised (if any)."""
    heard, error = "", None
    with sdk_of(live) as sdk:
        try:
            for chunk in sdk.chat.completions.create(stream=True, **chat(text)):
                heard += "".join(choice.delta.content or "" for choice in chunk.choices)
        except openai.APIError as exc:
            error = exc
    return heard, error


def test_a_stream_in_a_failed_batch_hears_its_text_once_then_an_error(slow: Live) -> None:
    backend: SlowBackend = slow.backend  # type: ignore[assignment]
    with ThreadPoolExecutor(4) as pool, sdk_of(slow) as sdk:
        gate = held(slow, sdk, pool)
        stream = pool.submit(streamed_text, slow, "stream 9 5 3 2 1")
        wait_until(lambda: queued(slow) == 1)
        crash = pool.submit(sdk.chat.completions.create, **chat("__crash__"))
        wait_until(lambda: queued(slow) == 2)  # both will share the next model call
        backend.release.set()
        heard, error = stream.result(timeout=30)
        assert gate.result(timeout=30).choices[0].message.content == "etag"
        with pytest.raises(openai.InternalServerError):
            crash.result(timeout=30)
    assert heard == "9 5 3 2 1"  # once, not "9 5 3 2 19 5 3 2 1"
    assert isinstance(error, openai.APIError) and "not retried" in error.message
    assert backend.seen.count("stream 9 5 3 2 1") == 1  # the retry ran only the crash alone
    assert backend.seen.count("__crash__") == 2


def test_a_client_that_gives_up_cancels_its_generation(slow: Live) -> None:
    backend: SlowBackend = slow.backend  # type: ignore[assignment]
    url = slow.base_url + "/chat/completions"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=chat("slow plain", max_tokens=100_000), timeout=0.5)
    assert backend.saw_cancel.wait(30) and backend.cancelled == ["slow plain"]
    with sdk_of(slow) as sdk:  # the generation thread is free again
        assert sdk.chat.completions.create(**chat("next")).choices[0].message.content == "txen"


def test_a_client_that_leaves_a_stream_cancels_its_generation(slow: Live) -> None:
    backend: SlowBackend = slow.backend  # type: ignore[assignment]
    with sdk_of(slow) as sdk:
        stream = sdk.chat.completions.create(stream=True, **chat("slow streamed"))
        for chunk in stream:
            if any(choice.delta.content for choice in chunk.choices):
                break
        stream.close()
        assert backend.saw_cancel.wait(30) and backend.cancelled == ["slow streamed"]
        assert sdk.chat.completions.create(**chat("next")).choices[0].message.content == "txen"


def test_a_queued_request_whose_client_left_is_never_generated(slow: Live) -> None:
    backend: SlowBackend = slow.backend  # type: ignore[assignment]
    url = slow.base_url + "/chat/completions"
    with ThreadPoolExecutor(2) as pool, sdk_of(slow) as sdk:
        gate = held(slow, sdk, pool)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(url, json=chat("left the queue"), timeout=0.5)
        wait_until(lambda: queued(slow) == 0)  # dropped as soon as the client was gone
        backend.release.set()
        assert gate.result(timeout=30).choices[0].message.content == "etag"
        assert sdk.chat.completions.create(**chat("next")).choices[0].message.content == "txen"
    assert "left the queue" not in backend.seen


def test_a_prompt_past_the_models_context_is_a_400(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    settings = Settings(home=tiny_home(tmp_path_factory))
    with live_server(settings, backend=None) as real, sdk_of(real) as sdk:
        with pytest.raises(openai.BadRequestError) as caught:
            sdk.chat.completions.create(**chat("9" * 32 * 1024, max_tokens=4))
        assert caught.value.code == "context_length_exceeded"
        assert caught.value.param == "messages"
        assert "maximum context length is 256 tokens" in caught.value.message
        reply = sdk.chat.completions.create(**chat("sort 93172:", max_tokens=8, temperature=0))
        assert reply.choices[0].message.content


LAUNCH = """
import sys
import openrft.server
from openrft.cli.main import app
from tests.server.test_chat_faults import SlowBackend

real = openrft.server.create_app
openrft.server.create_app = lambda settings: real(settings, backend=SlowBackend())
app(sys.argv[1:])
"""


def test_sigterm_stops_a_server_in_the_middle_of_a_generation(tmp_path: Path) -> None:
    """`openrft serve` (its own CLI, with the scripted model) gets SIGTERM while a request
    generates for minutes: it cancels the request and exits, well before that generation
    could end."""
    port = free_port()
    command = [sys.executable, "-c", LAUNCH, "serve", "--port", str(port),
               "--home", str(tmp_path / "home"), "--shutdown-timeout", "1"]  # fmt: skip
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until(lambda: _up(base))
        with ThreadPoolExecutor(1) as pool:
            body = chat("slow until stopped", max_tokens=100_000)
            pool.submit(httpx.post, base + "/v1/chat/completions", json=body, timeout=120)
            wait_until(lambda: "generating 'slow until stopped'" in log.read_text())
            server.send_signal(signal.SIGTERM)
            # uvicorn re-raises the signal once it has shut down; the generation alone would
            # have run 10 minutes.
            assert server.wait(timeout=60) == -signal.SIGTERM
    finally:
        server.kill()
        server.wait()
    said = log.read_text()
    assert "cancelled 'slow until stopped'" in said  # the generation saw its cancel event
    assert "Application shutdown complete" in said


def _up(base: str) -> bool:
    try:
        return httpx.get(base + "/health").status_code == 200
    except httpx.HTTPError:
        return False
