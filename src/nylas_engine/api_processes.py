"""`serve --workers N`: the API in N processes, each accepting on a listening socket of its
own, all bound to the one port with SO_REUSEPORT, so that the kernel spreads new connections
over the processes.

uvicorn's own supervisor gives every worker the same socket, and a worker that wakes up
accepts every connection waiting: a client that opens its connections at once (a pool, a
load generator) had all or most of them on one process, and two processes served no more
than one (bench/RESULTS.md, "Fleet"). Each worker is started as uvicorn starts its own
(`get_subprocess`: the server's `run` with the sockets, logging configured in the child);
this supervisor keeps each on its socket, restarts one that dies, and stops them all on
SIGINT/SIGTERM.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
from typing import Any

STARTUP_GRACE = 5.0  # a worker that dies sooner can't start (bad settings): stop, don't loop
STOP_WAIT = 5.0  # seconds each worker has to finish after SIGTERM before it is killed


class ApiProcesses:
    def __init__(self, config: Any, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.processes: list[Any] = [None] * len(sockets)
        self.started = [0.0] * len(sockets)
        self.failed = False

    def _start(self, index: int) -> None:
        import uvicorn
        from uvicorn._subprocess import get_subprocess

        server = uvicorn.Server(self.config)
        process = get_subprocess(self.config, target=server.run, sockets=[self.sockets[index]])
        process.start()
        self.processes[index] = process
        self.started[index] = time.monotonic()

    def run(self) -> None:
        """Serve until SIGINT/SIGTERM (or until a worker can't start)."""
        stop = threading.Event()
        previous = {sig: signal.signal(sig, lambda *_: stop.set()) for sig in _SIGNALS}
        try:
            for index in range(len(self.sockets)):
                self._start(index)
            while not stop.wait(0.5):
                for index, process in enumerate(self.processes):
                    if process.is_alive():
                        continue
                    if time.monotonic() - self.started[index] < STARTUP_GRACE:
                        self.failed = True
                        stop.set()
                        break
                    self._start(index)
        finally:
            self._stop_all()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.failed:
            raise SystemExit("an API worker process could not start (its error is above)")

    def _stop_all(self) -> None:
        running = [p for p in self.processes if p is not None and p.is_alive()]
        for process in running:
            os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_WAIT
        for process in running:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()


_SIGNALS = (signal.SIGINT, signal.SIGTERM)
