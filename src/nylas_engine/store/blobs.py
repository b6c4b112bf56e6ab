"""Content-addressed blob store: bytes are stored once, under their SHA-256."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import io
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO, Protocol

from nylas_engine.store.private import DIR_MODE, private_dir, private_file, write_private

CHUNK = 256 * 1024
WRITER_THREADS = 4  # files written at once by `BlobStore.batch`
PACK_PAGE = 65536  # bytes a page of a new pack (see `BlobStore._pack`)


class BlobTooLarge(Exception):
    """Raised when a stream passes the size limit it was written under."""


class Writer(Protocol):
    def write(self, chunk: bytes) -> None: ...
    def abort(self) -> None: ...
    def finish(self) -> tuple[str, int]: ...


class StreamedPuts:
    """Storing a blob from chunks, written once for every store: its `writer(limit)` hashes
    and stores as the chunks come; `BlobTooLarge` past `limit` bytes."""

    def writer(self, limit: int | None = None) -> Writer:
        raise NotImplementedError

    def put_chunks(self, chunks: Iterable[bytes], limit: int | None = None) -> tuple[str, int]:
        writer = self.writer(limit)
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
        writer = self.writer(limit)
        try:
            async for chunk in chunks:
                writer.write(chunk)
        except BaseException:
            writer.abort()
            raise
        return writer.finish()


class BlobStore(StreamedPuts):
    """Blobs under `root`: small ones (up to `SMALL` bytes, most raw messages) in the pack,
    an SQLite file `pack.db` holding many in a few pages, larger ones (and streamed uploads)
    as files `ab/cd/<sha256>`. Readers look in both, so either can hold any key.

    Creating a file costs far more than its bytes on many disks (a directory entry, an
    inode, a journal commit); a mailbox is mostly small messages, so the pack takes them
    with one transaction per batch instead."""

    SMALL = 128 * 1024

    def __init__(self, root: Path) -> None:
        self.root = root
        private_dir(root)
        private_dir(root / "tmp")
        self._local = threading.local()

    def path(self, sha256: str) -> Path:
        """Where the file of a (large) blob is."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 key")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    # ------------------------------------------------------------------ writing

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Bytes already in memory: hashed first, so a blob we hold costs no write at all."""
        key = hashlib.sha256(data).hexdigest()
        if len(data) <= self.SMALL:
            self._pack_many([(key, data)])
        else:
            self._write(key, data)
        return key, len(data)

    def _write(self, key: str, data: bytes) -> None:
        """A file, written once under a name of its own and renamed into place."""
        dest = self.path(key)
        if dest.exists():
            return
        tmp = self.root / "tmp" / f"{key}.{os.getpid()}.{threading.get_ident()}"
        try:
            write_private(tmp, data)
            try:
                os.replace(tmp, dest)
            except FileNotFoundError:  # the first blob under this prefix
                _make_parents(dest)
                os.replace(tmp, dest)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise

    def _pack_many(self, items: list[tuple[str, bytes]]) -> None:
        if not items:
            return
        pack = self._pack()
        with pack:  # one transaction
            pack.executemany("INSERT OR IGNORE INTO blobs (key, data) VALUES (?, ?)", items)

    def _pack(self) -> sqlite3.Connection:
        """This thread's connection to the pack (SQLite connections stay in their thread;
        several processes share the file, as WAL allows)."""
        pack: sqlite3.Connection | None = getattr(self._local, "pack", None)
        if pack is None:
            pack = sqlite3.connect(private_file(self.root / "pack.db"), timeout=30)
            # A new pack in pages of 64 KiB (an existing one keeps its own): messages of a
            # few KiB fill fewer pages, and a first sync's ~70 MiB go in with ~30% less CPU
            # than in SQLite's 4 KiB pages, for ~5% more file.
            pack.execute(f"PRAGMA page_size={PACK_PAGE}")
            # Two processes opening a new pack at once (a sync's worker processes) can each
            # hold the file and want it alone to make it WAL: SQLite then fails one at once,
            # without waiting (it would deadlock), so that one tries again.
            deadline = time.monotonic() + 30
            while True:
                try:
                    pack.execute("PRAGMA journal_mode=WAL")
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) or time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            pack.execute("PRAGMA synchronous=NORMAL")
            pack.execute("CREATE TABLE IF NOT EXISTS blobs (key TEXT PRIMARY KEY, data BLOB)")
            self._local.pack = pack
        return pack

    @contextlib.contextmanager
    def batch(self) -> Iterator[BlobBatch]:
        """Many blobs at once: `put_bytes` on the batch hashes at once; small blobs go into
        the pack in one transaction when the block ends, large ones are written as files by
        background threads meanwhile (file creation needs no GIL). Leaving the block waits
        until every blob is stored, and raises if one could not be. Store nothing that
        refers to a blob before the block has ended."""
        batch = BlobBatch(self)
        try:
            yield batch
        except BaseException:
            batch.wait(quiet=True)  # the caller's error is the one to report
            raise
        batch.wait()

    def writer(self, limit: int | None = None) -> _BlobWriter:
        return _BlobWriter(self, limit)

    # ------------------------------------------------------------------ reading

    def _packed(self, sha256: str) -> bytes | None:
        row = self._pack().execute("SELECT data FROM blobs WHERE key = ?", (sha256,)).fetchone()
        return bytes(row[0]) if row is not None else None

    def read(self, sha256: str) -> bytes:
        path = self.path(sha256)
        if path.exists():
            return path.read_bytes()
        data = self._packed(sha256)
        if data is None:
            raise FileNotFoundError(f"no blob {sha256}")
        return data

    def iter_chunks(self, sha256: str, chunk_size: int = CHUNK) -> Iterator[bytes]:
        path = self.path(sha256)
        if not path.exists():
            data = self.read(sha256)  # a small blob: in memory at once anyway
            for start in range(0, len(data), chunk_size):
                yield data[start : start + chunk_size]
            return
        with path.open("rb") as fh:
            while chunk := fh.read(chunk_size):
                yield chunk

    def exists(self, sha256: str) -> bool:
        if self.path(sha256).exists():
            return True
        row = self._pack().execute("SELECT 1 FROM blobs WHERE key = ?", (sha256,)).fetchone()
        return row is not None

    def open(self, sha256: str) -> BinaryIO:
        """The blob as a binary file object (a real file for large blobs)."""
        path = self.path(sha256)
        if path.exists():
            return path.open("rb")
        return io.BytesIO(self.read(sha256))

    def delete(self, sha256: str) -> None:
        """Forget a blob, wherever it is (nothing happens if it isn't there)."""
        self.path(sha256).unlink(missing_ok=True)
        pack = self._pack()
        with pack:
            pack.execute("DELETE FROM blobs WHERE key = ?", (sha256,))

    def size(self, sha256: str) -> int:
        path = self.path(sha256)
        if path.exists():
            return path.stat().st_size
        row = (
            self._pack()
            .execute("SELECT length(data) FROM blobs WHERE key = ?", (sha256,))
            .fetchone()
        )
        if row is None:
            raise FileNotFoundError(f"no blob {sha256}")
        return int(row[0])


class BlobBatch:
    def __init__(self, store: BlobStore) -> None:
        self.store = store
        self.pending: list[Future[None]] = []
        self.small: list[tuple[str, bytes]] = []
        self.keys: set[str] = set()

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        key = hashlib.sha256(data).hexdigest()
        if key not in self.keys:
            self.keys.add(key)
            if len(data) <= self.store.SMALL:
                self.small.append((key, data))
            else:
                self.pending.append(_writer_pool().submit(self.store._write, key, data))
        return key, len(data)

    def wait(self, quiet: bool = False) -> None:
        pending, self.pending = self.pending, []
        small, self.small = self.small, []
        if quiet:
            for future in pending:
                future.exception()
            return
        self.store._pack_many(small)
        for future in pending:
            future.result()


def _make_parents(dest: Path) -> None:
    """The `ab/cd/` directories of a blob file, private like the rest (mkdir's `parents`
    would make `ab/` with the default mode)."""
    for directory in (dest.parent.parent, dest.parent):
        directory.mkdir(mode=DIR_MODE, exist_ok=True)


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
        _make_parents(dest)
        if dest.exists():
            self.tmp.unlink(missing_ok=True)
        else:
            os.replace(self.tmp, dest)
        return key, self.size
