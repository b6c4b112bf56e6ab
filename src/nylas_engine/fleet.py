"""A background worker of a fleet (`nylas-engine serve --role worker`, docs/scaling.md).

Workers share nothing but the database. Each one, every `beat` seconds:
* renews its presence lease `worker:<owner>`; the live presence leases are the fleet;
* renews the leases of the accounts it syncs, and stops the sync of any it lost;
* takes its fair share of the IMAP accounts, ceil(accounts / live workers): free leases and
  expired ones (a dead worker's, taken over within `ttl` + `beat` seconds), and hands back
  what it holds above its share so that a new worker gets some;
* runs CalDAV/CardDAV sync while it holds the `job:dav` lease (one DAV syncer in the fleet);
* runs webhook delivery while it holds the `job:webhooks` lease (one deliverer in the fleet,
  so each webhook's notifications go out in order and once).

Outbox jobs are claimed one by one with a compare-and-set (send/scheduler.py), so every
worker runs a scheduler; mail sent through the API is filed in Sent by the account's sync,
which runs in the worker holding the account's lease.

Each account's sync runs under its lease (`store.leases.fenced`): a commit after the lease
was taken over raises `LeaseLost`, and the sync ends without writing.
On shutdown the worker stops its syncs and releases its leases, so the others take over at
their next beat.
"""

from __future__ import annotations

import logging
import math
import os
import secrets
import socket
import threading
import time
import zlib
from typing import Any

from nylas_engine.config import env_number
from nylas_engine.context import EngineContext
from nylas_engine.store import leases
from nylas_engine.store.leases import Lease, account_lease

log = logging.getLogger("nylas_engine.fleet")

TTL_ENV, DEFAULT_TTL = "NYLAS_ENGINE_LEASE_TTL", 15.0  # seconds a lease lasts unrenewed
WEBHOOKS_LEASE = "job:webhooks"
DAV_LEASE = "job:dav"


class FencedWorker:
    """An account's sync thread, bound to the account's lease."""

    def __init__(self, ctx: EngineContext, account_id: int, lease: Lease) -> None:
        from nylas_engine.sync.worker import AccountWorker

        self.lease = lease
        self.thread = AccountWorker(ctx, account_id)
        run = self.thread.run

        def fenced_run() -> None:
            with leases.fenced(lease):
                run()

        self.thread.run = fenced_run  # type: ignore[method-assign]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.thread.stop()


class Fleet:
    def __init__(self, ctx: EngineContext, *, ttl: float | None = None) -> None:
        self.ctx = ctx
        self.ttl = ttl if ttl is not None else env_number(TTL_ENV, DEFAULT_TTL)
        self.beat = self.ttl / 5
        host = socket.gethostname()[:24]
        self.owner = f"{host}:{os.getpid()}:{secrets.token_hex(4)}"
        self.presence = f"{leases.WORKER_PREFIX}{self.owner}"
        self.syncing: dict[int, FencedWorker] = {}
        # Handed back, still finishing: their leases are renewed until the thread ends, then
        # released, so the next owner never overlaps with them.
        self.leaving: list[FencedWorker] = []
        self.webhooks: Any = None
        self.webhooks_lease: Lease | None = None
        self.dav: Any = None
        self.dav_lease: Lease | None = None
        self.outbox: Any = None
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)

    def start(self) -> Fleet:
        from nylas_engine.send.scheduler import start_outbox

        with self.ctx.db.session() as session:
            leases.claim(session, self.presence, self.owner, self.ttl)
        self.outbox = start_outbox(self.ctx)
        self._thread.start()
        return self

    def wait(self) -> None:
        while not self.stopping.wait(1.0):
            pass

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        self._thread.join(timeout)
        everyone = [*self.syncing.values(), *self.leaving]
        for worker in everyone:
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in everyone:
            worker.thread.join(max(0.1, deadline - time.monotonic()))
        if self.webhooks is not None:
            self.webhooks.stop()
        if self.dav is not None:
            self.dav.stop()
        if self.outbox is not None:
            self.outbox.stop()
        with self.ctx.db.session() as session:
            for worker in everyone:
                leases.release(session, worker.lease)
            for job in (self.webhooks_lease, self.dav_lease):
                if job is not None:
                    leases.release(session, job)
            leases.forget(session, self.presence, self.owner)

    # ------------------------------------------------------------------ the beat

    def _run(self) -> None:
        # Workers started together see each other before taking accounts: one beat first.
        self.stopping.wait(self.beat)
        while not self.stopping.is_set():
            try:
                self.turn()
            except Exception:  # the database being away must not end the worker
                log.exception("fleet heartbeat failed")
            self.stopping.wait(self.beat)

    def turn(self) -> None:
        from nylas_engine.store.sync_status import imap_account_ids

        with self.ctx.db.session() as session:
            leases.claim(session, self.presence, self.owner, self.ttl)
            done = [w for w in self.leaving if not w.thread.is_alive()]
            for worker in done:
                leases.release(session, worker.lease)
            self.leaving = [w for w in self.leaving if w not in done]
            held = [w.lease for w in [*self.syncing.values(), *self.leaving]]
            kept = leases.renew_all(session, held, self.owner, self.ttl)
            lost = [a for a, worker in self.syncing.items() if worker.lease.name not in kept]
            accounts = sorted(imap_account_ids(session))
            workers = max(1, len(leases.live_owners(session)))
        for account_id in lost:
            log.warning("lost the lease of account %s: another worker syncs it", account_id)
            self.syncing.pop(account_id).stop()
        for account_id in list(self.syncing.keys() - set(accounts)):  # deleted accounts
            self._hand_back(account_id)
        share = math.ceil(len(accounts) / workers)
        for account_id in sorted(self.syncing)[share:]:
            self._hand_back(account_id)
        if len(self.syncing) < share:
            self._take(accounts, share)
        self._webhook_job()
        self._dav_job()

    def _take(self, accounts: list[int], share: int) -> None:
        now = time.time()
        with self.ctx.db.session() as session:
            state = leases.held(session, leases.ACCOUNT_PREFIX)
        free = [
            a
            for a in accounts
            if a not in self.syncing
            and (
                (entry := state.get(account_lease(a))) is None or entry[0] is None or entry[2] < now
            )
        ]
        # Workers look at the free accounts in different orders, so that two starting
        # together mostly claim different ones.
        free.sort(key=lambda a: zlib.crc32(f"{self.owner}:{a}".encode()))
        for account_id in free:
            if len(self.syncing) >= share or self.stopping.is_set():
                return
            with self.ctx.db.session() as session:
                lease = leases.claim(session, account_lease(account_id), self.owner, self.ttl)
            if lease is None:
                continue
            worker = FencedWorker(self.ctx, account_id, lease)
            self.syncing[account_id] = worker
            worker.start()
            log.info("syncing account %s (lease generation %s)", account_id, lease.generation)

    def _hand_back(self, account_id: int) -> None:
        """Stop syncing; the lease is released at a later beat, once the thread has ended."""
        worker = self.syncing.pop(account_id)
        worker.stop()
        self.leaving.append(worker)

    def _webhook_job(self) -> None:
        from nylas_engine.webhooks.deliver import start_webhooks

        with self.ctx.db.session() as session:
            if self.webhooks_lease is not None:
                if not leases.renew(session, self.webhooks_lease, self.ttl):
                    self.webhooks_lease = None
            else:
                self.webhooks_lease = leases.claim(session, WEBHOOKS_LEASE, self.owner, self.ttl)
        if self.webhooks_lease is None and self.webhooks is not None:
            self.webhooks.stop()
            self.webhooks = None
        elif self.webhooks_lease is not None and self.webhooks is None:
            self.webhooks = start_webhooks(self.ctx, self.webhooks_lease)

    def _dav_job(self) -> None:
        """CalDAV/CardDAV sync (dav/) runs in one worker of the fleet, the holder of
        `job:dav`; it moves to another within a lease's lifetime when that worker stops."""
        from nylas_engine.dav.worker import start_dav

        with self.ctx.db.session() as session:
            if self.dav_lease is not None:
                if not leases.renew(session, self.dav_lease, self.ttl):
                    self.dav_lease = None
            else:
                self.dav_lease = leases.claim(session, DAV_LEASE, self.owner, self.ttl)
        if self.dav_lease is None and self.dav is not None:
            self.dav.stop()
            self.dav = None
        elif self.dav_lease is not None and self.dav is None:
            self.dav = start_dav(self.ctx)
