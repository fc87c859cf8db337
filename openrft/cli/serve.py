"""`openrft serve`: the OpenAI-compatible server and its job worker, in one process
(`--no-worker`: the API alone, for a host whose jobs `openrft worker` processes run).

The port is bound first: a busy or impossible port is one line and exit code 2, before the
store is opened (or migrated) and before the worker starts. On SIGTERM or Ctrl-C it stops
taking connections, gives requests in flight `--shutdown-timeout` seconds to finish, then
cancels them (a generating request stops at its next token) and exits: a long generation
never keeps the server up.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import socket
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from openrft import heap
from openrft.errors import InvalidRequestError

if TYPE_CHECKING:
    from openrft.server import Settings

BASE_MODEL_HELP = (
    "A base model requests may name: NAME (builtin or hub id) or NAME=DIR; "
    "repeatable, added to $OPENRFT_BASE_MODELS (default: openrft-tiny)."
)
MAX_RUNNING_HELP = (
    "Jobs this worker trains at once, each in its own process (default $OPENRFT_MAX_RUNNING or 1)."
)


def apply_max_running(settings: Settings, max_running: int | None) -> None:
    """`--max-running` over `OPENRFT_MAX_RUNNING` (already in `settings`), checked."""
    if max_running is None:
        return
    if max_running < 1:
        raise InvalidRequestError(
            f"--max-running {max_running}: a worker runs at least 1 job at a time "
            "(for an API without a worker: openrft serve --no-worker)"
        )
    settings.max_running = max_running


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve_command(
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port (0: any free one).")] = 8000,
    home: Annotated[
        Path | None, typer.Option(help="State directory (default $OPENRFT_HOME or ./.openrft).")
    ] = None,
    base_model: Annotated[list[str] | None, typer.Option(help=BASE_MODEL_HELP)] = None,
    shutdown_timeout: Annotated[
        int,
        typer.Option(help="Seconds requests in flight get to finish on SIGTERM, then cancelled."),
    ] = 5,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Train jobs in this process too (--no-worker: the API only; "
            "`openrft worker` processes train).",
        ),
    ] = True,
    max_running: Annotated[int | None, typer.Option(help=MAX_RUNNING_HELP)] = None,
) -> None:
    """Serve /v1 (files, fine-tuning jobs, graders, models, chat completions, embeddings)."""
    from openrft.jobs.models import parse_base_models
    from openrft.server import Settings, create_app
    from openrft.store.engine import database_url

    settings = Settings.from_env(home)
    database_url(settings.home)  # a bad OPENRFT_DATABASE_URL is one line, before the port
    settings.base_models.update(parse_base_models(base_model or []))
    apply_max_running(settings, max_running)
    settings.start_worker = worker
    if not settings.api_keys and not is_loopback(host):
        raise InvalidRequestError(
            f"refusing to serve on {host} without API keys: set OPENRFT_API_KEYS "
            "(key1:projectA,key2:projectB) or OPENRFT_API_KEYS_FILE, or bind to 127.0.0.1"
        )
    listener = bind(host, port)
    port = listener.getsockname()[1]  # --port 0: the one the system chose
    if not settings.api_keys:
        typer.echo(
            "openrft: no API keys configured: every request is project 'default'; "
            "serving on loopback only",
            err=True,
        )
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    jobs = f"up to {settings.max_running} job(s) at once" if worker else "no worker"
    typer.echo(
        f"openrft: state in {settings.home.resolve()}; http://{host}:{port}/v1; {jobs}", err=True
    )
    with listener:
        _run(create_app(settings), listener, max(0, shutdown_timeout))


def _run(app: Any, listener: socket.socket, shutdown_timeout: int) -> None:
    """uvicorn on the bound socket (what `uvicorn.run` does after binding its own)."""
    import uvicorn

    host, port = listener.getsockname()[:2]
    config = uvicorn.Config(
        app, host=host, port=port, log_level="info", timeout_graceful_shutdown=shutdown_timeout
    )
    config.load()  # its imports, before they are frozen
    heap.settle()  # what exists now lives as long as the server: out of the collector's sight
    server = uvicorn.Server(config)
    with contextlib.suppress(KeyboardInterrupt):  # as in `uvicorn.run`: Ctrl-C stops it
        server.run(sockets=[listener])
    if not server.started:
        raise typer.Exit(3)  # uvicorn said why (e.g. the app's startup failed)


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or one clear error (port busy, out of range, ...)."""
    if not 0 <= port <= 65535:
        raise InvalidRequestError(f"--port {port}: a TCP port is 1 to 65535 (0: any free one)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except OSError as exc:  # gaierror: an unknown host name
        raise InvalidRequestError(f"--host {host}: cannot bind it ({exc.strerror})") from exc
    listener = socket.socket(family, kind, proto)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind(address)
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        if exc.errno == errno.EADDRINUSE:
            raise InvalidRequestError(
                f"port {port} on {host} is already in use (another server?): "
                "stop it or pick another with --port"
            ) from exc
        raise InvalidRequestError(f"cannot listen on {host}:{port}: {exc.strerror}") from exc
    return listener
