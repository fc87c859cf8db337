"""A home moved to another path keeps its fine-tuned models: the store keeps model and
checkpoint directories relative to the home (new rows, and old absolute rows once migrated),
holds no other host path either, and a model whose folder is gone is a 404 by name that never
shows a server path."""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
from contextlib import closing
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from openrft.models import library, registry
from openrft.server import Settings
from openrft.store.db import Database
from openrft.store.migrations import MIGRATIONS
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend
from tests.server.test_jobs import FIRST_LINES, method, upload, wait_for


def _rows(home: Path) -> tuple[list[str], list[str]]:
    with closing(sqlite3.connect(home / "openrft.db")) as db:
        jobs = [row[0] for row in db.execute("SELECT fine_tuned_model_path FROM jobs")]
        ckpts = [row[0] for row in db.execute("SELECT path FROM checkpoints ORDER BY step")]
    return jobs, ckpts


def test_a_moved_home_serves_its_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_STEPS", "2")
    first = Settings(home=tmp_path / "home")
    with (
        live_server(first, FakeBackend()) as server,
        OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=upload(sdk),
                                          method=method())  # fmt: skip
        name = wait_for(sdk, job.id, "succeeded", "failed").fine_tuned_model
        assert name is not None
    jobs, ckpts = _rows(first.home)
    assert jobs == [f"jobs/{job.id}/step-2"]
    assert ckpts == [f"jobs/{job.id}/step-1", f"jobs/{job.id}/step-2"]

    moved = tmp_path / "home2"
    shutil.move(first.home, moved)
    backend = FakeBackend()
    with (
        live_server(Settings(home=moved), backend) as server,
        OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        for model in (name, f"{name}:ckpt-step-1"):
            assert sdk.models.retrieve(model).id == model
            reply = sdk.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.model == model
        loaded = [Path(target) for target, _ in backend.calls]
        assert loaded == [moved / "jobs" / job.id / "step-2", moved / "jobs" / job.id / "step-1"]
        assert len(list(sdk.fine_tuning.jobs.checkpoints.list(job.id))) == 2

        shutil.rmtree(moved / "jobs" / job.id / "step-2")  # the final model's folder, gone
        with pytest.raises(openai.NotFoundError) as caught:
            sdk.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
        assert caught.value.status_code == 404
        assert name in caught.value.message and str(tmp_path) not in caught.value.message
        assert name not in [model.id for model in sdk.models.list()]


def test_absolute_paths_from_an_older_store_become_relative(tmp_path: Path) -> None:
    """A store written before paths were relative: the migration rewrites them, under the
    old home or wherever the job's own `jobs/<id>/` folder appears; other paths stay."""
    home = tmp_path / "home"
    home.mkdir()
    with closing(sqlite3.connect(home / "openrft.db", isolation_level=None)) as db:
        for migration in MIGRATIONS[:9]:
            migration(db)
        db.execute("CREATE TABLE _migrations (name TEXT PRIMARY KEY, applied_at REAL)")
        db.executemany(
            "INSERT INTO _migrations VALUES (?, 0)", [(m.__name__,) for m in MIGRATIONS[:9]]
        )
        old = "/srv/old-home/jobs/ftjob-a/checkpoints/step-4"
        db.execute(
            "INSERT INTO jobs (id, project, created_ns, status, model, training_file, seed, "
            "method, fine_tuned_model, fine_tuned_model_path) VALUES ('ftjob-a', 'default', 1, "
            "'succeeded', 'openrft-tiny', 'file-x', 0, '{}', 'ft:x', ?)",
            (old,),
        )
        rows = [
            ("c1", 2, str(home / "jobs" / "ftjob-a" / "checkpoints" / "step-2")),
            ("c2", 4, old),
            ("c3", 6, ".openrft/jobs/ftjob-a/checkpoints/step-6"),  # relative to an old cwd
            ("c4", 8, "/elsewhere/models/step-8"),
        ]
        db.executemany(
            "INSERT INTO checkpoints VALUES (?, 'ftjob-a', 0, ?, ?, 'ft:x:ckpt', '{}')", rows
        )
    Database(home).close()
    jobs, ckpts = _rows(home)
    assert jobs == ["jobs/ftjob-a/checkpoints/step-4"]
    assert ckpts == [
        "jobs/ftjob-a/checkpoints/step-2",
        "jobs/ftjob-a/checkpoints/step-4",
        "jobs/ftjob-a/checkpoints/step-6",
        "/elsewhere/models/step-8",
    ]


def _host_paths(home: Path, roots: list[str]) -> list[tuple[str, str, str]]:
    """(table, column, value) for each stored text naming a path on this host: one under
    any of `roots`, or any absolute path (a value, or a JSON string, that starts with '/')."""
    found = []
    with closing(sqlite3.connect(home / "openrft.db")) as db:
        tables = [
            row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        ]
        for table in tables:
            cursor = db.execute(f"SELECT * FROM {table}")  # the names come from the schema
            columns = [column[0] for column in cursor.description]
            for row in cursor:
                for column, value in zip(columns, row, strict=True):
                    text = str(value)
                    if text.startswith("/") or '"/' in text or any(r in text for r in roots):
                        found.append((table, column, text))
    return found


def test_the_store_holds_no_host_path_after_a_job(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every table, after a job with a validation file ran (events, checkpoints, its eval's
    runs and items); then the moved home still resolves the model for the CLI by name."""
    monkeypatch.setenv("FAKE_STEPS", "2")
    settings = Settings(home=tmp_path / "home")
    with (
        live_server(settings, FakeBackend()) as server,
        OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        job = sdk.fine_tuning.jobs.create(
            model="openrft-tiny", training_file=upload(sdk), method=method(),
            validation_file=upload(sdk, FIRST_LINES),
        )  # fmt: skip
        done = wait_for(sdk, job.id, "succeeded", "failed")
        assert done.status == "succeeded" and done.fine_tuned_model and done.eval_id
        assert sdk.evals.runs.list(done.eval_id).data  # the validation runs were recorded
    roots = [str(tmp_path), os.getcwd(), sys.prefix, str(Path.home())]
    assert _host_paths(settings.home, roots) == []

    moved = tmp_path / "home2"
    shutil.move(settings.home, moved)
    folder = moved / "jobs" / job.id / "step-2"
    assert registry.resolve_path(done.fine_tuned_model, moved) == folder
    assert (
        registry.resolve_path(f"{done.fine_tuned_model}:ckpt-step-1", moved)
        == folder.parent / "step-1"
    )
    listed = {entry.name: entry.where for entry in library.listing(moved)}
    assert listed[done.fine_tuned_model] == str(folder)
