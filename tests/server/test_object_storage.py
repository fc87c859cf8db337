"""Files and checkpoints on S3-compatible object storage (`OPENRFT_STORAGE_URL`), against moto's
server on loopback: uploads through the SDK land in the bucket and are read back from it, a
checkpoint published by one home is resumed and served by another home that shares only the
bucket, and a checkpoint whose upload was cut short (no manifest) is never used."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from openai import OpenAI

from openrft.errors import InvalidRequestError, ServiceUnavailableError
from openrft.models import registry
from openrft.server import Settings
from openrft.store import blobs
from openrft.store.blob_dirs import (
    complete_steps,
    fetch,
    local_copy,
    publish,
    remote_dir,
    restore,
)
from openrft.store.manifest import seal, verify
from openrft.train.checkpoints import CheckpointStore
from tests.server.conftest import live_server
from tests.server.fakes import FakeBackend
from tests.server.test_jobs import ROWS, method, upload, wait_for
from tests.support.postgres import PostgresServer
from tests.support.s3 import CREDENTIALS, S3Server, moto_server

JOB = "jobs/ftjob-objectstorage/checkpoints"


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with moto_server() as server:
        yield server


def _use_bucket(monkeypatch: pytest.MonkeyPatch, s3: S3Server, prefix: str) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OPENRFT_S3_ENDPOINT_URL", s3.endpoint)
    monkeypatch.setenv("OPENRFT_STORAGE_URL", f"s3://{s3.bucket}/{prefix}")


def _weights(fill: int) -> Callable[[Path], None]:
    def write(folder: Path) -> None:
        (folder / "model").mkdir()
        (folder / "model" / "config.json").write_text('{"model_type": "test"}')
        (folder / "model" / "weights.bin").write_bytes(bytes([fill]) * 4096)

    return write


def _store(home: Path) -> CheckpointStore:
    return CheckpointStore(home / JOB, remote_dir(home, home / JOB))


def test_sdk_files_live_in_the_bucket(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _use_bucket(monkeypatch, s3, "sdk")
    blobs._connect.cache_clear()  # connect (and log where) within this test
    caplog.set_level(logging.INFO)
    home = tmp_path / "home"
    content = b'{"messages": [{"role": "user", "content": "2+2?"}], "answer": "4"}\n'
    with (
        live_server(Settings(home=home), FakeBackend()) as server,
        OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        created = sdk.files.create(file=("rows.jsonl", content), purpose="fine-tune")
        assert s3.keys("sdk/") == [f"sdk/files/{created.id}"]
        stored = s3.client().get_object(Bucket=s3.bucket, Key=f"sdk/files/{created.id}")
        assert stored["Body"].read() == content
        (home / "files" / created.id).unlink()  # as on a host that did not take the upload
        assert sdk.files.content(created.id).content == content
        assert (home / "files" / created.id).read_bytes() == content  # cached here now
        assert sdk.files.delete(created.id).deleted
        assert s3.keys("sdk/") == []
    assert f"s3://{s3.bucket}/sdk" in caplog.text
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in caplog.text
    assert CREDENTIALS["AWS_ACCESS_KEY_ID"] not in caplog.text


def test_local_disk_stays_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENRFT_STORAGE_URL", raising=False)
    assert blobs.blob_store() is None
    assert remote_dir(tmp_path, tmp_path / JOB) is None


def test_a_wrong_storage_url_is_one_clear_error(
    s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_bucket(monkeypatch, s3, "x")
    monkeypatch.setenv("OPENRFT_STORAGE_URL", "gs://elsewhere/x")
    with pytest.raises(InvalidRequestError, match="must be s3://bucket"):
        blobs.blob_store()
    monkeypatch.setenv("OPENRFT_STORAGE_URL", "s3://no-such-bucket/x")
    with pytest.raises(InvalidRequestError, match="cannot use s3://no-such-bucket/x") as caught:
        blobs.blob_store()
    assert CREDENTIALS["AWS_SECRET_ACCESS_KEY"] not in caught.value.message
    gone = blobs.S3Blobs(s3.client(), "no-such-bucket")  # e.g. deleted while serving: a 503
    with pytest.raises(ServiceUnavailableError, match="s3://no-such-bucket is unavailable"):
        gone.put_bytes("files/x", b"1")
    with pytest.raises(KeyError):
        blobs.S3Blobs(s3.client(), s3.bucket).get_bytes("no/such/key")


def test_a_checkpoint_resumes_on_another_home(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_bucket(monkeypatch, s3, "resume")
    first = _store(tmp_path / "one")
    first.save(1, {"step": 1}, _weights(1))
    first.save(2, {"step": 2, "metrics": {"valid_reward_mean": 0.5}}, _weights(2))
    assert f"resume/{JOB}/step-2/manifest.json" in s3.keys("resume/")

    latest = _store(tmp_path / "two").latest()  # a host with an empty home

    assert latest is not None and latest.step == 2
    assert latest.path == tmp_path / "two" / JOB / "step-2"
    assert latest.state == {"step": 2, "metrics": {"valid_reward_mean": 0.5}}
    assert (latest.path / "model" / "weights.bin").read_bytes() == bytes([2]) * 4096
    assert verify(latest.path)["step"] == 2


def test_a_half_uploaded_checkpoint_is_never_used(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_bucket(monkeypatch, s3, "half")
    first = _store(tmp_path / "one")
    first.save(1, {"step": 1}, _weights(1))
    remote = remote_dir(tmp_path / "one", tmp_path / "one" / JOB)
    assert remote is not None
    cut = tmp_path / "cut"
    cut.mkdir()
    _weights(3)(cut)  # step 3's weights reached the bucket, its manifest did not
    remote.blobs.put_file(remote.child("step-3/model/weights.bin"), cut / "model" / "weights.bin")

    assert complete_steps(remote) == [1]
    latest = _store(tmp_path / "two").latest()
    assert latest is not None and latest.step == 1
    assert not (tmp_path / "two" / JOB / "step-3").exists()
    assert local_copy(tmp_path / "two", tmp_path / "two" / JOB / "step-3").exists() is False


def test_a_checkpoint_is_served_from_another_home(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_bucket(monkeypatch, s3, "serve")
    first = _store(tmp_path / "one")
    first.save(4, {"step": 4}, _weights(4))
    home = tmp_path / "two"

    copy = local_copy(home, home / JOB / "step-4")

    assert copy.parent == home / "cache" / "checkpoints"
    assert registry.resolve_path(str(copy), home) == copy / "model"
    assert (copy / "model" / "weights.bin").read_bytes() == bytes([4]) * 4096
    assert local_copy(home, home / JOB / "step-4") == copy  # cached: fetched once
    first.save(4, {"step": 4}, _weights(5))  # re-published with other weights: a new copy
    fresh = local_copy(home, home / JOB / "step-4")
    assert fresh != copy and (fresh / "model" / "weights.bin").read_bytes() == bytes([5]) * 4096


def test_retention_removes_the_bucket_copy(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _use_bucket(monkeypatch, s3, "retain")
    first = _store(tmp_path / "one")
    for step in (1, 2, 3):
        first.save(step, {"step": step}, _weights(step))
    remote = remote_dir(tmp_path / "one", tmp_path / "one" / JOB)
    assert remote is not None

    first.retain(keep_best=0)

    assert complete_steps(remote) == [3]
    assert not [key for key in s3.keys("retain/") if "/step-1/" in key or "/step-2/" in key]


def test_another_server_serves_the_model_and_files_from_the_bucket(
    s3: S3Server, postgres: PostgresServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two hosts share the store (PostgreSQL) and the bucket, not a disk: the second reads
    the first's upload and serves its fine-tuned model and checkpoint."""
    _use_bucket(monkeypatch, s3, "hosts")
    monkeypatch.setenv("OPENRFT_DATABASE_URL", postgres.database())
    monkeypatch.setenv("FAKE_STEPS", "2")
    one, two = tmp_path / "one", tmp_path / "two"
    with (
        live_server(Settings(home=one), FakeBackend()) as server,
        OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        file_id = upload(sdk)
        job = sdk.fine_tuning.jobs.create(model="openrft-tiny", training_file=file_id,
                                          method=method())  # fmt: skip
        name = wait_for(sdk, job.id, "succeeded", "failed").fine_tuned_model
        assert name is not None
    blobs_ = blobs.blob_store()
    assert blobs_ is not None
    for step in (1, 2):  # what the trainer's CheckpointStore does (the fake runner does not)
        folder = one / "jobs" / job.id / f"step-{step}"
        seal(folder, step)
        publish(blobs_, folder, f"jobs/{job.id}/step-{step}")
    two.mkdir()

    backend = FakeBackend()
    with (
        live_server(Settings(home=two), backend) as server,
        OpenAI(base_url=server.base_url, api_key="x", max_retries=0) as sdk,
    ):
        assert sdk.files.content(file_id).content == ROWS
        assert {name, f"{name}:ckpt-step-1"} <= {model.id for model in sdk.models.list()}
        for model in (name, f"{name}:ckpt-step-1"):
            reply = sdk.chat.completions.create(
                model=model, messages=[{"role": "user", "content": "hi"}]
            )
            assert reply.model == model
    loaded = [Path(target) for target, _ in backend.calls]
    assert [path.parent for path in loaded] == [two / "cache" / "checkpoints"] * 2
    assert [verify(path)["step"] for path in loaded] == [2, 1]
    assert registry.resolve_path(name, two) == loaded[0]  # the CLI's lookup finds the same copy
    assert not (two / "jobs").exists()
    rows = [Path("jobs") / job.id / name for name in ("train.jsonl", "valid.jsonl")]
    restore(two, [two / path for path in rows])  # what a worker taking the job over reads
    assert [(two / path).read_text() for path in rows] == [(one / p).read_text() for p in rows]


def test_two_processes_fetching_one_checkpoint_keep_one_whole_copy(
    s3: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every rank of a resumed job fetches the newest checkpoint: whoever renames second keeps
    the first one's verified copy instead of failing."""
    _use_bucket(monkeypatch, s3, "ranks")
    _store(tmp_path / "one").save(2, {"step": 2}, _weights(2))
    remote = remote_dir(tmp_path / "one", tmp_path / "one" / JOB)
    assert remote is not None
    dest = tmp_path / "two" / JOB / "step-2"
    dest.parent.mkdir(parents=True)
    fetch(remote.blobs, remote.child("step-2"), dest)  # the first rank
    first = (dest / "model" / "weights.bin").stat().st_ino

    assert fetch(remote.blobs, remote.child("step-2"), dest) == dest  # the second one
    assert (dest / "model" / "weights.bin").stat().st_ino == first  # not pulled from under it
    assert verify(dest)["step"] == 2
    assert sorted(path.name for path in dest.parent.iterdir()) == ["step-2"]
