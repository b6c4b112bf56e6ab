"""Content-addressed blob directory: bytes are stored once, under their SHA-256."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

CHUNK = 256 * 1024
WRITER_THREADS = 4  # files written at once by `BlobStore.batch`


class BlobTooLarge(Exception):
    """Raised when a stream passes the size limit it was written under."""


class BlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 key")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Bytes already in memory: hashed first, so a blob we hold costs no write at all,
        and a new one is written once under a name of its own and renamed into place."""
        key = hashlib.sha256(data).hexdigest()
        self._write(key, data)
        return key, len(data)

    def _write(self, key: str, data: bytes) -> None:
        dest = self.path(key)
        if dest.exists():
            return
        tmp = self.root / "tmp" / f"{key}.{os.getpid()}.{threading.get_ident()}"
        try:
            tmp.write_bytes(data)
            try:
                os.replace(tmp, dest)
            except FileNotFoundError:  # the first blob under this prefix
                dest.parent.mkdir(parents=True, exist_ok=True)
                os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    @contextlib.contextmanager
    def batch(self) -> Iterator[BlobBatch]:
        """Many blobs at once: `put_bytes` on the batch hashes at once and writes in
        background threads (file creation is slow on many disks and needs no GIL), so the
        caller goes on with its own work; leaving the block waits until every blob is on
        disk, and raises if one could not be written. Store nothing that refers to a
        blob before the block has ended."""
        batch = BlobBatch(self)
        try:
            yield batch
        except BaseException:
            batch.wait(quiet=True)  # the caller's error is the one to report
            raise
        batch.wait()

    def put_chunks(self, chunks: Iterable[bytes], limit: int | None = None) -> tuple[str, int]:
        """Write chunks to a temp file while hashing, then move it under its hash."""
        writer = _BlobWriter(self, limit)
        try:
            for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    async def put_stream(
        self, chunks: AsyncIterator[bytes], limit: int | None = None
    ) -> tuple[str, int]:
        writer = _BlobWriter(self, limit)
        try:
            async for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()

    def writer(self, limit: int | None = None) -> _BlobWriter:
        return _BlobWriter(self, limit)

    def read(self, sha256: str) -> bytes:
        return self.path(sha256).read_bytes()

    def iter_chunks(self, sha256: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        with self.path(sha256).open("rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).exists()


class BlobBatch:
    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.pending: list[Future[None]] = []
        self.keys: set[str] = set()

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        key = hashlib.sha256(data).hexdigest()
        if key not in self.keys:
            self.keys.add(key)
            self.pending.append(_writer_pool().submit(self.store._write, key, data))
        return key, len(data)

    def wait(self, quiet: bool = False) -> None:
        pending, self.pending = self.pending, []
        for future in pending:
            if quiet:
                future.exception()
            else:
                future.result()


@functools.cache
def _writer_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(WRITER_THREADS, thread_name_prefix="blob-writer")


class _BlobWriter:
    def __init__(self, store: BlobStore, limit: int | None) -> None:
        self.store = store
        self.limit = limit
        self.hash = hashlib.sha256()
        self.size = 0
        fd, name = tempfile.mkstemp(dir=store.root / "tmp")
        self.tmp = Path(name)
        self.fh = os.fdopen(fd, "wb")

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.limit is not None and self.size > self.limit:
            raise BlobTooLarge(self.limit)
        self.hash.update(chunk)
        self.fh.write(chunk)

    def abort(self) -> None:
        self.fh.close()
        self.tmp.unlink(missing_ok=True)

    def finish(self) -> tuple[str, int]:
        self.fh.close()
        key = self.hash.hexdigest()
        dest = self.store.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            self.tmp.unlink(missing_ok=True)
        else:
            os.replace(self.tmp, dest)
        return key, self.size
