"""`openrft models list` / `add` and an unknown model, as a user runs them: the real console
script in a subprocess, against a Hugging Face cache laid out here and, for the online case, a
hub on loopback that has no repositories (never the network)."""

from __future__ import annotations

import hashlib
import json
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


def _git_oid(data: bytes) -> str:
    """A file's git blob id, the hub's ETag for a non-LFS file."""
    return hashlib.sha1(b"blob %d\x00" % len(data) + data).hexdigest()


class _OneRepo(BaseHTTPRequestHandler):
    """A hub on loopback holding one model repository at one revision: the model info API and
    `resolve/` for its files, as huggingface_hub's download code asks for them."""

    files: ClassVar[dict[str, bytes]] = {}
    seen: ClassVar[list[str]] = []
    REPO, REV = "someorg/tiny-chat", "b" * 40

    def do_GET(self) -> None:
        self.seen.append(f"{self.command} {self.path}")
        path = self.path.split("?")[0]
        prefix = f"/{self.REPO}/resolve/{self.REV}/"
        if path == f"/api/models/{self.REPO}/revision/main":
            siblings = [{"rfilename": name} for name in sorted(self.files)]
            body = json.dumps({"id": self.REPO, "sha": self.REV, "siblings": siblings}).encode()
            self._reply(200, body, {"Content-Type": "application/json"})
        elif path.rstrip("/") == f"/api/models/{self.REPO}/tree/{self.REV}":
            tree = [
                {"type": "file", "path": name, "size": len(data), "oid": _git_oid(data)}
                for name, data in sorted(self.files.items())
            ]
            self._reply(200, json.dumps(tree).encode(), {"Content-Type": "application/json"})
        elif self.path.startswith(prefix) and self.path[len(prefix) :] in self.files:
            data = self.files[self.path[len(prefix) :]]
            etag = '"' + _git_oid(data) + '"'
            self._reply(200, data, {"ETag": etag, "X-Repo-Commit": self.REV})
        else:
            self._reply(404, b'{"error":"not found"}', {"X-Error-Code": "RepoNotFound"})

    do_HEAD = do_GET

    def _reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


def test_online_a_hub_id_is_downloaded_by_the_hub_code_once(
    model_dir: Path, tmp_path: Path
) -> None:
    _OneRepo.files = {p.name: p.read_bytes() for p in model_dir.iterdir()}
    _OneRepo.files["pytorch_model.bin"] = b"not wanted: safetensors are there"
    _OneRepo.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _OneRepo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    cache, home = tmp_path / "cache", tmp_path / "home"
    try:
        done = _run("models", "add", _OneRepo.REPO, home=home, HF_HUB_OFFLINE="",
                    HF_ENDPOINT=f"http://127.0.0.1:{server.server_port}", HF_HUB_CACHE=str(cache))  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert done.returncode == 0, (_OneRepo.seen, done.stderr)
    assert done.stdout.strip() == _OneRepo.REPO
    snapshot = cache / "models--someorg--tiny-chat" / "snapshots" / _OneRepo.REV
    assert (snapshot / "model.safetensors").read_bytes() == (
        model_dir / "model.safetensors"
    ).read_bytes()
    assert not (snapshot / "pytorch_model.bin").exists()  # only what a causal LM needs
    fetched = [s.rsplit("/", 1)[1] for s in _OneRepo.seen if s.startswith("GET /someorg/")]
    assert sorted(fetched) == sorted(p.name for p in snapshot.iterdir())  # each file once
    copied = home / "models" / "someorg" / "tiny-chat"
    assert sorted(p.name for p in copied.iterdir()) == sorted(p.name for p in snapshot.iterdir())
    # Offline now, the same id resolves from the home without asking the hub.
    listed = _run("models", "list", home=home, HF_HUB_CACHE=str(cache))
    assert "someorg/tiny-chat" in listed.stdout and "hugging face cache" in listed.stdout
