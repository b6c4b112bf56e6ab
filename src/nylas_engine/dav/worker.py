"""Keeping accounts' calendars and address books synced inside `nylas-engine serve`.

One thread per account with CalDAV/CardDAV endpoints: log in, match the collections, pull
every change, then push API writes as soon as they are queued (the queue is looked at
every fraction of a second) and pull again every poll interval (`NYLAS_ENGINE_DAV_POLL`,
30 s by default). Failures never end the thread, as for IMAP (sync/worker.py): a refused
login sets sync_state `invalid` and waits for new credentials (or retries slowly), a
server that cannot be reached sets `connerror` and retries with exponential backoff
(`NYLAS_ENGINE_SYNC_RETRY` is the first delay). For an account that also has a mailbox
the DAV worker clears only the errors it set itself.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from nylas_engine.config import env_number
from nylas_engine.context import EngineContext
from nylas_engine.dav.client import DavAuthFailed, DavClient, DavUnreachable
from nylas_engine.dav.push import push
from nylas_engine.dav.sync import DavSync
from nylas_engine.store import dav as store
from nylas_engine.store.credentials import CredentialsError
from nylas_engine.store.dav_writeback import has_pending
from nylas_engine.store.leases import Lease, LeaseLost, fenced
from nylas_engine.store.models import Account
from nylas_engine.store.sync_status import set_sync_state
from nylas_engine.sync.worker import (
    AUTH_REFUSALS,
    AUTH_RETRY,
    RETRY_ENV,
    RETRY_FIRST,
    RETRY_MAX,
    SCAN_ENV,
)

log = logging.getLogger("nylas_engine.dav")

POLL_ENV = "NYLAS_ENGINE_DAV_POLL"
DEFAULT_POLL = 30.0
WATCH = 0.25  # seconds between looks at the queue of API writes
ERROR_PREFIX = "CalDAV/CardDAV: "


class DavWorker(threading.Thread):
    """In a fleet (fleet.py) the thread works under the `job:dav` lease: once another
    worker took it over, its commits raise LeaseLost and it ends without writing."""

    def __init__(
        self,
        ctx: EngineContext,
        account_id: int,
        poll: float | None = None,
        lease: Lease | None = None,
    ) -> None:
        super().__init__(name=f"dav-{account_id}", daemon=True)
        self.ctx = ctx
        self.account_id = account_id
        self.lease = lease
        self.poll = poll if poll is not None else env_number(POLL_ENV, DEFAULT_POLL)
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        with fenced(self.lease):
            try:
                self._run()
            except LeaseLost:  # another worker of the fleet syncs calendars now
                log.warning("DAV sync of account %s: lease lost, it stops", self.account_id)

    def _run(self) -> None:
        first = env_number(RETRY_ENV, RETRY_FIRST)
        delay = first
        refusals = 0  # authentication refusals in a row (see AUTH_REFUSALS)
        while not self.stopping.is_set():
            sync = DavSync(self.ctx, self.account_id)
            settings = self._settings()
            try:
                with sync.connect() as client:
                    sync.refresh_collections(client)
                    push(sync, client)
                    sync.pull(client)
                    self._ok()
                    delay, refusals = first, 0
                    self._watch(sync, client, settings)
            except (DavAuthFailed, CredentialsError) as exc:
                refusals += 1
                said_no = isinstance(exc, DavAuthFailed) and exc.status == 401  # not: no settings
                if said_no and refusals < AUTH_REFUSALS:
                    log.warning("DAV sync of account %s: %s; trying again", self.account_id, exc)
                    delay = self._backoff(delay)
                    continue
                self._failed("invalid", str(exc))
                self._wait_for_new_settings(settings, AUTH_RETRY)
            except DavUnreachable as exc:
                self._failed("connerror", str(exc))
                delay = self._backoff(delay)
            except LeaseLost:
                raise
            except Exception as exc:  # a bug must not kill the worker or spin
                log.exception("DAV sync of account %s failed", self.account_id)
                self._failed("connerror", f"sync failed: {type(exc).__name__}")
                delay = self._backoff(delay)

    def _watch(self, sync: DavSync, client: DavClient, settings: Any) -> None:
        next_pull = time.monotonic() + self.poll
        while not self.stopping.wait(WATCH):
            if self._queued():
                push(sync, client)
            if time.monotonic() >= next_pull:
                if self._settings() != settings:
                    return  # log in again with the new password
                sync.refresh_collections(client)
                sync.pull(client)
                next_pull = time.monotonic() + self.poll

    def _queued(self) -> bool:
        with self.ctx.db.session() as session:
            return has_pending(session, self.account_id)

    # ------------------------------------------------------------------ states

    def _ok(self) -> None:
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            if account is None or account.sync_state == "running":
                return
            mine = account.imap_host is None or (account.sync_error or "").startswith(ERROR_PREFIX)
            if mine:
                set_sync_state(session, self.account_id, "running")

    def _failed(self, state: str, error: str) -> None:
        try:
            with self.ctx.db.session() as session:
                set_sync_state(session, self.account_id, state, ERROR_PREFIX + error)
        except LeaseLost:
            raise
        except Exception:
            log.exception("cannot record sync state of account %s", self.account_id)

    def _backoff(self, delay: float) -> float:
        self.stopping.wait(delay)
        return min(delay * 2, RETRY_MAX)

    def _settings(self) -> Any:
        try:
            with self.ctx.db.session() as session:
                dav = store.dav_account(session, self.account_id)
                account = session.get(Account, self.account_id)
                return (
                    None if dav is None else (dav.sealed_password, dav.caldav_url, dav.carddav_url),
                    None if account is None else account.credentials,
                )
        except Exception:
            return None

    def _wait_for_new_settings(self, before: Any, limit: float) -> None:
        deadline = time.monotonic() + limit
        while not self.stopping.wait(1.0) and time.monotonic() < deadline:
            if self._settings() != before:
                return


class DavService:
    """The DAV workers of one engine process; finds new DAV accounts every few seconds."""

    def __init__(
        self, ctx: EngineContext, scan: float | None = None, lease: Lease | None = None
    ) -> None:
        self.ctx = ctx
        self.lease = lease  # in a fleet: `job:dav`, under which every DAV thread works
        self.scan = scan if scan is not None else env_number(SCAN_ENV, 5.0)
        self.workers: dict[int, DavWorker] = {}
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._manage, name="dav-service", daemon=True)

    def start(self) -> DavService:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for worker in self.workers.values():
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in self.workers.values():
            worker.join(max(0.1, deadline - time.monotonic()))

    def _manage(self) -> None:
        while not self.stopping.is_set():
            try:
                with self.ctx.db.session() as session:
                    wanted = set(store.dav_account_ids(session))
                for account_id in wanted - self.workers.keys():
                    worker = DavWorker(self.ctx, account_id, lease=self.lease)
                    self.workers[account_id] = worker
                    worker.start()
                for account_id in list(self.workers.keys() - wanted):
                    self.workers.pop(account_id).stop()
            except Exception:
                log.exception("cannot list the accounts to sync with CalDAV/CardDAV")
            self.stopping.wait(self.scan)


def start_dav(ctx: EngineContext, lease: Lease | None = None) -> DavService | None:
    """Off with NYLAS_ENGINE_SYNC=0 (as the IMAP sync). In a fleet, `lease` is `job:dav`."""
    import os

    if os.environ.get("NYLAS_ENGINE_SYNC", "1") == "0":
        return None
    return DavService(ctx, lease=lease).start()
