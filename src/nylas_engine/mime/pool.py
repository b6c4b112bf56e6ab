"""Parsing batches of messages in worker processes.

MIME parsing with the stdlib is the costliest step of storing mail and is pure Python, so one
process can't overlap it with anything. A sync that fetches many batches hands each batch to
this pool and, while the workers parse it, stores the batch before (see `FolderSync`).

Workers come from a `forkserver` (a clean process that imports only the parser), never from
a fork of the engine itself, which runs threads. With `NYLAS_ENGINE_PARSE_WORKERS=0`, or
where worker processes can't be started, batches are parsed in this process instead: the
same results, without the overlap.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor

from nylas_engine.mime.parse import ParsedMessage, parse_message

log = logging.getLogger(__name__)

WORKERS_ENV = "NYLAS_ENGINE_PARSE_WORKERS"


def parse_batch(raws: Sequence[bytes]) -> list[ParsedMessage]:
    return [parse_message(raw) for raw in raws]


def _default_workers() -> int:
    value = os.environ.get(WORKERS_ENV)
    if value is not None and value.strip().isdigit():
        return int(value)
    # Leave a core for the process that fetches and stores.
    return max(1, min(4, (os.cpu_count() or 2) - 1))


class Parsing:
    """A batch being parsed; `result()` waits for it (and parses here if a worker died).
    Without futures, `result()` parses in this process."""

    def __init__(
        self, raws: Sequence[bytes], futures: list[Future[list[ParsedMessage]]] | None = None
    ) -> None:
        self.raws = raws
        self.futures = futures

    def result(self) -> list[ParsedMessage]:
        if self.futures is None:
            return parse_batch(self.raws)
        try:
            return [parsed for future in self.futures for parsed in future.result()]
        except BrokenExecutor as exc:
            log.warning("a parser process died (%s); parsing in-process", exc)
            return parse_batch(self.raws)


class ParserPool:
    """Worker processes that parse batches; `submit(raws)` returns their `Parsing`.

    Start one for a long fetch and close it afterwards: the workers are started on first
    use and hold memory only while the pool is open."""

    def __init__(self, workers: int | None = None) -> None:
        self.workers = _default_workers() if workers is None else workers
        self._executor: ProcessPoolExecutor | None = None
        self._broken = self.workers <= 0

    def submit(self, raws: Sequence[bytes]) -> Parsing:
        executor = self._get_executor()
        if executor is None:
            return Parsing(raws)
        size = -(-len(raws) // self.workers) or 1  # one slice per worker
        try:
            futures = [
                executor.submit(parse_batch, list(raws[start : start + size]))
                for start in range(0, len(raws), size)
            ]
        except (BrokenExecutor, RuntimeError) as exc:
            log.warning("parser processes unavailable (%s); parsing in-process", exc)
            self._broken = True
            return Parsing(raws)
        return Parsing(raws, futures)

    def _get_executor(self) -> ProcessPoolExecutor | None:
        if self._executor is None and not self._broken:
            try:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(["nylas_engine.mime.parse"])
                self._executor = ProcessPoolExecutor(self.workers, mp_context=context)
            except Exception as exc:
                log.warning("cannot start parser processes (%s); parsing in-process", exc)
                self._broken = True
        return None if self._broken else self._executor

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> ParserPool:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()
