"""Streamed text: what a listener hears is the finished completion's text, or a prefix of it."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from openrft.models.generate import ChatRequest, chat_completions
from openrft.models.registry import load_model
from openrft.models.streaming import safe_end
from openrft.models.tiny import NAME

USER = [{"role": "user", "content": "sort 93172:"}]


@pytest.mark.parametrize(
    ("text", "stops", "expected"),
    [
        ("hello", [], (5, False)),
        ("hello wor", ["world"], (6, False)),  # "wor" could begin "world": held back
        ("hello world!", ["world"], (6, True)),
        ("ab", ["abcd", "c"], (0, False)),
        ("abc", ["abcd", "c"], (0, False)),  # "c" is found, but "abcd" may still start at 0
        ("abce", ["abcd", "c"], (2, True)),
        ("xyz", ["", "q"], (3, False)),
        ("", ["stop"], (0, False)),
    ],
)
def test_safe_end(text: str, stops: list[str], expected: tuple[int, bool]) -> None:
    assert safe_end(text, stops) == expected


def listen() -> tuple[dict[int, str], object]:
    heard: dict[int, str] = defaultdict(str)
    calls: list[int] = []

    def on_text(choice: int, text: str) -> None:
        assert text
        heard[choice] += text
        calls.append(choice)

    on_text.calls = calls  # type: ignore[attr-defined]
    return heard, on_text


@pytest.mark.parametrize(
    "settings",
    [
        {"n": 3, "max_tokens": 12, "seed": 1},
        {"n": 2, "max_tokens": 12, "temperature": 0.0},
        {"n": 4, "max_tokens": 12, "seed": 2, "stop": ["3", "79"]},
    ],
)
def test_listeners_hear_the_completion_text_as_it_is_generated(
    home: Path, settings: dict[str, object]
) -> None:
    loaded = load_model(NAME, home=home)
    heard, on_text = listen()
    [streamed] = chat_completions(loaded, [ChatRequest(USER, on_text=on_text, **settings)])  # type: ignore[arg-type]
    [plain] = chat_completions(loaded, [ChatRequest(USER, **settings)])  # type: ignore[arg-type]
    assert [c.text for c in streamed] == [c.text for c in plain]  # listening changes nothing
    for choice, completion in enumerate(streamed):
        assert completion.text.startswith(heard[choice])
        if not settings.get("stop"):
            assert heard[choice] == completion.text
    assert len(on_text.calls) > len(streamed)  # type: ignore[attr-defined]  # token by token


def test_only_listening_requests_of_a_batch_hear_anything(home: Path) -> None:
    loaded = load_model(NAME, home=home)
    heard, on_text = listen()
    tool = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}
    requests = [
        ChatRequest(USER, n=2, max_tokens=8, on_text=on_text),
        ChatRequest(USER, n=2, max_tokens=8),
        ChatRequest(USER, n=2, max_tokens=8, on_text=on_text, tools=[tool]),  # parsed whole
    ]
    answers = chat_completions(loaded, requests)
    assert set(heard) <= {0, 1}
    for choice in (0, 1):
        assert heard[choice] == answers[0][choice].text
