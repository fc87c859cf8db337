"""openrft-tiny's architecture, built in code (untrained), made to say scripted turns.

The episode loop's control flow needs a model whose choices a test decides. `ScriptedTiny`
runs the real sampling path (`sample_turns`: batched generate over token ids, seeded draws)
on a real 2-layer Llama; only a logits processor (`Force`) leaves one allowed token per step,
the next one of the text the script chose for that row. The script reads the row's context
as text and returns the turn's text.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import torch

from openrft.models.completion import RolloutSettings
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Turn, key_generator, sample_turns
from openrft.models.tiny import build_model, build_tokenizer

Script = Callable[[str], str]
"""The context so far (the prompt, earlier turns, tool messages) -> this turn's text."""


def tiny_loaded(seed: int = 0) -> LoadedModel:
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed)
    model.config.max_position_embeddings = 4096  # episodes outgrow the demo's 256
    model.eval()
    return LoadedModel(model, tokenizer, "openrft-tiny", "cpu")


class Force:
    """A logits processor: row r may only say `targets[r]`, then its end-of-turn token."""

    def __init__(self, targets: list[list[int]], eos: int):
        self.targets, self.eos, self.start = targets, eos, -1

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if self.start < 0:
            self.start = input_ids.shape[1]
        step = input_ids.shape[1] - self.start
        forced = torch.full_like(scores, float("-inf"))
        for row, target in enumerate(self.targets):
            forced[row, target[step] if step < len(target) else self.eos] = 0.0
        return forced


class ScriptedTiny:
    """A `TurnModel` whose turns follow `script`; records each round's batch."""

    def __init__(self, script: Script, loaded: LoadedModel | None = None, stop: int | None = None):
        self.loaded = loaded or tiny_loaded()
        self.stop = stop if stop is not None else self.loaded.tokenizer.eos_token_id
        """The token each scripted turn ends with."""
        self.tokenizer = self.loaded.tokenizer
        self.device = "cpu"
        self.context_length: int | None = 4096
        self.script = script
        self.rounds: list[list[str]] = []
        """Per generate call, each row's context text (in batch order)."""
        self.prompts: list[list[list[int]]] = []
        """Per generate call, each row's prompt ids, as given."""
        self.turned: list[list[Turn]] = []
        self.on_round: Callable[[list[str]], None] | None = None

    def turns(
        self, prompts: list[list[int]], keys: list[str], settings: RolloutSettings
    ) -> list[Turn]:
        contexts = [self.tokenizer.decode(ids) for ids in prompts]
        self.rounds.append(contexts)
        self.prompts.append([list(p) for p in prompts])
        if self.on_round is not None:
            self.on_round(contexts)
        targets = [self._ids(self.script(text)) for text in contexts]
        turns = sample_turns(
            self.loaded,
            prompts,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            generators=[key_generator(key) for key in keys],
            processors=[Force(targets, self.stop)],
        )
        self.turned.append(turns)
        return turns

    def _ids(self, text: str) -> list[int]:
        ids: list[int] = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return ids


def call(name: str, **arguments: Any) -> str:
    """A tool call in openrft-tiny's format."""
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"
