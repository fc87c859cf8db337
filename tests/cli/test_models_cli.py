"""`openrft models list` / `add` and an unknown model, as a user runs them: the real console
script in a subprocess, against a Hugging Face cache laid out here and, for the online case, a
hub on loopback that has no repositories (never the network)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from tests.models.gguf_file import chat_model
from tests.models.test_resolution import hub_cache

OPENRFT = [sys.executable, "-m", "openrft.cli"]


def _run(*args: str, home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "COLUMNS": "200", "OPENRFT_HOME": str(home), "HF_HUB_OFFLINE": "1"}
    full.update(env)
    full = {key: value for key, value in full.items() if value != ""}
    return subprocess.run([*OPENRFT, *args], capture_output=True, text=True, timeout=180, env=full)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    model, tokenizer = chat_model()
    folder = tmp_path_factory.mktemp("models") / "tiny-chat"
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_add_then_list_shows_the_model_by_the_printed_name(model_dir: Path, tmp_path: Path) -> None:
    cache = tmp_path / "hf-cache"
    hub_cache(cache, "someorg/cached-chat", model_dir)
    home = tmp_path / "home"
    added = _run("models", "add", str(model_dir), home=home)
    assert added.returncode == 0, added.stderr
    assert added.stdout.strip() == "tiny-chat"
    listed = _run("models", "list", home=home, HF_HUB_CACHE=str(cache))
    assert listed.returncode == 0, listed.stderr
    rows = {line.split("│")[1].strip(): line for line in listed.stdout.splitlines() if "│" in line}
    assert (
        "imported" in rows["tiny-chat"] and str(home / "models" / "tiny-chat") in rows["tiny-chat"]
    )
    assert "hugging face cache" in rows["someorg/cached-chat"]
    assert "builtin" in rows["openrft-tiny"] and "alias" in rows["smollm2-135m-instruct"]


def test_an_unknown_model_is_one_line_naming_the_sources(tmp_path: Path) -> None:
    done = _run("models", "add", "someorg/not-there", home=tmp_path, HF_HUB_CACHE=str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert done.stderr.startswith("openrft: error: model 'someorg/not-there' not found; tried")
    assert "offline, not downloaded" in done.stderr and "smollm2-135m-instruct" in done.stderr


class _NoRepos(BaseHTTPRequestHandler):
    """A hub without repositories: 404 with the hub's error code, to every request."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = b'{"error":"Repository not found"}'
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_HEAD = do_GET

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def empty_hub() -> Iterator[tuple[str, list[str]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _NoRepos)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _NoRepos.seen = []
    try:
        yield f"http://127.0.0.1:{server.server_port}", _NoRepos.seen
    finally:
        server.shutdown()
        server.server_close()


def test_online_an_id_the_hub_lacks_fails_at_once_with_its_reason(
    empty_hub: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, seen = empty_hub
    done = _run("models", "add", "someorg/not-there", home=tmp_path, HF_HUB_OFFLINE="",
                HF_ENDPOINT=url, HF_HUB_CACHE=str(tmp_path / "cache"))  # fmt: skip
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert "the hub has no such repository" in done.stderr, done.stderr
    looks = [path for path in seen if "someorg/not-there" in path]
    assert len(looks) == 1, seen  # one look at the hub, no retries
