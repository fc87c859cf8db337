"""What the serving engine calls on a model, behind a protocol so tests can script it.

`TorchBackend` is the real one: `openrft.models` for loading and generation, imported on
first use. Embeddings are openrft's own simple, deterministic kind: the mean of the model's
input-embedding rows for the text's tokens, L2-normalised. They need no extra model and are
stable for a given checkpoint, but they are bag-of-tokens vectors, far weaker than a trained
embedding model (documented in docs/server.md).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Protocol

__all__ = ["Backend", "TorchBackend", "normalize"]


class Backend(Protocol):
    def load(self, target: str) -> Any: ...

    def request(self, **params: Any) -> Any: ...

    def complete(self, loaded: Any, requests: list[Any]) -> list[Any]:
        """Per request, in order: its completions, or the exception it alone gets."""
        ...

    def embed(self, loaded: Any, texts: list[str]) -> tuple[list[list[float]], int]: ...


class TorchBackend:
    def __init__(self, home: Path):
        self.home = home

    def load(self, target: str) -> Any:
        from openrft.models.registry import load_model

        return load_model(target, home=self.home)

    def request(self, **params: Any) -> Any:
        from openrft.models.generate import ChatRequest

        return ChatRequest(**params)

    def complete(self, loaded: Any, requests: list[Any]) -> list[Any]:
        from openrft.models.generate import chat_answers

        return chat_answers(loaded, requests)  # a request that cannot be served: its error

    def context_length(self, loaded: Any) -> int | None:
        from openrft.models.generate import context_length

        return context_length(loaded)

    def embed(self, loaded: Any, texts: list[str]) -> tuple[list[list[float]], int]:
        import torch

        table = loaded.model.get_input_embeddings().weight  # (V, D)
        vectors, tokens = [], 0
        with torch.no_grad():
            for text in texts:
                ids = _encode(loaded.tokenizer, text)
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
