"""Object storage for file content and checkpoints: an S3-compatible bucket when
`OPENRFT_STORAGE_URL` names one (`s3://bucket/prefix`), else nothing here (local disk under
`OPENRFT_HOME`, the default, is kept by the stores themselves, unchanged).

Guarantees: a key is a home-relative POSIX path (`files/file-…`, `jobs/<id>/checkpoints/
step-N/…`) placed under the URL's prefix, so every host whose `OPENRFT_STORAGE_URL` names the
same bucket and prefix sees the same objects. A put is one S3 object write (whole or absent).
The endpoint comes from `OPENRFT_S3_ENDPOINT_URL` (else the AWS default), credentials and
region from boto3's own chain (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, profiles, roles);
they are never logged and never part of a message (only `s3://bucket/prefix` is).
A URL that is not `s3://…`, or a bucket that cannot be reached (missing, wrong credentials),
is an `InvalidRequestError` when the store first connects (server start): one line, no traceback.
Later, a missing object is `KeyError`; any other storage failure (after boto3's retries) is a
`ServiceUnavailableError` (503) naming only the bucket.
What it does not do: create the bucket, encrypt, or retry past boto3's own retries.
"""

from __future__ import annotations

import functools
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from openrft.errors import InvalidRequestError, ServiceUnavailableError

__all__ = ["ENDPOINT_ENV", "STORAGE_ENV", "S3Blobs", "blob_store"]

STORAGE_ENV = "OPENRFT_STORAGE_URL"
ENDPOINT_ENV = "OPENRFT_S3_ENDPOINT_URL"
log = logging.getLogger(__name__)


def blob_store() -> S3Blobs | None:
    """The bucket `OPENRFT_STORAGE_URL` names, or None: files and checkpoints on local disk."""
    url = os.environ.get(STORAGE_ENV, "").strip()
    if not url or url.startswith("file:"):
        return None
    return _connect(url, os.environ.get(ENDPOINT_ENV) or None)


@functools.lru_cache(maxsize=4)
def _connect(url: str, endpoint: str | None) -> S3Blobs:
    parsed = urlparse(url)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise InvalidRequestError(
            f"{STORAGE_ENV} must be s3://bucket[/prefix], not {parsed.scheme or url}"
        )
    import boto3  # only a host that stores on a bucket pays for importing it
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    client = boto3.client(
        "s3", endpoint_url=endpoint, config=Config(retries={"max_attempts": 5, "mode": "standard"})
    )
    blobs = S3Blobs(client, parsed.netloc, parsed.path.strip("/"))
    try:  # at startup, not at the first upload: a wrong bucket is one clear line
        client.head_bucket(Bucket=blobs.bucket)
    except (BotoCoreError, ClientError) as exc:
        where = endpoint or "the AWS default endpoint"
        raise InvalidRequestError(
            f"{STORAGE_ENV}: cannot use {blobs.url} at {where}: {exc}"
        ) from None
    log.info("files and checkpoints are stored in %s", blobs.url)
    return blobs


class S3Blobs:
    """Objects under one bucket and prefix; keys are relative to the prefix."""

    def __init__(self, client: Any, bucket: str, prefix: str = ""):
        self.client, self.bucket, self.prefix = client, bucket, prefix

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}".rstrip("/")

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key

    def put_file(self, key: str, path: Path) -> None:
        with self._errors(key):
            self.client.upload_file(str(path), self.bucket, self._key(key))

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._errors(key):
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data)

    def get_file(self, key: str, path: Path) -> None:
        """Download `key` to `path` (the caller makes it atomic); KeyError when absent."""
        with self._errors(key), open(path, "wb") as out:
            self.client.download_fileobj(self.bucket, self._key(key), out)

    def get_bytes(self, key: str) -> bytes:
        """The object's bytes; KeyError when absent."""
        with self._errors(key):
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            return bytes(body.read())

    def exists(self, key: str) -> bool:
        try:
            with self._errors(key):
                self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except KeyError:
            return False
        return True

    def delete(self, key: str) -> None:
        with self._errors(key):
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str) -> list[str]:
        """Every key under `prefix` (relative to this store's prefix), sorted."""
        start = len(self._key(""))
        with self._errors(prefix):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=self._key(prefix)
            )
            return sorted(
                item["Key"][start:] for page in pages for item in page.get("Contents", [])
            )

    @contextmanager
    def _errors(self, key: str) -> Iterator[None]:
        """S3's 404 as KeyError(key); any other storage failure (an outage, a bucket gone,
        credentials refused) as a 503 naming the bucket: the request was fine, retry later."""
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            if code in ("404", "NoSuchKey", "NotFound"):
                raise KeyError(key) from None
            raise self._unavailable(code) from None
        except (BotoCoreError, Boto3Error) as exc:
            raise self._unavailable(type(exc).__name__) from None

    def _unavailable(self, why: str) -> ServiceUnavailableError:
        log.warning("object storage %s failed: %s", self.url, why)
        return ServiceUnavailableError(f"Object storage {self.url} is unavailable ({why})")


def walk(folder: Path) -> Iterator[Path]:
    """Every file under `folder`, sorted (what a directory upload sends)."""
    return iter(sorted(p for p in folder.rglob("*") if p.is_file()))
