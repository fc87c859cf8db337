"""The in-process engine behind the completion seam (`completion.Completer`): transformers
generate over a loaded model, for training rollouts, serving and eval sampling alike.

Chat requests go to `generate.chat_answers` (batched by sampling settings, per-request errors);
rollouts render each prompt with the model's chat template and sample with token ids kept
(`sampling.sample`). The trainer hands this engine the very module it optimises, so
`sync_weights` has nothing to copy. Not thread-safe: one call at a time (serving runs every
call on its one generation thread; eval sampling holds a lock).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from openrft.models.chat import render_prompt
from openrft.models.completion import ChatAnswer, ChatPrompt, ChatRequest, RolloutSettings
from openrft.models.generate import chat_answers, context_length
from openrft.models.registry import LoadedModel, load_model
from openrft.models.sampling import Rollouts, sample

__all__ = ["LocalCompleter", "load_completer"]


class LocalCompleter:
    def __init__(self, loaded: LoadedModel):
        self.loaded = loaded

    @property
    def context_length(self) -> int | None:
        return context_length(self.loaded)

    def chat_completions(self, requests: Sequence[ChatRequest]) -> list[ChatAnswer]:
        return chat_answers(self.loaded, requests)

    def rollouts(
        self, prompts: Sequence[ChatPrompt], n: int, seed: int, settings: RolloutSettings
    ) -> Rollouts:
        structured = settings.schema is not None  # a constrained answer skips the thinking
        texts = [
            render_prompt(self.loaded.tokenizer, p.messages, p.tools, structured=structured)
            for p in prompts
        ]
        return sample(
            self.loaded,
            texts,
            n=n,
            max_new_tokens=settings.max_new_tokens,
            temperature=settings.temperature,
            schema=settings.schema,
            seed=seed,
            think_limit=settings.think_limit,
        )

    def sync_weights(self, model: Any) -> None:
        """The trainer's module is this engine's own (shared, updated in place): nothing to
        copy. A module the trainer swapped in (wrapped, reloaded) is taken as it is."""
        self.loaded.model = model


def load_completer(name: str, *, home: Path) -> LocalCompleter:
    """A model loaded for serving (bf16 on CUDA), behind the seam."""
    return LocalCompleter(load_model(name, home=home))
