"""`/v1/chat/completions` for base models, fine-tuned models and kept checkpoints.

`response_format`, `tools`, `n`, `stop`, `seed`, `temperature`, `top_p`, `reasoning_effort`
and the token caps go to the model; every other field of the SDK's `CompletionCreateParams`
is accepted and not acted on (docs/server.md). A request is checked whole
(`chat_checks`) before it joins a batch, so a bad one never costs its neighbours anything.
A client that disconnects cancels its request (`openrft.server.disconnect`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from openrft.server.auth import project
from openrft.server.chat_checks import check_chat, token_cap
from openrft.server.chat_stream import live_stream
from openrft.server.chat_wire import chat_object
from openrft.server.disconnect import ClientGone, gone_response, while_connected
from openrft.server.wire import ChatCompletionRequest

router = APIRouter()
Project = Annotated[str, Depends(project)]


def _params(body: ChatCompletionRequest, context: int | None) -> dict[str, Any]:
    stop = [body.stop] if isinstance(body.stop, str) else body.stop
    return {
        "messages": body.messages,
        "n": body.n,
        "max_tokens": token_cap(body, context),
        "temperature": 1.0 if body.temperature is None else body.temperature,
        "top_p": 1.0 if body.top_p is None else body.top_p,
        "seed": body.seed,
        "response_format": body.response_format,
        "tools": body.tools,
        "stop": stop,
        "reasoning_effort": body.reasoning_effort,
    }


@router.post("/chat/completions", response_model=None)
async def chat_completions(
    body: ChatCompletionRequest, request: Request, project: Project
) -> Response:
    engine = request.app.state.engine
    target = engine.resolve(project, body.model)
    check_chat(body)
    params = _params(body, engine.contexts.get(target))
    try:
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            stream = live_stream(engine, target, params, body.model, include_usage)
            return await while_connected(request, stream)
        completions = await while_connected(request, engine.complete(target, params))
    except ClientGone:
        return gone_response()
    # A plain-JSON dict already: skip FastAPI's jsonable_encoder walk (the serving hot path).
    return JSONResponse(chat_object(body.model, completions))
