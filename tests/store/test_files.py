"""The file store (spec §7; hostile uploads of Part D 26 and 29), its records in SQLite and in
PostgreSQL (each test runs on both)."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest

from openrft.data.validate import validate_file
from openrft.errors import DataFileError, InvalidRequestError, NotFoundError, PayloadTooLargeError
from openrft.store.files import FileStore
from openrft.store.names import display_name

pytestmark = pytest.mark.usefixtures("store_backend")

ROW = b'{"messages": [{"role": "user", "content": "hi"}], "answer": "4"}\n'


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    return FileStore(tmp_path / "home")


def every_file(root: Path) -> set[Path]:
    return {path for path in root.rglob("*") if path.is_file()}


def test_create_get_content_and_wire_shape(store: FileStore) -> None:
    record = store.create("p1", io.BytesIO(ROW * 3), "train.jsonl", "fine-tune")
    assert record.id.startswith("file-") and len(record.id) == 29 and record.id[5:].isalnum()
    body = record.to_object()
    assert body == {
        "object": "file", "id": record.id, "bytes": len(ROW) * 3, "created_at": record.created_at,
        "filename": "train.jsonl", "purpose": "fine-tune", "status": "processed",
        "expires_at": None, "status_details": None,
    }  # fmt: skip
    assert store.get("p1", record.id) == record
    with store.open_content("p1", record.id) as stream:
        assert stream.read() == ROW * 3
    assert every_file(store.root) == {store.root / record.id}  # the record is in the store


def test_ids_are_random(store: FileStore) -> None:
    ids = {store.create("p", io.BytesIO(b"x"), "a", "batch").id for _ in range(20)}
    assert len(ids) == 20


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        ("../../etc/passwd", "passwd"),
        ("..\\..\\windows\\system.ini", "system.ini"),
        ("/abs/path/data.jsonl", "data.jsonl"),
        ("bad\x00name\n\r.jsonl", "badname.jsonl"),
        ("evil\u202egnp.jsonl", "evilgnp.jsonl"),  # a bidi override would reverse the display
        ("..", "upload"),
        ("", "upload"),
        (None, "upload"),
        ("café ✓.jsonl", "café ✓.jsonl"),
    ],
)
def test_filenames_are_display_metadata_only(given: str | None, shown: str) -> None:
    assert display_name(given) == shown


def test_traversal_filename_is_stored_under_a_generated_id(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "home")
    before = every_file(tmp_path)
    record = store.create("p", io.BytesIO(ROW), "../../etc/passwd", "fine-tune")
    assert record.filename == "passwd"
    new = {path for path in every_file(tmp_path) - before if not path.name.startswith("openrft.db")}
    assert new == {store.root / record.id}


def test_10kb_filename_is_truncated_keeping_the_extension(store: FileStore) -> None:
    record = store.create("p", io.BytesIO(ROW), "a" * 10_240 + ".jsonl", "fine-tune")
    assert len(record.filename) == 255 and record.filename.endswith("a.jsonl")
    assert all(len(path.name) < 40 for path in store.root.iterdir())


def test_content_type_is_never_consulted(store: FileStore) -> None:
    """A PNG named .jsonl is stored as bytes; only the job layer's check rejects it."""
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(64)
    record = store.create("p", io.BytesIO(png), "data.jsonl", "fine-tune")
    with pytest.raises(DataFileError) as caught:
        validate_file(store.content_path("p", record.id), path_label=record.id)
    assert caught.value.line == 1 and caught.value.path == record.id


def test_validate_file_returns_an_uploads_rows(store: FileStore) -> None:
    record = store.create("p", io.BytesIO(ROW * 2), "t.jsonl", "fine-tune")
    assert len(validate_file(store.content_path("p", record.id))) == 2


class Endless(io.RawIOBase):
    """An upload that never ends, counting what was read of it."""

    def __init__(self) -> None:
        self.served = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        buffer[:] = b"x" * len(buffer)
        self.served += len(buffer)
        return len(buffer)


def test_upload_over_the_cap_is_413_without_reading_it_all(tmp_path: Path) -> None:
    store = FileStore(tmp_path / "home", max_bytes=3 << 20)
    upload = Endless()
    with pytest.raises(PayloadTooLargeError) as caught:
        store.create("p", upload, "big.jsonl", "fine-tune")  # type: ignore[arg-type]
    assert caught.value.status == 413 and caught.value.param == "file"
    assert upload.served <= (3 << 20) + (1 << 20)
    assert every_file(store.root) == set() and store.list("p") == []


def test_size_cap_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENRFT_MAX_FILE_BYTES", "10")
    store = FileStore(tmp_path / "home")
    store.create("p", io.BytesIO(b"x" * 10), "ok", "batch")
    with pytest.raises(PayloadTooLargeError):
        store.create("p", io.BytesIO(b"x" * 11), "big", "batch")


def test_failed_write_leaves_nothing(store: FileStore) -> None:
    class Broken(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise OSError("connection reset")

    with pytest.raises(OSError):
        store.create("p", Broken(), "x", "batch")
    assert every_file(store.root) == set()


@pytest.mark.parametrize("purpose", ["fine_tune", "FINE-TUNE", "fine-tune-results", ""])
def test_invalid_purpose_is_rejected(store: FileStore, purpose: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        store.create("p", io.BytesIO(b"x"), "x", purpose)
    assert caught.value.param == "purpose" and caught.value.status == 400


@pytest.mark.parametrize(
    "purpose", ["assistants", "batch", "fine-tune", "vision", "user_data", "evals"]
)
def test_every_upload_purpose_is_accepted(store: FileStore, purpose: str) -> None:
    assert store.create("p", io.BytesIO(b"x"), "x", purpose).purpose == purpose


def test_output_purposes_only_for_platform_files(store: FileStore) -> None:
    record = store.create("p", io.BytesIO(b"x"), "r.csv", "fine-tune-results", output=True)
    assert record.purpose == "fine-tune-results"


def test_another_projects_file_is_not_found(store: FileStore) -> None:
    record = store.create("alice", io.BytesIO(ROW), "t.jsonl", "fine-tune")
    for call in (store.get, store.open_content, store.delete, store.content_path):
        with pytest.raises(NotFoundError) as caught:
            call("mallory", record.id)
        assert caught.value.status == 404 and record.id in caught.value.message
    assert store.list("mallory") == []
    assert store.get("alice", record.id) == record


@pytest.mark.parametrize(
    "file_id", ["../files/x", "file-../../../etc/passwd", "file-" + "a" * 23 + "/", "file-x", ""]
)
def test_malformed_ids_never_become_paths(store: FileStore, file_id: str) -> None:
    with pytest.raises(NotFoundError):
        store.get("p", file_id)


def test_list_order_cursor_limit_and_purpose(store: FileStore) -> None:
    made = [
        store.create("p", io.BytesIO(b"x"), f"{i}", "batch" if i % 2 else "evals") for i in range(5)
    ]
    newest_first = [record.id for record in reversed(made)]
    assert [r.id for r in store.list("p")] == newest_first
    assert [r.id for r in store.list("p", order="asc")] == newest_first[::-1]
    assert [r.id for r in store.list("p", after=newest_first[1], limit=2)] == newest_first[2:4]
    assert {r.purpose for r in store.list("p", purpose="batch")} == {"batch"}
    with pytest.raises(InvalidRequestError) as caught:
        store.list("p", order="sideways")
    assert caught.value.param == "order"
    with pytest.raises(InvalidRequestError):
        store.list("p", limit=0)
    with pytest.raises(InvalidRequestError):
        store.list("p", after="file-" + "z" * 24)


def test_delete_removes_record_and_content(store: FileStore) -> None:
    record = store.create("p", io.BytesIO(ROW), "t.jsonl", "fine-tune")
    assert store.delete("p", record.id) == {"id": record.id, "object": "file", "deleted": True}
    assert every_file(store.root) == set()
    with pytest.raises(NotFoundError):
        store.get("p", record.id)


def test_records_survive_a_new_store_instance(tmp_path: Path) -> None:
    record = FileStore(tmp_path).create("p", io.BytesIO(ROW), "t.jsonl", "fine-tune")
    again = FileStore(tmp_path).get("p", record.id)
    assert again == record


def test_records_an_earlier_version_kept_beside_each_file_are_imported(tmp_path: Path) -> None:
    """Before the files table, each upload's record was `files/<id>.json`; upgrading a home
    must not lose them."""
    old = {"id": "file-" + "a" * 24, "bytes": len(ROW), "created_at": 1_700_000_000,
           "filename": "old.jsonl", "purpose": "fine-tune", "project": "p",
           "created_ns": 1_700_000_000 * 10**9, "status": "processed", "expires_at": None}  # fmt: skip
    (tmp_path / "files").mkdir()
    (tmp_path / "files" / old["id"]).write_bytes(ROW)
    (tmp_path / "files" / f"{old['id']}.json").write_text(json.dumps(old))
    store = FileStore(tmp_path)
    assert store.get("p", old["id"]).filename == "old.jsonl"
    newer = store.create("p", io.BytesIO(ROW), "new.jsonl", "fine-tune")
    assert [r.id for r in store.list("p")] == [newer.id, old["id"]]
    with store.open_content("p", old["id"]) as content:
        assert content.read() == ROW
    store.delete("p", old["id"])
    assert every_file(store.root) == {store.root / newer.id}
    assert [r.id for r in FileStore(tmp_path).list("p")] == [newer.id]  # not imported again


def test_a_full_disk_at_the_record_leaves_no_content_behind(
    store: FileStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    def full(*_: object) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(store.db, "tx", full)
    with pytest.raises(sqlite3.OperationalError):
        store.create("p1", io.BytesIO(ROW), "a.jsonl", "fine-tune")
    assert every_file(store.root) == set()


def test_sweep_removes_what_killed_uploads_left_and_nothing_else(store: FileStore) -> None:
    """What `kill -9` leaves mid-upload: a temp file, or content whose record never landed.
    A recorded file and a temp file a live writer holds (its `flock`) are kept."""
    import fcntl

    kept = store.create("p1", io.BytesIO(ROW), "a.jsonl", "fine-tune")
    (store.root / ".tmp-killed").write_bytes(ROW * 100)
    orphan = store.root / ("file-" + "A" * 24)
    orphan.write_bytes(ROW * 10)
    live = store.root / ".tmp-live"
    live.write_bytes(ROW)
    other = store.root / "notes.txt"  # not a name the store makes: never touched
    other.write_bytes(b"x")
    with open(live, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)  # as an upload in progress in another process holds it
        assert store.sweep() == len(ROW) * 110
        assert every_file(store.root) == {store.root / kept.id, live, other}
    assert store.sweep() == len(ROW)  # its writer is gone now
    with store.open_content("p1", kept.id) as stream:
        assert stream.read() == ROW
