"""A background worker of a fleet (`nylas-engine serve --role worker`, docs/scaling.md).

Workers share nothing but the database. Each one, every `beat` seconds:
* renews its presence lease `worker:<owner>`; the live workers' presence leases are the
  fleet. Every other lease it holds lives as long as it is alive (store/leases.py): on
  PostgreSQL while it holds its liveness lock (store/liveness.py), kept by the database
  whether or not this beat gets the GIL in time. It stops the sync of any account whose
  lease it lost (only possible after its lock's connection was lost);
* takes its fair share of the IMAP accounts, ceil(accounts / live workers): free leases and
  dead workers' (a killed worker's at the next beat, its lock gone with its connection), and
  hands back what it holds above its share so that a new worker gets some;
* runs CalDAV/CardDAV sync while it holds the `job:dav` lease (one DAV syncer in the fleet,
  fenced by that lease as an account's sync is by the account's);
* runs webhook delivery while it holds the `job:webhooks` lease (one deliverer in the fleet,
  so each webhook's notifications go out in order and once).

Outbox jobs are claimed one by one with a compare-and-set (send/scheduler.py), so every
worker runs a scheduler; mail sent through the API is filed in Sent by the account's sync,
which runs in the worker holding the account's lease.

Each account's sync runs under its lease (`store.leases.fenced`): a commit after the lease
was taken over raises `LeaseLost`, and the sync ends without writing. A worker LISTENs for
the delta log's notifications (store/delta_notify.py), so a change made through any API
process wakes the sync thread of that account for write-back at once.
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

from sqlalchemy.orm import Session

from nylas_engine.config import env_number
from nylas_engine.context import EngineContext
from nylas_engine.store import leases
from nylas_engine.store.db import Database
from nylas_engine.store.delta_notify import DeltaNotifications
from nylas_engine.store.leases import Lease, account_lease
from nylas_engine.store.liveness import Liveness

log = logging.getLogger("nylas_engine.fleet")

TTL_ENV, DEFAULT_TTL = "NYLAS_ENGINE_LEASE_TTL", 15.0  # seconds a lease lasts unrenewed
WEBHOOKS_LEASE = "job:webhooks"
DAV_LEASE = "job:dav"
SWEEP_AFTER = 4  # a dead worker's presence row is removed this many TTLs after it expired
LIST_EVERY = 20  # beats between listings of the IMAP accounts when their number is unchanged


class FencedWorker:
    """An account's sync thread, bound to the account's lease, woken by `changes`."""

    def __init__(
        self,
        ctx: EngineContext,
        account_id: int,
        lease: Lease,
        changes: DeltaNotifications | None = None,
    ) -> None:
        from nylas_engine.sync.worker import AccountWorker

        self.lease = lease
        self.changes = changes
        wake = changes.watch(account_id) if changes is not None else None
        self.thread = AccountWorker(ctx, account_id, changed=wake)
        run = self.thread.run

        def fenced_run() -> None:
            try:
                with leases.fenced(lease):
                    run()
            finally:
                if changes is not None and wake is not None:
                    changes.unwatch(account_id, wake)

        self.thread.run = fenced_run  # type: ignore[method-assign]

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.thread.stop()


class Fleet:
    def __init__(self, ctx: EngineContext, *, ttl: float | None = None) -> None:
        self.ctx = ctx
        # The beat has a connection of its own: sync threads busy with initial syncs must
        # not keep it waiting for one of theirs past the lease's expiry.
        self.db = Database(ctx.db.url, run_migrations=False, pool_size=1)
        self.ttl = ttl if ttl is not None else env_number(TTL_ENV, DEFAULT_TTL)
        self.beat = self.ttl / 5
        host = socket.gethostname()[:24]
        self.owner = f"{host}:{os.getpid()}:{secrets.token_hex(4)}"
        self.presence: Lease | None = None
        # PostgreSQL: alive while this lock is held, whenever the beat gets the GIL
        self.liveness: Liveness | None = None
        self.changes: DeltaNotifications | None = None
        self.syncing: dict[int, FencedWorker] = {}
        # Handed back, still finishing: their leases are renewed until the thread ends, then
        # released, so the next owner never overlaps with them.
        self.leaving: list[FencedWorker] = []
        self.webhooks: Any = None
        self.webhooks_lease: Lease | None = None
        self.dav: Any = None
        self.dav_lease: Lease | None = None
        self.outbox: Any = None
        self._listed: list[int] = []
        self._listings = 0  # how many times the accounts were listed
        self._beats_unlisted = 0
        # Below its share, a worker looks for free accounts (all the account leases read);
        # after a look that found none, it waits twice as many beats before the next one
        # (at most LIST_EVERY), until the fleet's shape (workers, accounts listed) changes.
        self._take_shape: tuple[int, int] | None = None
        self._take_gap = 0
        self._take_skip = 0
        self._next_sweep = 0.0
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fleet", daemon=True)

    def start(self) -> Fleet:
        from nylas_engine.send.scheduler import start_outbox

        if not self.ctx.db.is_sqlite:
            self.liveness = Liveness(self.ctx.db.url, self.owner).start()
        with self.db.session() as session:
            self.presence = leases.join(session, self.owner, self.ttl)
        if not self.ctx.db.is_sqlite:
            self.changes = DeltaNotifications(self.ctx.db.url).start()
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
        if self.changes is not None:
            self.changes.stop()
        jobs = [job for job in (self.webhooks_lease, self.dav_lease) if job is not None]
        with self.db.session() as session:
            leases.release(session, [*(worker.lease for worker in everyone), *jobs])
            if self.presence is not None:
                leases.forget(session, self.presence.name, self.owner)
        if self.liveness is not None:
            self.liveness.close()
        self.db.engine.dispose()

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
        throughout = self.liveness.held_throughout() if self.liveness is not None else None
        with self.db.session() as session:
            done = [w for w in self.leaving if not w.thread.is_alive()]
            leases.release(session, [w.lease for w in done])
            self.leaving = [w for w in self.leaving if w not in done]
            assert self.presence is not None, "start() joins the fleet"
            beat = leases.beat(
                session, self.presence, self.ttl, slack=self.beat, alive_throughout=throughout
            )
            if beat is None:  # our presence row was swept: join again, keep what is still ours
                log.warning("this worker's presence had expired: it joins the fleet again")
                self.presence = leases.join(session, self.owner, self.ttl)
                held: set[Lease] | None = leases.owned(session, self.presence)
            else:
                held = beat.held
            accounts = self._accounts(session)
            workers = max(1, len(leases.live_owners(session)))
            if time.monotonic() >= self._next_sweep:
                leases.sweep(session, SWEEP_AFTER * self.ttl)
                self._next_sweep = time.monotonic() + self.ttl
        if held is not None:  # we were slow: some leases may have been taken over
            self._drop_lost(held)
        for account_id in list(self.syncing.keys() - set(accounts)):  # deleted accounts
            self._hand_back(account_id)
        share = math.ceil(len(accounts) / workers)
        for account_id in sorted(self.syncing)[share:]:
            self._hand_back(account_id)
        if len(self.syncing) < share and self._take_due(workers):
            self._take(accounts, share)
        self._webhook_job()
        self._dav_job()

    def _accounts(self, session: Session) -> list[int]:
        """The IMAP accounts, listed again only when their number changed (or every
        LIST_EVERY beats, for one deleted and another added in between): a beat otherwise
        counts them, one row whatever their number."""
        from nylas_engine.store.sync_status import imap_account_count, imap_account_ids

        count = imap_account_count(session)
        self._beats_unlisted += 1
        if count != len(self._listed) or self._beats_unlisted >= LIST_EVERY:
            self._listed = sorted(imap_account_ids(session))
            self._listings += 1
            self._beats_unlisted = 0
        return self._listed

    def _take_due(self, workers: int) -> bool:
        """Whether this beat looks for free accounts: at once after the fleet's shape
        changed (a worker joined or died, accounts were listed), then after a look that found
        nothing at longer and longer intervals. Hand-backs free their leases a few beats after
        the change that caused them, and a worker that holds ceil(accounts / workers) - 1
        accounts stays below its share for good: it need not read every lease every beat."""
        shape = (workers, self._listings)
        if shape != self._take_shape:
            self._take_shape, self._take_gap, self._take_skip = shape, 0, 0
        if self._take_skip > 0:
            self._take_skip -= 1
            return False
        return True

    def _drop_lost(self, held: set[Lease]) -> None:
        lost = [a for a, worker in self.syncing.items() if worker.lease not in held]
        for account_id in lost:
            log.warning("lost the lease of account %s: another worker syncs it", account_id)
            self.syncing.pop(account_id).stop()
        if self.webhooks_lease not in held:
            self.webhooks_lease = None
        if self.dav_lease not in held:
            self.dav_lease = None

    def _take(self, accounts: list[int], share: int) -> None:
        with self.db.session() as session:
            busy = leases.taken(session, leases.ACCOUNT_PREFIX)
        free = [a for a in accounts if a not in self.syncing and account_lease(a) not in busy]
        # Workers look at the free accounts in different orders, so that two starting
        # together mostly claim different ones.
        free.sort(key=lambda a: zlib.crc32(f"{self.owner}:{a}".encode()))
        if not free:  # look again later (`_take_due`)
            self._take_gap = min(max(1, self._take_gap * 2), LIST_EVERY)
            self._take_skip = self._take_gap
            return
        self._take_gap = 0
        for account_id in free:
            if len(self.syncing) >= share or self.stopping.is_set():
                return
            with self.db.session() as session:
                lease = leases.claim(session, account_lease(account_id), self.owner)
            if lease is None:
                continue
            worker = FencedWorker(self.ctx, account_id, lease, self.changes)
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

        if self.webhooks_lease is None:  # while held, renewed with our presence
            if self.webhooks is not None:  # lost: another worker delivers now
                self.webhooks.stop()
                self.webhooks = None
            with self.db.session() as session:
                self.webhooks_lease = leases.claim(session, WEBHOOKS_LEASE, self.owner)
        if self.webhooks_lease is not None and self.webhooks is None:
            self.webhooks = start_webhooks(self.ctx, self.webhooks_lease)

    def _dav_job(self) -> None:
        """CalDAV/CardDAV sync (dav/) runs in one worker of the fleet, the holder of
        `job:dav`; it moves to another within a lease's lifetime when that worker stops."""
        from nylas_engine.dav.worker import start_dav

        if self.dav_lease is None:
            if self.dav is not None:
                self.dav.stop()
                self.dav = None
            with self.db.session() as session:
                self.dav_lease = leases.claim(session, DAV_LEASE, self.owner)
        if self.dav_lease is not None and self.dav is None:
            self.dav = start_dav(self.ctx, self.dav_lease)
