"""Bearer-key auth and project scoping (decision H2).

With keys configured, each request's `Authorization: Bearer <key>` names its project and
everything it sees (files, jobs, models, events) is that project's: another project's ids
answer 404 as unknown ones do. With no keys, every request is project "default" and the
server refuses to bind anywhere but loopback (see `openrft.cli.serve`). Keys are never logged.

Judges: graders that call this server as their judge send the judge's key
(`OPENRFT_JUDGE_API_KEY`) and `OpenRFT-Project: <the project being graded>`. A chat request
with exactly that key is answered as the named project, so a project's graders judge with its
own `ft:` models and never another's. The header means nothing with any other key or route.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from openrft.errors import AuthenticationError
from openrft.graders import PROJECT_HEADER

__all__ = ["DEFAULT_PROJECT", "project"]

DEFAULT_PROJECT = "default"


async def project(request: Request) -> str:
    """FastAPI dependency: the caller's project, or 401. Async though it never waits: FastAPI
    runs a plain function dependency on a worker thread, a thread hop on every request."""
    keys: dict[str, str] = request.app.state.settings.api_keys
    if not keys:
        return DEFAULT_PROJECT
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthenticationError(
            "You didn't provide an API key. Send it as 'Authorization: Bearer <key>'.",
            code="missing_api_key",
        )
    for key, name in keys.items():
        # Constant-time per key: the response time says nothing about how close a guess was.
        if hmac.compare_digest(key.encode(), token.strip().encode()):
            return _judged_for(request, key, keys) or name
    raise AuthenticationError("Incorrect API key provided.", code="invalid_api_key")


def _judged_for(request: Request, key: str, keys: dict[str, str]) -> str | None:
    """The project a judge's chat request grades for, when the key is the judge's own."""
    judge_key = request.app.state.settings.judge_key
    named = request.headers.get(PROJECT_HEADER)
    if not named or named == DEFAULT_PROJECT or not judge_key:
        return None
    if not hmac.compare_digest(key.encode(), judge_key.encode()):
        return None
    if not request.url.path.rstrip("/").endswith("/chat/completions"):
        return None
    if named not in set(keys.values()):
        raise AuthenticationError(
            f"{PROJECT_HEADER} names no project of this server: {named[:64]!r}",
            code="invalid_project",
        )
    return named
