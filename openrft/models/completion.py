"""The completion seam: the one way training, serving and eval sampling reach a model.

    Completer.chat_completions(requests)       serving and eval sampling: typed chat requests
                                               in, per request its `n` completions or its error
    Completer.rollouts(prompts, n, seed, ...)  training: `n` samples per prompt, token ids kept
    Completer.sync_weights(model)              training: called after every optimizer step

`openrft.models.local.LocalCompleter` is the in-process engine over a loaded model
(transformers generate): the trainer, `openrft.serve.backend.TorchBackend` and
`openrft.evals.sampling.LocalSampler` all call it. An engine in another process or on another
server (vLLM, SGLang) implements the same three calls; its `sync_weights` copies the trainer's
weights (or its LoRA adapter) over, where the in-process engine shares them.

What a completer may assume: every request was checked at the wire before it joined a batch
(`openrft.server.chat_checks`). What it guarantees: a request that still cannot be served (its
messages do not render with the model's template, its prompt fills the context) is that
request's error in the answers, never the batch's; an exception from `chat_completions` means
the model call itself failed (the serving batcher then runs the requests one by one).

This module is the contract only and imports no torch, so the server can name its types.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from openrft.errors import OpenRFTError

if TYPE_CHECKING:
    from openrft.models.sampling import Rollouts

__all__ = [
    "ChatAnswer",
    "ChatPrompt",
    "ChatRequest",
    "Completer",
    "Completion",
    "OnText",
    "RolloutSettings",
]

OnText = Callable[[int, str], None]
"""Called with (choice index, new text), on the generation thread."""


@dataclass
class ChatRequest:
    """One chat completion request, as the server has checked it (`server.chat_checks`)."""

    messages: list[dict[str, Any]]
    n: int = 1
    max_tokens: int | None = None
    """None: the engine's default budget."""
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    response_format: dict[str, Any] | None = None
    tools: list[dict[str, Any]] | None = None
    stop: list[str] | None = None
    reasoning_effort: str | None = None
    """Bounds a thinking section (`openrft.models.thinking`); ignored by other models."""
    on_text: OnText | None = None
    """Streaming: called with (choice index, new text) as tokens come (not with `tools`)."""
    cancel: threading.Event | None = None
    """Set when nobody waits for the answer any more: generation stops at the next token."""


@dataclass
class Completion:
    text: str
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: Literal["stop", "length", "tool_calls"] = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    """Of `completion_tokens`, those spent in a thinking section (not in `text`)."""


ChatAnswer = list[Completion] | OpenRFTError
"""One request's answer: its `n` completions, or the error it alone gets."""


@dataclass(frozen=True)
class ChatPrompt:
    """A training row's prompt: rendered by the engine with the model's own chat template."""

    messages: list[dict[str, Any]]
    tools: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class RolloutSettings:
    """How a job samples its rollouts (and its validation answers)."""

    max_new_tokens: int
    temperature: float
    schema: dict[str, Any] | None = None
    """A `response_format` JSON schema the samples are constrained to (a thinking section is
    then switched off, as for a structured chat request)."""
    think_limit: int | None = None
    """A thinking model's bound on thinking tokens (J2); None leaves it unbounded."""


class Completer(Protocol):
    """A model that answers chat requests and draws rollouts (the module docstring)."""

    @property
    def context_length(self) -> int | None:
        """The model's context in tokens, where known."""
        ...

    def chat_completions(self, requests: Sequence[ChatRequest]) -> list[ChatAnswer]:
        """Per request, in order: its `n` completions, or the error it alone gets."""
        ...

    def rollouts(
        self, prompts: Sequence[ChatPrompt], n: int, seed: int, settings: RolloutSettings
    ) -> Rollouts:
        """`n` samples per prompt, grouped (row r is prompt r // n), drawn from `seed`."""
        ...

    def sync_weights(self, model: Any) -> None:
        """The trainer's model after an optimizer step: later rollouts must come from it."""
        ...
