"""Blobs on S3-compatible object storage (`--blobs s3://bucket/prefix`), for engines on
several machines: the same content-addressed keys as the local store (store/blobs.py), each
blob an object `<prefix>/ab/cd/<sha256>`.

The endpoint, region and credentials come from the environment as boto3 reads them
(`AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION`, or a
profile); nothing secret is in the URL. Bytes stream both ways: an upload is hashed into a
spooled temporary file (its key is its hash, known only at the end), then sent with a
multipart upload; a download is read in chunks.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import IO, Any, BinaryIO, cast

from nylas_engine.store.blobs import CHUNK, BlobTooLarge, StreamedPuts

SPOOL = 1024 * 1024  # an upload stays in memory up to this size, then goes to a temp file
UPLOADERS = 8  # objects uploaded at once by a batch


class S3BlobStore(StreamedPuts):
    SMALL = 128 * 1024

    def __init__(self, bucket: str, prefix: str = "", client: Any = None) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        # What worker processes are handed to open the same store (store/prepare.py).
        self.root = f"s3://{bucket}/{self.prefix}"
        self.client = client if client is not None else _client()

    @classmethod
    def from_url(cls, url: str) -> S3BlobStore:
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        if not bucket:
            raise ValueError(f"no bucket in {url!r}")
        return cls(bucket, prefix)

    def key(self, sha256: str) -> str:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 key")
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    # ------------------------------------------------------------------ writing

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if not self.exists(sha):
            self.client.put_object(Bucket=self.bucket, Key=self.key(sha), Body=data)
        return sha, len(data)

    @contextlib.contextmanager
    def batch(self) -> Iterator[S3Batch]:
        """Many blobs at once, uploaded by threads; leaving the block waits for them all."""
        batch = S3Batch(self)
        try:
            yield batch
        except BaseException:
            batch.wait(quiet=True)
            raise
        batch.wait()

    def writer(self, limit: int | None = None) -> S3Writer:
        return S3Writer(self, limit)

    # ------------------------------------------------------------------ reading

    def _get(self, sha256: str) -> Any:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self.key(sha256))
        except self.client.exceptions.NoSuchKey:
            raise FileNotFoundError(f"no blob {sha256}") from None

    def read(self, sha256: str) -> bytes:
        return cast(bytes, self._get(sha256)["Body"].read())

    def iter_chunks(self, sha256: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        body = self._get(sha256)["Body"]
        try:
            yield from body.iter_chunks(chunk_size)
        finally:
            body.close()

    def open(self, sha256: str) -> BinaryIO:
        """A seekable copy (in memory up to SPOOL bytes, else a temp file)."""
        spool = tempfile.SpooledTemporaryFile(SPOOL)  # noqa: SIM115 - the caller closes it
        for chunk in self.iter_chunks(sha256):
            spool.write(chunk)
        spool.seek(0)
        return cast(BinaryIO, spool)

    def _head(self, sha256: str) -> dict[str, Any] | None:
        from botocore.exceptions import ClientError

        try:
            return cast(
                "dict[str, Any]",
                self.client.head_object(Bucket=self.bucket, Key=self.key(sha256)),
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise

    def exists(self, sha256: str) -> bool:
        return self._head(sha256) is not None

    def size(self, sha256: str) -> int:
        head = self._head(sha256)
        if head is None:
            raise FileNotFoundError(f"no blob {sha256}")
        return int(head["ContentLength"])

    def delete(self, sha256: str) -> None:
        self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))


class S3Batch:
    def __init__(self, store: S3BlobStore) -> None:
        self.store = store
        self.pending: list[Future[tuple[str, int]]] = []
        self.keys: set[str] = set()

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        sha = hashlib.sha256(data).hexdigest()
        if sha not in self.keys:
            self.keys.add(sha)
            self.pending.append(_uploaders().submit(self.store.put_bytes, data))
        return sha, len(data)

    def wait(self, quiet: bool = False) -> None:
        pending, self.pending = self.pending, []
        for future in pending:
            if quiet:
                future.exception()
            else:
                future.result()


class S3Writer:
    """Hashes while spooling; `finish` uploads under the hash (multipart when large)."""

    def __init__(self, store: S3BlobStore, limit: int | None) -> None:
        self.store = store
        self.limit = limit
        self.hash = hashlib.sha256()
        self.size = 0
        self.spool: IO[bytes] = tempfile.SpooledTemporaryFile(SPOOL)  # noqa: SIM115

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise BlobTooLarge(self.limit)
        self.hash.update(chunk)
        self.spool.write(chunk)

    def abort(self) -> None:
        self.spool.close()

    def finish(self) -> tuple[str, int]:
        sha = self.hash.hexdigest()
        try:
            if not self.store.exists(sha):
                self.spool.seek(0)
                self.store.client.upload_fileobj(self.spool, self.store.bucket, self.store.key(sha))
        finally:
            self.spool.close()
        return sha, self.size


def _client() -> Any:
    import boto3
    from botocore.config import Config

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    return boto3.client(
        "s3", region_name=region, config=Config(max_pool_connections=UPLOADERS + 24)
    )


@functools.cache
def _uploaders() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(UPLOADERS, thread_name_prefix="s3-upload")
