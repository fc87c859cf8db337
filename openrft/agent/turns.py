"""What episodes need of a model: a tokenizer, and one turn per prompt of token ids.

`LoadedTurns` is the in-process model's (`sample_turns`: batched generate, ids in and out);
a test or a bench may bring its own `TurnModel` (a scripted one). A model behind another
process (an inference server) cannot run episodes: they keep the sampled token ids.
"""

from __future__ import annotations

from typing import Any, Protocol

from openrft.models.completion import RolloutSettings
from openrft.models.generate import context_length
from openrft.models.registry import LoadedModel
from openrft.models.sampling import Turn, key_generator, sample_turns

__all__ = ["LoadedTurns", "TurnModel", "turn_model"]


class TurnModel(Protocol):
    """What episodes need of a model: its tokenizer, and one turn per prompt of token ids."""

    tokenizer: Any
    device: str
    context_length: int | None

    def turns(
        self, prompts: list[list[int]], keys: list[str], settings: RolloutSettings
    ) -> list[Turn]:
        """One turn per prompt; `keys` (one per prompt) seed each row's draws."""
        ...


class LoadedTurns:
    """A loaded model's turns: `sample_turns`, one generator per row from its key."""

    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded
        self.tokenizer = loaded.tokenizer
        self.device = loaded.device
        self.context_length = context_length(loaded)

    def turns(
        self, prompts: list[list[int]], keys: list[str], settings: RolloutSettings
    ) -> list[Turn]:
        return sample_turns(
            self.loaded,
            prompts,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            generators=[key_generator(key) for key in keys],
            think_limit=settings.think_limit,
        )


def turn_model(model: Any) -> TurnModel:
    """A `TurnModel` from a `LoadedModel`, an in-process completer (`LocalCompleter`, which
    holds one) or a `TurnModel`. Episodes keep token ids, so they need the model itself."""
    if callable(getattr(model, "turns", None)):
        return model
    loaded = getattr(model, "loaded", model)
    if isinstance(loaded, LoadedModel):
        return LoadedTurns(loaded)
    raise TypeError(f"episodes need an in-process model, not {type(model).__name__}")
