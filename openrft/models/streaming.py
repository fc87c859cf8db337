"""Text deltas as tokens are generated: what a streamed chat completion sends.

`TextDeltas` is handed to `generate()` as its streamer. Each decoding step gives it one new
token per row; it decodes each listening row so far and calls that row's listeners with the
text they have not seen yet. Text is held back while it could still be cut: an unfinished
multi-byte character, or a tail that could begin a `stop` string. So what was sent is always a
prefix of the finished completion's text, and the caller sends the rest from the completion.
A row ends at any of the model's end-of-turn tokens; a thinking section is never sent (the
same `thinking.split` rule as the finished text).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from openrft.models.completion import OnText
from openrft.models.thinking import ThinkingTags, answer_text, step

__all__ = ["OnText", "Row", "TextDeltas", "safe_end"]


@dataclass
class Row:
    """One generated row: who hears it (listener, choice index) and what it has said."""

    targets: list[tuple[OnText, int]]
    stops: list[str]
    ids: list[int] = field(default_factory=list)
    sent: int = 0
    """Characters already sent."""
    done: bool = False
    thinking: bool = False
    """Inside a thinking section (from the start when the prompt opened it)."""


class TextDeltas:
    """A transformers streamer (`put`/`end`) that turns a batch's new tokens into deltas."""

    def __init__(
        self,
        tokenizer: Any,
        rows: Sequence[Row],
        stops: Collection[int],
        tags: ThinkingTags | None = None,
    ):
        self.tokenizer = tokenizer
        self.rows = rows
        self.stops, self.tags = frozenset(stops), tags
        self._prompt_seen = False

    def put(self, value: Any) -> None:
        if not self._prompt_seen:  # generate() first hands over the prompts
            self._prompt_seen = True
            return
        for row, token in zip(self.rows, value.reshape(-1).tolist(), strict=True):
            if row.done or not row.targets:
                continue
            if token in self.stops:
                row.done = True
                continue
            row.thinking, spoken = step(self.tags, row.thinking, int(token))
            if spoken:
                row.ids.append(int(token))
                self._send(row)

    def end(self) -> None:
        """Nothing to flush: the caller sends what was held back from the finished text."""

    def _send(self, row: Row) -> None:
        text = answer_text(self.tags, self.tokenizer.decode(row.ids, skip_special_tokens=True))
        if text.endswith("\ufffd"):  # a character whose bytes are still coming
            return
        end, row.done = safe_end(text, row.stops)
        if end > row.sent:
            delta = text[row.sent : end]
            row.sent = end
            for listener, choice in row.targets:
                listener(choice, delta)


def safe_end(text: str, stops: Sequence[str]) -> tuple[int, bool]:
    """How much of `text` is final, and whether a stop string has ended it.

    A stop string found in full ends the text where it starts, unless a longer one that
    starts earlier could still complete; a tail that could begin a stop string is held back.
    """
    stops = [stop for stop in stops if stop]
    found = [at for stop in stops if (at := text.find(stop)) >= 0]
    full = min(found) if found else None
    longest = max((len(stop) for stop in stops), default=0)
    partial = next(
        (
            start
            for start in range(max(0, len(text) - longest + 1), len(text))
            if any(
                len(stop) > len(text) - start and stop.startswith(text[start:]) for stop in stops
            )
        ),
        len(text),
    )
    if full is not None and full <= partial:
        return full, True
    return (partial if full is None else min(partial, full)), False
