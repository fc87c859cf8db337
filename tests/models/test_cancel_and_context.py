"""On the real tiny model: a request whose cancel event is set stops at the next token while
its batch neighbours finish; a prompt past the context is refused for that request alone."""

from __future__ import annotations

import threading
from pathlib import Path

from openrft.errors import InvalidRequestError
from openrft.models.generate import ChatRequest, chat_answers, context_length
from openrft.models.registry import load_model
from openrft.models.tiny import NAME

USER = [{"role": "user", "content": "sort 93172:"}]


def test_a_cancelled_request_stops_at_the_next_token_and_its_neighbour_finishes(
    home: Path,
) -> None:
    loaded = load_model(NAME, home=home)
    cancel = threading.Event()
    seen: list[str] = []

    def on_text(choice: int, text: str) -> None:  # the client leaves after its first text
        seen.append(text)
        cancel.set()

    gone = ChatRequest(USER, max_tokens=200, temperature=0, on_text=on_text, cancel=cancel)
    stays = ChatRequest(USER, max_tokens=200, temperature=0, cancel=threading.Event())
    [cut], [whole] = chat_answers(loaded, [gone, stays])  # type: ignore[misc]
    # The flag is read at the next step: the token of the step that set it may still come.
    assert len(seen) <= 2 and len(cut.text) <= 2 and cut.finish_reason == "length"
    assert whole.finish_reason == "stop" and len(whole.text) == 5  # greedy: the same start
    assert whole.text.startswith(cut.text)


def test_sampled_rows_of_a_cancelled_request_stop_and_the_batch_ends(home: Path) -> None:
    loaded = load_model(NAME, home=home)
    cancel = threading.Event()
    cancel.set()  # gone before its first token
    [completions] = chat_answers(
        loaded, [ChatRequest(USER, n=3, max_tokens=200, temperature=1.5, cancel=cancel)]
    )
    assert [c.completion_tokens for c in completions] == [1, 1, 1]  # type: ignore[union-attr]


def test_a_prompt_past_the_context_is_refused_alone(home: Path) -> None:
    loaded = load_model(NAME, home=home)
    assert context_length(loaded) == 256
    long = [{"role": "user", "content": "9" * 300}]
    refused, [answered] = chat_answers(
        loaded, [ChatRequest(long, max_tokens=8), ChatRequest(USER, max_tokens=8, temperature=0)]
    )
    assert isinstance(refused, InvalidRequestError)
    assert refused.code == "context_length_exceeded" and refused.param == "messages"
    assert "maximum context length is 256 tokens" in refused.message
    assert "resulted in 303 tokens" in refused.message  # 300 bytes, the template's 3 specials
    assert answered.text  # type: ignore[union-attr]
