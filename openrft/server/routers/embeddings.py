"""`/v1/embeddings`: openrft's simple deterministic embeddings (mean-pooled input-embedding
rows of the model, L2-normalised; see `openrft.serve.backend`), float or base64."""

from __future__ import annotations

import base64
import struct
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from openrft.errors import InvalidRequestError
from openrft.serve.backend import normalize
from openrft.server.auth import project
from openrft.server.lists import list_object
from openrft.server.wire import EmbeddingsRequest

router = APIRouter()
Project = Annotated[str, Depends(project)]


def _shorten(vector: list[float], dimensions: int | None) -> list[float]:
    if dimensions is None:
        return vector
    if dimensions > len(vector):
        raise InvalidRequestError(
            f"dimensions must be at most {len(vector)} for this model", param="dimensions"
        )
    return normalize(vector[:dimensions])


def _encoded(vector: list[float], encoding: str | None) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
    return vector


@router.post("/embeddings")
async def embeddings(body: EmbeddingsRequest, request: Request, project: Project) -> dict[str, Any]:
    engine = request.app.state.engine
    texts = [body.input] if isinstance(body.input, str) else body.input
    vectors, tokens = await engine.embed(engine.resolve(project, body.model), texts)
    data = [
        {
            "object": "embedding",
            "index": index,
            "embedding": _encoded(_shorten(vector, body.dimensions), body.encoding_format),
        }
        for index, vector in enumerate(vectors)
    ]
    usage = {"prompt_tokens": tokens, "total_tokens": tokens}
    return list_object(data, model=body.model, usage=usage)
