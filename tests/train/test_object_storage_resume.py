"""A job paused on one host resumes on another that shares only the bucket
(`OPENRFT_STORAGE_URL`): the trainer publishes each checkpoint to object storage and, on a
host without them, fetches the newest complete one before it continues."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from openrft.train.runner import run_job
from tests.support.s3 import CREDENTIALS, S3Server, moto_server
from tests.train.helpers import ListSink, demo_spec
from tests.train.test_runner import Script


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


def _host(tmp_path: Path, name: str, tiny: Path) -> Path:
    """A home of its own that shares only the built tiny model (read-only) with the others."""
    home = tmp_path / name
    home.mkdir()
    (home / "models").symlink_to(tiny / "models")
    return home


def test_a_paused_job_resumes_on_another_host(
    s3: S3Server, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("OPENRFT_S3_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("OPENRFT_STORAGE_URL", f"s3://{s3.bucket}/trainer")
    spec = demo_spec(4, eval_interval=4)
    one, two = _host(tmp_path, "one", home), _host(tmp_path, "two", home)
    workdir = Path("jobs") / spec.id

    paused = run_job(spec, workdir=one / workdir, home=one, events=ListSink(),
                     control=Script(None, None, "pause"))  # fmt: skip
    assert paused.status == "paused"
    assert f"trainer/{workdir}/checkpoints/step-2/manifest.json" in s3.keys("trainer/")

    sink = ListSink()
    done = run_job(spec, workdir=two / workdir, home=two, events=sink)

    assert done.status == "succeeded"
    assert "Resumed from step 2" in [event["message"] for event in sink.events]
    assert [metric["step"] for metric in sink.metrics()] == [3, 4]
    manifests = [key for key in s3.keys("trainer/") if key.endswith("/manifest.json")]
    assert f"trainer/{workdir}/checkpoints/step-4/manifest.json" in manifests
