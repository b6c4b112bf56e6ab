"""The outbox scheduler of `nylas-engine serve`: sends each job when it is due
(send/scheduled.py says how one is sent).

Every `NYLAS_ENGINE_OUTBOX_POLL` seconds (default 1) the due jobs are looked up and handed to
up to 4 sender threads. Everything it needs is in the database, so jobs survive a restart:
a job that fell due while the engine was down goes out at its next poll. A job is claimed
with a compare-and-set before it is sent, so two schedulers on one database never both send
it. Each engine names its claims with a random boot id; a claim of another engine older
than `NYLAS_ENGINE_OUTBOX_LEASE` seconds (default 300, longer than any SMTP exchange takes)
belongs to an engine that stopped, and is recovered (`scheduled.recover`).
"""

from __future__ import annotations

import logging
import os
import secrets
import threading
from concurrent.futures import ThreadPoolExecutor

from nylas_engine.config import env_number
from nylas_engine.context import EngineContext
from nylas_engine.send import scheduled
from nylas_engine.store import outbox_jobs
from nylas_engine.store.models import now

log = logging.getLogger("nylas_engine.outbox")

POLL_ENV, DEFAULT_POLL = "NYLAS_ENGINE_OUTBOX_POLL", 1.0
RETRY_ENV, DEFAULT_RETRY = "NYLAS_ENGINE_OUTBOX_RETRY", 30.0
LEASE_ENV, DEFAULT_LEASE = "NYLAS_ENGINE_OUTBOX_LEASE", 300.0
SENDERS = 4
BATCH = 50  # due jobs looked up per poll


class OutboxScheduler(threading.Thread):
    def __init__(self, ctx: EngineContext) -> None:
        super().__init__(name="outbox", daemon=True)
        self.ctx = ctx
        self.boot = secrets.token_hex(8)
        self.poll = env_number(POLL_ENV, DEFAULT_POLL)
        self.retry = env_number(RETRY_ENV, DEFAULT_RETRY)
        self.lease = env_number(LEASE_ENV, DEFAULT_LEASE)
        self.stopping = threading.Event()
        self.pool = ThreadPoolExecutor(SENDERS, thread_name_prefix="outbox")
        self._busy: set[int] = set()
        self._lock = threading.Lock()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        try:
            while not self.stopping.wait(self.poll):
                try:
                    self.turn()
                except Exception:  # a bug or a database hiccup must not end the outbox
                    log.exception("outbox scheduling failed")
        finally:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def turn(self) -> None:
        scheduled.recover(self.ctx, self.boot, self.lease)
        with self.ctx.db.session() as session:
            due = outbox_jobs.due(session, now(), BATCH)
        for job_id in due:
            with self._lock:
                if job_id in self._busy:
                    continue
                self._busy.add(job_id)
            self.pool.submit(self._send, job_id)

    def _send(self, job_id: int) -> None:
        try:
            if not self.stopping.is_set():
                scheduled.run_job(self.ctx, job_id, self.boot, self.retry)
        except Exception:
            log.exception("outbox job %s: sending failed", job_id)
        finally:
            with self._lock:
                self._busy.discard(job_id)


def start_outbox(ctx: EngineContext) -> OutboxScheduler | None:
    """The scheduler in a thread of `serve` (off: NYLAS_ENGINE_OUTBOX=0)."""
    if os.environ.get("NYLAS_ENGINE_OUTBOX", "1") == "0":
        return None
    scheduler = OutboxScheduler(ctx)
    scheduler.start()
    return scheduler
