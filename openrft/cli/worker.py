"""`openrft worker`: the job worker alone, without the HTTP server, so that GPU machines run
jobs that an API host (`openrft serve --no-worker`) takes. It trains against the store the
environment names, as `openrft serve` does: `OPENRFT_HOME` (or `--home`), `OPENRFT_DATABASE_URL`,
`OPENRFT_STORAGE_URL`, `OPENRFT_LEASE_SECONDS`, `OPENRFT_BASE_MODELS`, `OPENRFT_MAX_RUNNING`.

Guarantees: a bad setting is one line and exit code 2 before anything starts; one line on
stderr says what it runs against once it is up; on SIGTERM or Ctrl-C it stops as the server's
worker does on shutdown (`Worker.stop`: its running jobs' children are stopped and the jobs
requeued at once, for this or another worker to resume from their last checkpoint), then
exits 0.
What it does not do: serve HTTP, or pick which jobs it takes (any queued job, oldest first).
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from openrft.cli.serve import BASE_MODEL_HELP, MAX_RUNNING_HELP, apply_max_running

_POLL = 0.5
"""How often the main thread checks that the worker's thread still runs."""


def worker_command(
    home: Annotated[
        Path | None, typer.Option(help="State directory (default $OPENRFT_HOME or ./.openrft).")
    ] = None,
    base_model: Annotated[list[str] | None, typer.Option(help=BASE_MODEL_HELP)] = None,
    max_running: Annotated[int | None, typer.Option(help=MAX_RUNNING_HELP)] = None,
) -> None:
    """Run fine-tuning jobs from the shared store, without the HTTP API."""
    from openrft.jobs.models import parse_base_models
    from openrft.jobs.worker import Worker
    from openrft.server import Settings
    from openrft.store.blobs import blob_store
    from openrft.store.db import Database
    from openrft.store.engine import database_url, redacted

    settings = Settings.from_env(home)
    url = database_url(settings.home)  # a bad OPENRFT_DATABASE_URL is one line
    blobs = blob_store()  # and so is a bad OPENRFT_STORAGE_URL
    settings.base_models.update(parse_base_models(base_model or []))
    apply_max_running(settings, max_running)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        worker = Worker(
            settings.home,
            Database(settings.home, check=True),
            lease=settings.lease_seconds,
            max_running=settings.max_running,
            base_models=settings.base_models,
        )
        worker.stopping = "Worker stopped"
        storage = blobs.url if blobs is not None else "local disk"
        typer.echo(
            f"openrft: worker {worker.owner} on {redacted(url)}, files on {storage}, "
            f"state in {settings.home.resolve()}; up to {settings.max_running} job(s) at once, "
            f"lease {settings.lease_seconds:g}s; base models: {', '.join(settings.base_models)}",
            err=True,
        )
        worker.start()
        while not stop.wait(_POLL) and worker.alive():
            pass
        if not stop.is_set():  # its thread ended without being asked: say so in the exit code
            typer.echo("openrft: error: the job worker stopped unexpectedly", err=True)
            raise typer.Exit(1)
        typer.echo("openrft: worker stopping; its running jobs go back to the queue", err=True)
        worker.stop()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
