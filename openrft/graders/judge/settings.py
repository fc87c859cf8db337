"""Judge settings: where the judge is and how hard to push it (decision G6, issue 4).

Read from the environment by `JudgeSettings.from_env()`; every field can be set in code too.

    OPENRFT_JUDGE_BASE_URL      default http://127.0.0.1:8000/v1 (the openrft server itself)
    OPENRFT_JUDGE_API_KEY       sent as the bearer token
    OPENRFT_JUDGE_CONCURRENCY   requests in flight (32)
    OPENRFT_JUDGE_TIMEOUT       seconds per request (60)
    OPENRFT_JUDGE_MAX_RETRIES   retries after the first try (4)
    OPENRFT_JUDGE_CACHE         auto (cache seeded requests) | on | off
    OPENRFT_JUDGE_CACHE_FILE    a SQLite file that keeps cached answers across runs (unset: memory)
    OPENRFT_JUDGE_MAX_TOKENS    judge-token budget per grading run (unset: uncapped)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
"""The openrft server itself (`openrft serve`), so a local model can judge."""
CacheMode = Literal["auto", "on", "off"]
Number = TypeVar("Number", int, float)


@dataclass(frozen=True)
class JudgeSettings:
    base_url: str = DEFAULT_BASE_URL
    api_key: str | None = None
    concurrency: int = 32
    """Requests in flight at once, per event loop."""
    timeout: float = 60.0
    """Seconds per request (each retry gets its own)."""
    max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    cache: CacheMode = "auto"
    """`auto` caches only requests that carry a seed (a seeded judge is repeatable)."""
    cache_entries: int = 4096
    cache_file: str | None = None
    """A SQLite file that keeps cached answers across processes (None: memory only)."""
    max_tokens: int | None = None
    """Judge-token budget for each grading run that has none of its own (None: uncapped)."""

    @classmethod
    def from_env(cls) -> JudgeSettings:
        env = os.environ.get
        cache = env("OPENRFT_JUDGE_CACHE") or "auto"
        if cache not in ("auto", "on", "off"):
            raise ValueError(f"OPENRFT_JUDGE_CACHE must be auto, on or off, not {cache!r}")
        budget = _env_number("OPENRFT_JUDGE_MAX_TOKENS", int, None)
        return cls(
            base_url=env("OPENRFT_JUDGE_BASE_URL") or DEFAULT_BASE_URL,
            api_key=env("OPENRFT_JUDGE_API_KEY"),
            concurrency=_env_number("OPENRFT_JUDGE_CONCURRENCY", int, 32),
            timeout=_env_number("OPENRFT_JUDGE_TIMEOUT", float, 60.0),
            max_retries=_env_number("OPENRFT_JUDGE_MAX_RETRIES", int, 4),
            cache="on" if cache == "on" else "off" if cache == "off" else "auto",
            max_tokens=budget,
            cache_file=env("OPENRFT_JUDGE_CACHE_FILE") or None,
        )


def _env_number(name: str, kind: Callable[[str], Number], default: Any) -> Any:
    text = os.environ.get(name)
    if not text:
        return default
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{name} must be a number, not {text!r}") from None
