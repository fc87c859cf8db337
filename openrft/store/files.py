"""The file store behind `/v1/files` (spec §7).

Guarantees:
- Content lives under a generated id (`file-` + 24 random letters and digits) in
  `OPENRFT_HOME/files/`. The client's filename is metadata only: sanitised for display, at most
  255 characters, never part of a path. Ids are checked against their pattern before any path is
  built, so `../x` cannot name a file.
- Content writes are atomic (temp file in the same directory, fsync, `os.replace`, fsync of the
  directory; `openrft.store.atomic`): after a crash a file is whole or absent. A file is visible
  once its record is committed to the SQLite store (`files` table), and deleting removes the
  record first.
- What a killed upload leaves (`.tmp-*`, or content whose record was never committed) is
  removed by `sweep()` when the server starts. A writer holds an exclusive `flock` on its file
  from creation until its record is committed (or the file removed), so a sweep never takes
  the upload of a live process, and never a recorded file.
- An upload over `max_bytes` is refused (`PayloadTooLargeError`) after reading at most
  `max_bytes` plus one chunk; nothing of it is kept. Content-Type is never consulted.
- A file belongs to one project: another project's id answers `NotFoundError`, as an unknown id.
- With `OPENRFT_STORAGE_URL` naming a bucket (`openrft.store.blobs`), content is also put in
  the bucket (`files/<id>`) before its record is committed and removed from it on delete;
  `files/` is then this host's cache, fetched on first read by another host.
What it does not do: per-project quotas, enforcing `expires_at`, JSONL checks at upload (OpenAI
reports fine-tune data errors on the job; the job layer reads files with `openrft.data.validate`).
Listing is one indexed query, however many files a home holds.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import string
import tempfile
import time
from collections.abc import Iterator
from contextlib import suppress
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, BinaryIO

from openrft.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError
from openrft.store.atomic import fsync_path, replace
from openrft.store.blobs import S3Blobs, blob_store
from openrft.store.db import Database
from openrft.store.migrations import FILE_COLUMNS
from openrft.store.names import display_name

__all__ = [
    "MAX_FILE_BYTES",
    "UPLOAD_PURPOSES",
    "FileRecord",
    "FileStore",
    "default_home",
]

MAX_FILE_BYTES = 512 * 1024 * 1024
UPLOAD_PURPOSES = ("assistants", "batch", "fine-tune", "vision", "user_data", "evals")
OUTPUT_PURPOSES = ("assistants_output", "batch_output", "fine-tune-results")
_ALPHABET = string.ascii_letters + string.digits
_CHUNK = 1 << 20
_PLACES = ", ".join("?" * len(FILE_COLUMNS))
log = logging.getLogger(__name__)


def default_home() -> Path:
    return Path(os.environ.get("OPENRFT_HOME", ".openrft"))


def _new_id() -> str:
    return "file-" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def _valid_id(file_id: str) -> bool:
    return (
        isinstance(file_id, str)
        and len(file_id) == 29
        and file_id.startswith("file-")
        and all(char in _ALPHABET for char in file_id[5:])
    )


@dataclass(frozen=True)
class FileRecord:
    id: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    project: str
    created_ns: int
    """Creation time in ns: orders files created within the same second."""
    status: str = "processed"
    expires_at: int | None = None

    def to_object(self) -> dict[str, Any]:
        """OpenAI's `FileObject` (the project and ordering key stay internal)."""
        body = asdict(self)
        del body["project"], body["created_ns"]
        return {"object": "file", **body, "status_details": None}


class FileStore:
    def __init__(
        self, home: Path | None = None, *, db: Database | None = None, max_bytes: int | None = None
    ):
        home = home or default_home()
        self.root = home / "files"
        self.root.mkdir(parents=True, exist_ok=True)
        self.db = db if db is not None else Database(home)
        env_cap = os.environ.get("OPENRFT_MAX_FILE_BYTES")
        self.max_bytes = max_bytes or (int(env_cap) if env_cap else MAX_FILE_BYTES)
        self.blobs = blob_store()
        """The bucket holding every file's content (`OPENRFT_STORAGE_URL`); None: this home's
        disk. With a bucket, `files/` is this host's cache of it."""

    def create(
        self,
        project: str,
        stream: BinaryIO,
        filename: str | None,
        purpose: str,
        *,
        output: bool = False,
    ) -> FileRecord:
        """Store an upload. `output=True` allows the `*-results`/`*_output` purposes (files the
        platform writes itself); uploads may use only OpenAI's upload purposes."""
        allowed = UPLOAD_PURPOSES + (OUTPUT_PURPOSES if output else ())
        if purpose not in allowed:
            raise InvalidRequestError(
                f"Invalid purpose {purpose!r}: expected one of {', '.join(allowed)}",
                param="purpose",
            )
        file_id, now = _new_id(), time.time_ns()
        target = self.root / file_id
        fd, temporary = self._locked_temp()
        try:
            size = _write(fd, _chunks(stream, self.max_bytes))
            replace(temporary, target)
            if self.blobs is not None:  # in the bucket before its record: never a dangling id
                self.blobs.put_file(f"files/{file_id}", target)
            record = FileRecord(
                file_id, size, now // 10**9, display_name(filename), purpose, project, now
            )
            self._insert(record)
        except BaseException:  # e.g. a full disk: keep neither the temp file nor the content
            Path(temporary).unlink(missing_ok=True)
            target.unlink(missing_ok=True)
            with suppress(Exception):  # the first failure is the one to report
                self._forget(file_id)
            raise
        finally:
            os.close(fd)  # releases the lock, once the record is committed or the file gone
        return record

    def _locked_temp(self) -> tuple[int, str]:
        """A new temp file, locked. A sweep may remove it between its creation and the lock;
        then the path no longer names the locked file, and a fresh one is made."""
        while True:
            fd, temporary = tempfile.mkstemp(dir=self.root, prefix=".tmp-")
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                if os.stat(temporary).st_ino == os.fstat(fd).st_ino:
                    return fd, temporary
            except FileNotFoundError:
                pass
            os.close(fd)

    def _insert(self, record: FileRecord) -> None:
        row = asdict(record)
        with self.db.tx() as conn:
            conn.execute(
                f"INSERT INTO files ({', '.join(FILE_COLUMNS)}) VALUES ({_PLACES})",
                tuple(row[column] for column in FILE_COLUMNS),
            )

    def sweep(self) -> int:
        """Remove what killed uploads left behind: `.tmp-*` files and `file-*` content with
        no record, unless a live writer holds its lock. Returns the bytes freed."""
        freed = 0
        for path in self.root.iterdir():
            if path.name.startswith(".tmp-") or _valid_id(path.name):
                freed += self._sweep_one(path)
        if freed:
            log.warning("removed %d bytes left by interrupted uploads in %s", freed, self.root)
        return freed

    def _sweep_one(self, path: Path) -> int:
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            return 0  # renamed or removed meanwhile, or not a plain file
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held: an upload in progress
            if _valid_id(path.name) and self._recorded(path.name):
                return 0
            if os.stat(path, follow_symlinks=False).st_ino != os.fstat(fd).st_ino:
                return 0
            size = os.fstat(fd).st_size
            path.unlink()
            return size
        except OSError:
            return 0
        finally:
            os.close(fd)

    def _recorded(self, file_id: str) -> bool:
        return self.db.one("SELECT 1 FROM files WHERE id = ?", (file_id,)) is not None

    def get(self, project: str, file_id: str) -> FileRecord:
        missing = NotFoundError(f"No such File object: {file_id}", param="file_id")
        if not _valid_id(file_id):
            raise missing
        row = self.db.one(
            f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE id = ? AND project = ?",
            (file_id, project),
        )
        if row is None:
            raise missing
        return FileRecord(**dict(row))

    def list(
        self,
        project: str,
        purpose: str | None = None,
        order: str = "desc",
        after: str | None = None,
        limit: int = 10000,
    ) -> list[FileRecord]:
        """The project's files, newest first by default; `after` is the last id already seen."""
        if order not in ("asc", "desc"):
            raise InvalidRequestError("order must be 'asc' or 'desc'", param="order")
        if not 1 <= limit <= 10000:
            raise InvalidRequestError("limit must be between 1 and 10000", param="limit")
        where, params = ["project = ?"], [project]
        if purpose is not None:
            where.append("purpose = ?")
            params.append(purpose)
        if after is not None:  # the cursor must be one of the files this listing shows
            cursor = self.db.one(
                f"SELECT created_ns, id FROM files WHERE id = ? AND {' AND '.join(where)}",
                (after, *params),
            )
            if cursor is None:
                raise InvalidRequestError(f"No such File object: {after}", param="after")
            where.append(f"(created_ns, id) {'<' if order == 'desc' else '>'} (?, ?)")
            params += [cursor["created_ns"], cursor["id"]]
        direction = "DESC" if order == "desc" else "ASC"
        rows = self.db.all(
            f"SELECT {', '.join(FILE_COLUMNS)} FROM files WHERE {' AND '.join(where)} "
            f"ORDER BY created_ns {direction}, id {direction} LIMIT ?",
            (*params, limit),
        )
        return [FileRecord(**dict(row)) for row in rows]

    def content_path(self, project: str, file_id: str) -> Path:
        """Where the content is, for readers that want a path (the job layer); with a bucket,
        a local copy fetched once (another host may have taken the upload)."""
        path = self.root / self.get(project, file_id).id
        if self.blobs is not None and not path.exists():
            self._fetch(self.blobs, path)
        return path

    def _fetch(self, blobs: S3Blobs, path: Path) -> None:
        fd, temporary = self._locked_temp()  # locked: a sweep leaves the download alone
        try:
            blobs.get_file(f"files/{path.name}", Path(temporary))
            replace(temporary, path)
        except KeyError:
            raise NotFoundError(f"No such File object: {path.name}", param="file_id") from None
        finally:
            Path(temporary).unlink(missing_ok=True)
            os.close(fd)

    def _forget(self, file_id: str) -> None:
        """Remove a file's content from the bucket (nothing without one)."""
        if self.blobs is not None:
            self.blobs.delete(f"files/{file_id}")

    def open_content(self, project: str, file_id: str) -> BinaryIO:
        return open(self.content_path(project, file_id), "rb")

    def delete(self, project: str, file_id: str) -> dict[str, Any]:
        """OpenAI's `FileDeleted` body."""
        record = self.get(project, file_id)
        with self.db.tx() as conn:
            conn.execute("DELETE FROM files WHERE id = ?", (record.id,))
        (self.root / record.id).unlink(missing_ok=True)
        (self.root / f"{record.id}.json").unlink(missing_ok=True)  # an imported old record
        self._forget(record.id)
        fsync_path(self.root)
        return {"id": record.id, "object": "file", "deleted": True}


def _write(fd: int, chunks: Iterator[bytes]) -> int:
    """Write and fsync; the caller keeps `fd` (and its lock) open."""
    size = 0
    for chunk in chunks:
        view = memoryview(chunk)
        while view:
            view = view[os.write(fd, view) :]
        size += len(chunk)
    os.fsync(fd)
    return size


def _chunks(stream: BinaryIO, max_bytes: int) -> Iterator[bytes]:
    """The upload in chunks, stopping (and failing) as soon as it passes `max_bytes`."""
    seen = 0
    while chunk := stream.read(_CHUNK):
        seen += len(chunk)
        if seen > max_bytes:
            raise PayloadTooLargeError(
                f"File is larger than the {max_bytes} byte limit", param="file"
            )
        yield chunk
