"""Preparing batches of messages for `ingest_messages` in worker processes: MIME parsing,
and writing the raw bytes and attachments into the blob store.

Both are the costliest steps of storing mail, and parsing is pure Python, so one process
can't overlap them with anything. A sync that fetches many batches hands each batch to this
pool and, while the workers prepare it, stores the batch before (see `FolderSync`). A
prepared message carries its blob keys (`ParsedMessage.raw_sha256`, `ParsedAttachment.sha256`)
and no attachment bytes, so little comes back from the workers and ingest writes nothing.

Workers come from a `forkserver` (a clean process that imports only this module), or are
started on their own and fed over pipes (`PIPE`, see `store.pipe_workers`: what the IMAP
sync uses), never from a fork of the engine itself, which runs threads. Each worker exits
once the engine is gone (a forkserver's watches its process, a piped one sees its stdin
close): an engine killed with SIGKILL can't stop its workers, and they would otherwise
wait for work forever. With `NYLAS_ENGINE_PARSE_WORKERS=0`, or
where worker processes can't be started, batches are parsed in this process instead: the
same results, without the overlap.
"""

from __future__ import annotations

import contextlib
import functools
import importlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import BrokenExecutor, CancelledError, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

from nylas_engine.mime.parse import ParsedMessage, parse_message
from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.pipe_workers import PipeWorkers

log = logging.getLogger(__name__)

WORKERS_ENV = "NYLAS_ENGINE_PARSE_WORKERS"
WATCH_INTERVAL = 1.0  # seconds between a worker's checks that the engine is still there
T = TypeVar("T")
# Batches a pool prepares ahead of the one being stored: enough that the workers never wait
# for the storing process, few enough that memory stays flat.
BATCHES_AHEAD = 2
# `PreparePool(start_method=PIPE)`: workers fed over pipes (store/pipe_workers.py), without
# multiprocessing's resource tracker process.
PIPE = "pipe"
Workers = ProcessPoolExecutor | PipeWorkers


def prepare_batch(
    raws: Sequence[bytes],
    blob_root: Path | None = None,
    fallback_dates: Sequence[int | None] | None = None,
) -> list[ParsedMessage]:
    """Parse each message; with `blob_root`, also put it and its files in that blob store.
    `fallback_dates` (one per message) stand in for a missing or unreadable Date header."""
    dates = fallback_dates or [None] * len(raws)
    prepared = [
        parse_message(raw, fallback_date=date) for raw, date in zip(raws, dates, strict=True)
    ]
    if blob_root is not None:
        with _store(blob_root).batch() as blobs:
            for raw, parsed in zip(raws, prepared, strict=True):
                parsed.raw_sha256, parsed.raw_size = blobs.put_bytes(raw)
                for part in parsed.attachments:
                    part.sha256, part.size = blobs.put_bytes(part.data)
                    part.data = b""
    return prepared


def prepare_dated(
    items: Sequence[tuple[bytes, int | None]], blob_root: Path | None = None
) -> list[ParsedMessage]:
    """`prepare_batch` of (raw message, fallback date) pairs: an import's batches."""
    return prepare_batch([raw for raw, _ in items], blob_root, [date for _, date in items])


@functools.cache
def _store(root: Path) -> BlobStore:
    """One blob store (one pack connection) per worker process and root."""
    if str(root).startswith("s3://"):  # S3BlobStore.root: a URL, not a path
        from nylas_engine.store.s3_blobs import S3BlobStore

        return cast(BlobStore, S3BlobStore.from_url(str(root)))
    return BlobStore(root)


def _exit_with(engine_pid: int) -> None:
    """Worker initializer: exit once `engine_pid` is gone."""

    def watch() -> None:
        while True:
            time.sleep(WATCH_INTERVAL)
            try:
                os.kill(engine_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:  # alive, and not ours to signal
                pass

    threading.Thread(target=watch, name="engine-watch", daemon=True).start()


def sync_workers() -> int | None:
    """How many worker processes an IMAP sync's pool has: one (the sync's own process
    stores as fast as one fetches and parses), or as many as `NYLAS_ENGINE_PARSE_WORKERS`
    says (None: read it)."""
    return None if os.environ.get(WORKERS_ENV) else 1


def warm_up(workers: int | None, preload: str) -> None:
    """Start the workers of a `PreparePool(workers, start_method=PIPE)` now, each importing
    `preload`, and park them for the first such pool to take (they stop after IDLE_SECONDS
    untaken). A worker takes a few tenths of a second to start and import the parser,
    which a caller about to fetch mail spends on work of its own. Nothing happens if such
    workers wait already, or when none can be started (the pool then tries again)."""
    count = _default_workers() if workers is None else workers
    key = (count, PIPE)
    if count <= 0:
        return
    with _idle_lock:
        if key in _idle:
            return
    try:
        executor = PipeWorkers(count)
        for _ in range(count):
            executor.submit(_import, preload)
    except Exception as exc:
        log.warning("cannot start worker processes (%s)", exc)
        return
    _park(key, executor)


def _import(module: str) -> None:
    importlib.import_module(module)


def _default_workers() -> int:
    value = os.environ.get(WORKERS_ENV)
    if value is not None and value.strip().isdigit():
        return int(value)
    # One per core: a worker waits on the disk as much as it parses, and the process that
    # fetches and stores waits on the workers.
    return max(1, min(4, os.cpu_count() or 2))


class Preparing(Generic[T]):
    """Work handed to the workers; `result()` waits for it. Without futures, or when a worker
    died, `result()` runs `fallback` in this process instead (same results, no overlap)."""

    def __init__(
        self, fallback: Callable[[], list[T]], futures: list[Future[list[T]]] | None = None
    ) -> None:
        self.fallback = fallback
        self.futures = futures

    def result(self) -> list[T]:
        if self.futures is None:
            return self.fallback()
        try:
            return [item for future in self.futures for item in future.result()]
        except BrokenExecutor as exc:
            log.warning("a worker process died (%s); doing its work in-process", exc)
            return self.fallback()
        except CancelledError:  # its pool was shut down before the work began
            log.warning("work handed to a worker process was dropped; doing it in-process")
            return self.fallback()


# A pool's processes outlive it for IDLE_SECONDS, for the next pool to take over: a sync
# opens one per folder, and starting the workers again for each would cost more than the
# folder's own parsing.
IDLE_SECONDS = 10.0
_idle: dict[tuple[int, str], tuple[Workers, threading.Timer]] = {}
_idle_lock = threading.Lock()


def _take_idle(key: tuple[int, str]) -> Workers | None:
    with _idle_lock:
        found = _idle.pop(key, None)
    if found is None:
        return None
    executor, timer = found
    timer.cancel()
    return executor


def _park(key: tuple[int, str], executor: Workers) -> None:
    def expire() -> None:
        with _idle_lock:
            if _idle.get(key, (None,))[0] is not executor:
                return
            del _idle[key]
        executor.shutdown(wait=False, cancel_futures=True)

    timer = threading.Timer(IDLE_SECONDS, expire)
    timer.daemon = True
    with _idle_lock:
        previous = _idle.pop(key, None)
        _idle[key] = (executor, timer)
    if previous is not None:
        previous[1].cancel()
        previous[0].shutdown(wait=False, cancel_futures=True)
    timer.start()


def close_idle() -> None:
    """Let every parked worker go now (they would stop after IDLE_SECONDS)."""
    with _idle_lock:
        parked = list(_idle.values())
        _idle.clear()
    for executor, timer in parked:
        timer.cancel()
        executor.shutdown(wait=False, cancel_futures=True)


class PreparePool:
    """Worker processes that prepare batches for `blobs`: `submit(raws)` parses messages,
    `map(...)` runs any picklable function over slices of a batch (the IMAP sync has the
    workers fetch too, see `sync.fetch`).

    Open one for a long fetch and close it afterwards: the workers are started on first
    use and hold memory only while the pool is open."""

    def __init__(
        self, blobs: BlobStore, workers: int | None = None, *, start_method: str = "forkserver"
    ) -> None:
        self.blob_root = blobs.root
        self.workers = _default_workers() if workers is None else workers
        self.start_method = start_method
        self._executor: Workers | None = None
        self._broken = self.workers <= 0

    def start(self, first: Callable[..., Any] = os.getpid, *args: Any) -> None:
        """Start the workers now rather than on the first `map`: a spawned worker takes a
        few tenths of a second to import, which the caller spends on work of its own. Each
        worker runs `first(*args)` before what `map` gives it (a module-level function, for
        what the work will need: the IMAP sync's opens the folder); its result, or failure,
        is dropped."""
        executor = self._get_executor()
        if executor is not None:
            with contextlib.suppress(BrokenExecutor, RuntimeError):  # `map` falls back then
                for _ in range(self.workers):
                    executor.submit(first, *args)  # a worker is spawned for each call waiting

    def submit(self, raws: Sequence[bytes]) -> Preparing[ParsedMessage]:
        """Parse `raws` and put them and their files in the blob store."""
        return self.map(prepare_batch, raws, self.blob_root, fallback=lambda: prepare_batch(raws))

    def map(
        self,
        function: Callable[..., list[T]],
        items: Sequence[Any],
        *args: Any,
        fallback: Callable[[], list[T]],
    ) -> Preparing[T]:
        """`function(slice, *args)` for one slice of `items` per worker; the results, in
        order, from `result()`. `fallback` does the same work here if the workers can't."""
        executor = self._get_executor()
        if executor is None:
            return Preparing(fallback)
        size = -(-len(items) // self.workers) or 1  # one slice per worker
        try:
            futures = [
                executor.submit(function, list(items[start : start + size]), *args)
                for start in range(0, len(items), size)
            ]
        except (BrokenExecutor, RuntimeError) as exc:
            log.warning("worker processes unavailable (%s); working in-process", exc)
            self._broken = True
            return Preparing(fallback)
        return Preparing(fallback, futures)

    def _get_executor(self) -> Workers | None:
        if self._executor is None and not self._broken:
            self._executor = _take_idle(self._key)
        if self._executor is None and not self._broken:
            try:
                if self.start_method == PIPE:
                    self._executor = PipeWorkers(self.workers)
                    return self._executor
                context = multiprocessing.get_context(self.start_method)
                if self.start_method == "forkserver":
                    context.set_forkserver_preload(["nylas_engine.store.prepare"])
                self._executor = ProcessPoolExecutor(
                    self.workers,
                    mp_context=context,
                    initializer=_exit_with,
                    initargs=(os.getpid(),),
                )
            except Exception as exc:
                log.warning("cannot start worker processes (%s); parsing in-process", exc)
                self._broken = True
        return None if self._broken else self._executor

    @property
    def _key(self) -> tuple[int, str]:
        return (self.workers, self.start_method)

    def close(self) -> None:
        """Hand the workers to the next pool of the same shape (they stop after IDLE_SECONDS
        unused); none is left running when this one broke."""
        if self._executor is not None:
            if self._broken:
                self._executor.shutdown(wait=False, cancel_futures=True)
            else:
                _park(self._key, self._executor)
            self._executor = None

    def __enter__(self) -> PreparePool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
