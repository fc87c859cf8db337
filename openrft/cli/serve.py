"""`openrft serve`: the OpenAI-compatible server and its job worker, in one process.

On SIGTERM or Ctrl-C it stops taking connections, gives requests in flight
`--shutdown-timeout` seconds to finish, then cancels them (a generating request stops at its
next token) and exits: a long generation never keeps the server up.
"""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path
from typing import Annotated

import typer

from openrft.errors import InvalidRequestError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    home: Annotated[
        Path | None, typer.Option(help="State directory (default $OPENRFT_HOME or ./.openrft).")
    ] = None,
    base_model: Annotated[
        list[str] | None,
        typer.Option(
            help="A base model requests may name: NAME (builtin or hub id) or NAME=DIR; "
            "repeatable, added to $OPENRFT_BASE_MODELS (default: openrft-tiny)."
        ),
    ] = None,
    shutdown_timeout: Annotated[
        int,
        typer.Option(help="Seconds requests in flight get to finish on SIGTERM, then cancelled."),
    ] = 5,
) -> None:
    """Serve /v1 (files, fine-tuning jobs, graders, models, chat completions, embeddings)."""
    import uvicorn

    from openrft.jobs.models import parse_base_models
    from openrft.server import Settings, create_app

    settings = Settings.from_env(home)
    settings.base_models.update(parse_base_models(base_model or []))
    if not settings.api_keys:
        if not is_loopback(host):
            raise InvalidRequestError(
                f"refusing to serve on {host} without API keys: set OPENRFT_API_KEYS "
                "(key1:projectA,key2:projectB) or OPENRFT_API_KEYS_FILE, or bind to 127.0.0.1"
            )
        typer.echo(
            "openrft: no API keys configured: every request is project 'default'; "
            "serving on loopback only",
            err=True,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    typer.echo(f"openrft: state in {settings.home.resolve()}; http://{host}:{port}/v1", err=True)
    uvicorn.run(
        create_app(settings),
        host=host,
        port=port,
        log_level="info",
        timeout_graceful_shutdown=max(0, shutdown_timeout),
    )
