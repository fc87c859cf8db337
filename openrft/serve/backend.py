"""What the serving engine calls on a model, behind a protocol so tests can script it.

`TorchBackend` is the real one: each model it loads is an in-process engine behind the
completion seam (`openrft.models.local.LocalCompleter`, the one training and eval sampling
use too), imported on first use, so importing this module imports no torch. Embeddings are
openrft's own simple, deterministic kind: the mean of the model's input-embedding rows for
the text's tokens, L2-normalised. They need no extra model and are
stable for a given checkpoint, but they are bag-of-tokens vectors, far weaker than a trained
embedding model (documented in docs/server.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from openrft.models.completion import ChatAnswer, ChatRequest

if TYPE_CHECKING:
    from openrft.models.local import LocalCompleter

__all__ = ["Backend", "TorchBackend", "normalize"]

Handle = TypeVar("Handle")
"""What `load` returns for a model: the engine keeps it and hands it back, never looks in."""
Request = TypeVar("Request")
"""What `request` builds from a chat's parameters: a `ChatRequest` in process, or a backend's
own envelope for one (a request bound for another process)."""


class Backend(Protocol[Handle, Request]):
    def load(self, target: str) -> Handle: ...

    def request(self, **params: Any) -> Request:
        """A request from the route's checked parameters (`ChatRequest`'s fields)."""
        ...

    def complete(self, loaded: Handle, requests: list[Request]) -> list[ChatAnswer]:
        """Per request, in order: its completions, or the exception it alone gets."""
        ...

    def context_length(self, loaded: Handle) -> int | None: ...

    def embed(self, loaded: Handle, texts: list[str]) -> tuple[list[list[float]], int]: ...


class TorchBackend:
    """The in-process completion engine (`openrft.models.local.LocalCompleter`) per model."""

    def __init__(self, home: Path):
        self.home = home

    def load(self, target: str) -> LocalCompleter:
        from openrft.models.local import load_completer

        return load_completer(target, home=self.home)

    def request(self, **params: Any) -> ChatRequest:
        return ChatRequest(**params)

    def complete(self, loaded: LocalCompleter, requests: list[ChatRequest]) -> list[ChatAnswer]:
        return loaded.chat_completions(requests)  # a request that cannot be served: its error

    def context_length(self, loaded: LocalCompleter) -> int | None:
        return loaded.context_length

    def embed(self, loaded: LocalCompleter, texts: list[str]) -> tuple[list[list[float]], int]:
        import torch

        model, tokenizer = loaded.loaded.model, loaded.loaded.tokenizer
        table = model.get_input_embeddings().weight  # (V, D)
        vectors, tokens = [], 0
        with torch.no_grad():
            for text in texts:
                ids = _encode(tokenizer, text)
                tokens += len(ids)
                if not ids:
                    vectors.append([0.0] * table.shape[1])
                    continue
                mean = table[torch.tensor(ids, device=table.device)].float().mean(dim=0)
                vectors.append(normalize(mean.cpu().tolist()))
        return vectors, tokens


def _encode(tokenizer: Any, text: str) -> list[int]:
    try:
        ids = tokenizer.encode(text, add_special_tokens=False)
    except TypeError:  # a tokenizer without HF's keyword
        ids = tokenizer.encode(text)
    return [int(token) for token in ids]


def normalize(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(value * value for value in vector))
    return [value / norm for value in vector] if norm > 0 else vector
