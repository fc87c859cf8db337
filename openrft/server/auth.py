"""Bearer-key auth and project scoping (decision H2).

With keys configured, each request's `Authorization: Bearer <key>` names its project and
everything it sees (files, jobs, models, events) is that project's: another project's ids
answer 404 as unknown ones do. With no keys, every request is project "default" and the
server refuses to bind anywhere but loopback (see `openrft.cli.serve`). Keys are never logged.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from openrft.errors import AuthenticationError

__all__ = ["DEFAULT_PROJECT", "project"]

DEFAULT_PROJECT = "default"


def project(request: Request) -> str:
    """FastAPI dependency: the caller's project, or 401."""
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
            return name
    raise AuthenticationError("Incorrect API key provided.", code="invalid_api_key")
