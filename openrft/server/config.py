"""Server settings from the environment and the `openrft serve` flags, resolved once."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from openrft.errors import InvalidRequestError
from openrft.jobs.models import DEFAULT_BASE_MODELS, parse_base_models
from openrft.store.files import MAX_FILE_BYTES, default_home

__all__ = ["Settings", "parse_keys"]

_PROJECT = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Settings:
    home: Path = field(default_factory=default_home)
    api_keys: dict[str, str] = field(default_factory=dict)
    """API key -> project. Empty: no auth, loopback only, every request is project "default"."""
    judge_key: str | None = None
    """`OPENRFT_JUDGE_API_KEY`: with it, a chat request may name the project it judges for
    (`OpenRFT-Project`) and is answered as that project (see `openrft.server.auth`)."""
    max_upload_bytes: int = MAX_FILE_BYTES
    max_body_bytes: int = 32 * 1024 * 1024
    """Cap on any non-upload request body (JSON)."""
    lease_seconds: float = 30.0
    """How long a job's lease lasts without a heartbeat before another worker may take it."""
    batch_window_ms: float = 5.0
    """How long the serving engine gathers concurrent chat requests into one batch."""
    max_batch: int = 32
    max_batch_tokens: int = 16384
    """Cap on one batch's size in tokens (the sum of its requests' estimated sizes, see
    `openrft.serve.batching`); the first request of a batch always goes, however large."""
    max_queued_tokens: int = 262144
    """Cap on the tokens waiting for a batch, over all models: a request that would pass it
    is refused with a 503, as OpenAI answers when overloaded. 0: no cap."""
    generation: str = "process"
    """Where the real model generates: "process" (a child process of its own, so the model
    never starves the HTTP event loop) or "thread" (a thread of the server's process, the
    old engine). A scripted backend handed to `create_app` always runs on a thread."""
    start_worker: bool = True
    """Whether this server runs a job worker (`openrft serve --no-worker`: the API alone)."""
    max_running: int = 1
    """Jobs its worker trains at once, each in its own child (`OPENRFT_MAX_RUNNING`)."""
    base_models: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_BASE_MODELS))
    """The base models requests may name: name -> the name itself (builtin or hub id) or a
    directory. `OPENRFT_BASE_MODELS="openrft-tiny,smol=/srv/models/smol"`; paths never work."""

    @classmethod
    def from_env(cls, home: Path | None = None) -> Settings:
        env = os.environ
        settings = cls(home=home or default_home(), api_keys=keys_from_env())
        settings.judge_key = env.get("OPENRFT_JUDGE_API_KEY") or None
        if cap := env.get("OPENRFT_MAX_FILE_BYTES"):
            settings.max_upload_bytes = int(cap)
        if lease := env.get("OPENRFT_LEASE_SECONDS"):
            settings.lease_seconds = _seconds("OPENRFT_LEASE_SECONDS", lease)
        if window := env.get("OPENRFT_BATCH_WINDOW_MS"):
            settings.batch_window_ms = float(window)
        for name, attribute in _SERVING_INTS.items():
            if text := env.get(name):
                setattr(settings, attribute, _whole(name, text, attribute != "max_queued_tokens"))
        if gpus := env.get("OPENRFT_WORKER_GPUS", "").strip():  # read per job; checked now
            _whole("OPENRFT_WORKER_GPUS", gpus, False)
        if generation := env.get("OPENRFT_GENERATION"):
            settings.generation = _generation(generation)
        if "OPENRFT_BASE_MODELS" in env:
            settings.base_models = parse_base_models(env["OPENRFT_BASE_MODELS"].split(","))
        return settings


_SERVING_INTS = {
    "OPENRFT_MAX_BATCH": "max_batch",
    "OPENRFT_MAX_BATCH_TOKENS": "max_batch_tokens",
    "OPENRFT_MAX_QUEUED_TOKENS": "max_queued_tokens",
    "OPENRFT_MAX_RUNNING": "max_running",
}


def _whole(name: str, text: str, positive: bool) -> int:
    if not text.strip().isdigit() or (positive and int(text) < 1):
        least = "≥ 1" if positive else "≥ 0"
        raise InvalidRequestError(f"{name} must be a whole number {least}, not {text!r}")
    return int(text)


def _seconds(name: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise InvalidRequestError(f"{name} must be a number of seconds > 0, not {text!r}")
    return value


def _generation(text: str) -> str:
    if text not in ("process", "thread"):
        raise InvalidRequestError(f'OPENRFT_GENERATION is "process" or "thread", not {text!r}')
    return text


def keys_from_env() -> dict[str, str]:
    """`OPENRFT_API_KEYS="key1:projectA,key2:projectB"` and/or `OPENRFT_API_KEYS_FILE`
    (one `key:project` per line, `#` comments)."""
    keys = parse_keys(os.environ.get("OPENRFT_API_KEYS", "").split(","))
    if path := os.environ.get("OPENRFT_API_KEYS_FILE"):
        keys.update(parse_keys(Path(path).read_text().splitlines()))
    return keys


def parse_keys(entries: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for entry in (entry.strip() for entry in entries):
        if not entry or entry.startswith("#"):
            continue
        key, sep, project = entry.rpartition(":")
        if not sep or not key or not _PROJECT.match(project):
            raise InvalidRequestError(
                "API keys are written key:project (project: letters, digits, - and _)"
            )
        keys[key] = project
    return keys
