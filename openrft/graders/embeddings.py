"""The embeddings client for `text_similarity` `cosine`: any OpenAI-compatible `/v1/embeddings`.

Configured by `OPENRFT_EMBEDDINGS_BASE_URL` (required), `OPENRFT_EMBEDDINGS_API_KEY` and
`OPENRFT_EMBEDDINGS_MODEL` (default `text-embedding-3-large`, the model OpenAI uses).
A failure to embed is a grading failure (`other_error`), never a crash of the run.
"""

from __future__ import annotations

import os
from typing import Any


class EmbeddingsError(RuntimeError):
    """The embeddings endpoint is not configured or did not answer usefully."""


class EmbeddingsClient:
    def __init__(self, base_url: str, *, api_key: str | None = None, model: str | None = None):
        from openai import AsyncOpenAI

        self.model = model or "text-embedding-3-large"
        self._client: Any = AsyncOpenAI(base_url=base_url, api_key=api_key or "unused")

    @classmethod
    def from_env(cls) -> EmbeddingsClient:
        base_url = os.environ.get("OPENRFT_EMBEDDINGS_BASE_URL")
        if not base_url:
            raise EmbeddingsError(
                "the cosine metric needs an embeddings endpoint: set OPENRFT_EMBEDDINGS_BASE_URL "
                "(an OpenAI-compatible /v1 base URL)"
            )
        return cls(
            base_url,
            api_key=os.environ.get("OPENRFT_EMBEDDINGS_API_KEY"),
            model=os.environ.get("OPENRFT_EMBEDDINGS_MODEL"),
        )

    async def embed(self, texts: list[str]) -> list[list[float]]:
        try:
            response = await self._client.embeddings.create(model=self.model, input=texts)
        except Exception as exc:  # any transport or HTTP failure is reported as data
            raise EmbeddingsError(f"embeddings request failed: {exc}") from exc
        vectors = [list(entry.embedding) for entry in sorted(response.data, key=lambda e: e.index)]
        if len(vectors) != len(texts):
            raise EmbeddingsError(f"expected {len(texts)} embeddings, got {len(vectors)}")
        return vectors

    async def aclose(self) -> None:
        await self._client.close()
