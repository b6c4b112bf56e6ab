"""Worker processes fed over pipes: the `PreparePool` of an IMAP sync.

`concurrent.futures.ProcessPoolExecutor` with spawned workers also starts multiprocessing's
resource tracker (its queues are built on named semaphores, which need one): a third Python
interpreter of ~10 MiB, 6% of a first sync's memory, for semaphores that are never leaked.
These workers are started as `python -m nylas_engine.store.pipe_workers`, read pickled
calls from their stdin and write pickled answers to a pipe of their own (their stdout then
goes to stderr, so nothing they print can garble an answer). A worker exits when its stdin
closes, which is also what happens when the engine dies however it dies: nothing has to
watch for it.

Only what `PreparePool` uses is here: `submit` (a module-level function and picklable
arguments) and `shutdown`. A worker that dies fails its call and every later one with
`BrokenExecutor`, on which `Preparing` does the work in the engine instead.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import BrokenExecutor, Future
from typing import IO, Any

_STOP = None  # put on the task queue: a feeding thread ends


class PipeWorkers:
    """`workers` processes, each fed by a thread of this process, taking calls in turn."""

    def __init__(self, workers: int) -> None:
        self._tasks: queue.SimpleQueue[tuple[Future[Any], bytes] | None] = queue.SimpleQueue()
        self._broken = False
        self._lock = threading.Lock()
        self._processes = {p.pid: p for p in (_start() for _ in range(workers))}  # by pid
        for process in self._processes.values():
            threading.Thread(
                target=self._feed, args=(process,), name="pipe-worker", daemon=True
            ).start()

    def submit(self, function: Callable[..., Any], *args: Any) -> Future[Any]:
        call = pickle.dumps((function, args), pickle.HIGHEST_PROTOCOL)
        future: Future[Any] = Future()
        with self._lock:
            if self._broken:
                raise BrokenExecutor("a worker process died")
            self._tasks.put((future, call))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Let the workers finish the call they are on and exit (stdin closed)."""
        with self._lock:
            if cancel_futures:
                self._cancel_waiting()
            for _ in self._processes:
                self._tasks.put(_STOP)
        if wait:
            for process in self._processes.values():
                process.wait()

    def _feed(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdin is not None and process.stdout is not None
        try:
            while (task := self._tasks.get()) is not None:
                future, call = task
                if not future.set_running_or_notify_cancel():
                    continue
                try:
                    process.stdin.write(call)
                    process.stdin.flush()
                    ok, value = pickle.load(process.stdout)
                except (OSError, EOFError, pickle.UnpicklingError) as exc:
                    future.set_exception(BrokenExecutor(f"a worker process died ({exc!r})"))
                    with self._lock:
                        self._broken = True
                        self._cancel_waiting()
                    return
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        finally:
            process.stdin.close()

    def _cancel_waiting(self) -> None:
        """Fail every call not yet taken (the lock held)."""
        while True:
            try:
                task = self._tasks.get_nowait()
            except queue.Empty:
                return
            if task is _STOP:
                self._tasks.put(_STOP)
                return
            future, _ = task
            if self._broken:
                if future.set_running_or_notify_cancel():
                    future.set_exception(BrokenExecutor("a worker process died"))
            else:
                future.cancel()


def _start() -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", __name__],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        close_fds=True,
    )


def _serve(calls: IO[bytes], answers: IO[bytes]) -> None:
    while True:
        try:
            function, args = pickle.load(calls)
        except EOFError:  # the engine closed the pipe, or is gone
            return
        try:
            answer = pickle.dumps((True, function(*args)), pickle.HIGHEST_PROTOCOL)
        except BaseException as exc:  # noqa: BLE001 - handed back to the caller
            try:
                answer = pickle.dumps((False, exc), pickle.HIGHEST_PROTOCOL)
            except Exception:  # an exception that cannot be pickled: its text
                answer = pickle.dumps((False, RuntimeError(repr(exc))))
        answers.write(answer)
        answers.flush()


if __name__ == "__main__":
    from nylas_engine.bulk_gc import raise_threshold

    raise_threshold()  # this process only parses and stores batches of mail
    _answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # a stray print goes to stderr
    _serve(sys.stdin.buffer, _answers)
    # Done: out without the interpreter's teardown of what the batches left (as `cli.run`);
    # every answer was flushed, and nothing else here needs closing.
    sys.stderr.flush()
    os._exit(0)
