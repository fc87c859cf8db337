"""The FastAPI app: OpenAI's routes under `/v1`, `/health`, and the job worker's lifetime.

Guarantees: every response is JSON with OpenAI's error body on failure and an `x-request-id`
header (see `errors.py`); every `/v1` route but the unknown ones needs a valid key when keys
are configured (`auth.py`); state lives under `settings.home` (SQLite `openrft.db`, `files/`,
`jobs/<id>/`); eval runs execute in the background of this process (`eval_runs.py`).
What it does not do: TLS, rate limiting, or multi-host job scheduling.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool

from openrft import __version__
from openrft.errors import AuthenticationError
from openrft.evals.records import EvalStore
from openrft.graders import GraderContext
from openrft.jobs.events import EventStore
from openrft.jobs.models import ModelCatalog
from openrft.jobs.store import JobStore
from openrft.server import errors
from openrft.server.auth import project
from openrft.server.config import Settings
from openrft.server.routers import (
    chat,
    embeddings,
    evals,
    files,
    fine_tuning,
    graders,
    models,
    review,
)
from openrft.store.db import Database
from openrft.store.files import FileStore

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, *, backend: Any = None) -> FastAPI:
    """The app. `backend` replaces the model backend (tests use a scripted one)."""
    settings = settings or Settings.from_env()
    app = FastAPI(
        title="openrft", version=__version__, lifespan=_lifespan, docs_url=None, redoc_url=None
    )
    app.state.settings = settings
    app.state.db = Database(settings.home, check=True)
    app.state.files = FileStore(settings.home, db=app.state.db, max_bytes=settings.max_upload_bytes)
    app.state.jobs = JobStore(app.state.db)
    app.state.events = EventStore(app.state.db)
    app.state.evals = EvalStore(app.state.db)
    app.state.catalog = ModelCatalog(app.state.db, settings.base_models)
    app.state.grader_context = GraderContext()
    app.state.backend = backend
    app.state.sandbox_tier = None
    errors.install(app)
    for module in (files, graders, fine_tuning, models, chat, embeddings, evals, review):
        app.include_router(module.router, prefix="/v1")
    app.add_api_route("/health", _health, methods=["GET"])
    app.add_middleware(
        errors.RequestMiddleware,
        max_body=settings.max_body_bytes,
        max_upload=settings.max_upload_bytes,
    )
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    from openrft.jobs.worker import Worker
    from openrft.serve.engine import Engine
    from openrft.server.eval_runs import RunExecutor

    state, settings = app.state, app.state.settings
    state.files.sweep()  # what uploads killed mid-copy left behind
    state.engine = Engine(settings, state.db, backend=state.backend)
    state.eval_runs = RunExecutor(state.evals, state.engine, state.files, state.grader_context,
                                  lease=settings.lease_seconds, home=settings.home)  # fmt: skip
    state.eval_runs.start()
    state.worker = None
    if settings.start_worker:
        state.worker = Worker(
            settings.home,
            state.db,
            lease=settings.lease_seconds,
            max_running=settings.max_running,
            base_models=settings.base_models,
        )
        state.worker.start()
    try:
        yield
    finally:
        await state.eval_runs.aclose()
        if state.worker is not None:
            await run_in_threadpool(state.worker.stop)
        await state.engine.aclose()
        await state.grader_context.aclose()


async def _health(request: Request) -> dict[str, Any]:
    """Open to all; batching counters only for a caller with a valid key (or with auth off),
    and only for the models that caller's project called, by name."""
    state = request.app.state
    if state.sandbox_tier is None:
        state.sandbox_tier = await run_in_threadpool(_sandbox_tier)
    worker = getattr(state, "worker", None)
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "auth": bool(state.settings.api_keys),
        "sandbox": state.sandbox_tier,
        "worker": _worker_state(state.settings, worker),
    }
    try:
        caller = await project(request)
    except AuthenticationError:
        return body
    body["batching"] = state.engine.stats(caller) if hasattr(state, "engine") else {}
    return body


def _worker_state(settings: Settings, worker: Any) -> str:
    """`running`, `stopped` (it died or is stopping) or `none` (`openrft serve --no-worker`)."""
    if not settings.start_worker:
        return "none"
    return "running" if worker is not None and worker.alive() else "stopped"


def _sandbox_tier() -> str:
    """The python-grader sandbox tier this host gives, or why there is none."""
    try:
        from openrft.sandbox.tiers import detect

        return str(detect())
    except Exception as exc:  # boundary: a health probe reports, it never fails the server
        return f"unavailable: {exc}"
