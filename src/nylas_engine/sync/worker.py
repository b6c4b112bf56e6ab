"""Keeping accounts synced inside `nylas-engine serve`: one thread per IMAP account.

A worker logs in, runs a full pass, then waits in IDLE on the inbox. Every folder is kept
fresh within seconds. Where the server offers NOTIFY (RFC 5465) the worker asks for it, and
IDLE then hears of new mail, expunges and flag changes in every folder. Either way a check
runs when IDLE reports something and every check interval (`NYLAS_ENGINE_SYNC_CHECK`, 2 s
by default; 15 times that under NOTIFY, as a safety net): it asks every folder's STATUS
(UIDNEXT, MESSAGES, and HIGHESTMODSEQ where the server has CONDSTORE, else UNSEEN), in one
round trip with LIST-STATUS (RFC 5819, which also shows folders added or removed) or one
STATUS per folder, and syncs only the folders whose STATUS differs from what the store
holds. A folder that lost messages (moved elsewhere, or deleted), or a changed folder list,
brings a full pass at once. A full pass over every folder still runs each poll interval
(`NYLAS_ENGINE_SYNC_POLL`, 60 s); where the checks see every change (CONDSTORE, and
LIST-STATUS or NOTIFY) `NYLAS_ENGINE_SYNC_PASS_FACTOR` (10) times rarer, as a safety net.
Between passes it writes changes made through the API back (`writeback.py`; a write-back
that finds messages gone from where they were asks for a full pass at once) and files mail
sent through the API in Sent a few seconds after sending. It looks at the delta log for
such changes every second, or, in a fleet worker on PostgreSQL (fleet.py), when the log's
notification for the account wakes it (`changed`, store/delta_notify.py; and every
`WRITEBACK_LOOK` seconds as a safety net).

Failures never end the thread: a refused login sets sync_state `invalid` and retries
slowly (at once when the account's credentials change), a network problem sets `connerror`
and retries with exponential backoff. A command the server refuses (NO or BAD) is that
operation's failure only: the write-back retries it a few times and then drops it
(`refusals.py`), the sync skips a folder it cannot read until the next pass, and
sync_state stays as it is. `SyncService` starts workers for the accounts it finds
(rescanning for new ones) and stops them all on shutdown.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Iterable

from imapclient import IMAPClient
from sqlalchemy.exc import IntegrityError

from nylas_engine.config import env_number
from nylas_engine.context import EngineContext
from nylas_engine.store.credentials import CredentialsError
from nylas_engine.store.leases import LeaseLost
from nylas_engine.store.models import Account
from nylas_engine.store.sync_status import imap_account_ids, set_sync_state
from nylas_engine.sync.drafts import sync_drafts
from nylas_engine.sync.imap import (
    NETWORK_ERRORS,
    REFUSED,
    AuthFailed,
    ServerUnreachable,
    SyncError,
    close_quietly,
    enable_notify,
    pending_changes,
)
from nylas_engine.sync.run import AccountSync
from nylas_engine.sync.writeback import WriteBack

log = logging.getLogger("nylas_engine.sync")

POLL_ENV = "NYLAS_ENGINE_SYNC_POLL"
DEFAULT_POLL = 60.0  # seconds between full passes over all folders
CHECK_ENV = "NYLAS_ENGINE_SYNC_CHECK"
DEFAULT_CHECK = 2.0  # seconds between looks at every folder's STATUS
NOTIFY_CHECK_FACTOR = 15  # with NOTIFY, the look is a safety net: this many times rarer
PASS_FACTOR_ENV = "NYLAS_ENGINE_SYNC_PASS_FACTOR"
DEFAULT_PASS_FACTOR = 10.0  # full passes this many times rarer where STATUS shows everything
SCAN_ENV = "NYLAS_ENGINE_SYNC_SCAN"
DEFAULT_SCAN = 5.0  # seconds between looks for newly added accounts
IDLE_RENEW = 25 * 60  # RFC 2177: re-issue IDLE before the server's 30-minute timeout
RETRY_ENV = "NYLAS_ENGINE_SYNC_RETRY"
RETRY_FIRST, RETRY_MAX = 5.0, 300.0  # backoff after a connection failure, doubling
AUTH_RETRY = 600.0  # seconds an invalid account waits for new credentials before trying again
# Refusals in a row before an account is `invalid`: a single one can be the server's hiccup
# (a password file being rewritten, an overloaded authentication backend), and `invalid`
# tells the app to ask its user to log in again (webhook `account.invalid`). The next try
# comes after the first retry delay.
AUTH_REFUSALS = 2
WRITEBACK_LOOK = 300.0  # seconds between looks at the delta log when notifications wake us


class AccountWorker(threading.Thread):
    def __init__(
        self,
        ctx: EngineContext,
        account_id: int,
        poll: float | None = None,
        check: float | None = None,
        changed: threading.Event | None = None,
    ) -> None:
        super().__init__(name=f"sync-{account_id}", daemon=True)
        # Set when the account's delta log grows (store/delta_notify.py); None: look each time
        self.changed = changed
        self._next_look = 0.0
        # When (monotonic) sent mail is due to be filed: read again after each look at the
        # delta log (a send adds to it) or a filing; None: to be read
        self._sent_at: float | None = None
        self.ctx = ctx
        self.account_id = account_id
        self.poll = poll if poll is not None else env_number(POLL_ENV, DEFAULT_POLL)
        self.check = check if check is not None else env_number(CHECK_ENV, DEFAULT_CHECK)
        self.pass_factor = env_number(PASS_FACTOR_ENV, DEFAULT_PASS_FACTOR)
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def run(self) -> None:
        first_delay = env_number(RETRY_ENV, RETRY_FIRST)
        delay = first_delay
        refusals = 0  # authentication refusals in a row
        while not self.stopping.is_set():
            client: IMAPClient | None = None
            sync = AccountSync(self.ctx, self.account_id)
            writeback = WriteBack(self.ctx, self.account_id)
            credentials = self._credentials()
            try:
                client = sync.connect()
                writeback.folders(client)
                sync.full_pass(client)
                self._set_state("running")
                delay, refusals = first_delay, 0
                self._watch(sync, client, writeback, credentials)
            except (AuthFailed, CredentialsError) as exc:
                refusals += 1
                if isinstance(exc, AuthFailed) and refusals < AUTH_REFUSALS:
                    log.warning("account %s: %s; trying once more", self.account_id, exc)
                    delay = self._backoff(delay)
                    continue
                self._set_state("invalid", str(exc))
                self._wait_for_new_credentials(AUTH_RETRY)
            except SyncError as exc:
                self._set_state(exc.sync_state, str(exc))
                delay = self._backoff(delay)
            except IntegrityError:
                # Another process (`nylas-engine sync`) stored the same UIDs first; its
                # rows stand and the next pass picks up from them.
                log.info("account %s is being synced by another process", self.account_id)
                delay = self._backoff(delay)
            except NETWORK_ERRORS as exc:
                self._set_state("connerror", f"lost the IMAP connection: {exc}")
                delay = self._backoff(delay)
            except REFUSED as exc:  # a command the rest does not depend on: not the account's
                log.warning("account %s: the IMAP server refused: %s", self.account_id, exc)
                delay = self._backoff(delay)
            except LeaseLost:  # another worker of the fleet syncs it now (fleet.py)
                log.warning("account %s: lease lost, this worker stops", self.account_id)
                return
            except Exception as exc:  # a bug must not kill the worker or spin
                log.exception("sync of account %s failed", self.account_id)
                self._set_state("connerror", f"sync failed: {type(exc).__name__}: {exc}")
                delay = self._backoff(delay)
            finally:
                if client is not None:
                    close_quietly(client)

    # ------------------------------------------------------------------ steady state

    def _watch(
        self,
        sync: AccountSync,
        client: IMAPClient,
        writeback: WriteBack,
        credentials: bytes | None,
    ) -> None:
        """IDLE on the inbox; sync it when the server says something changed, write back
        changes made through the API, file sent mail in Sent once its grace period is over,
        and every poll interval (or when a write-back found messages gone from where they
        were) run a full pass. Returns when stopping or when the account's credentials
        changed (to log in again with them); raises on connection trouble."""
        self._sent_at = None
        moved = self._write_back(sync, client, writeback)
        self._next_look = time.monotonic() + WRITEBACK_LOOK  # the write-back just looked
        inbox = sync.watched_folder()
        capabilities = set(client.capabilities())
        can_idle = inbox is not None and b"IDLE" in capabilities
        # With NOTIFY, IDLE also hears of changes in the other folders: the timed check is
        # only a safety net then.
        notify = can_idle and enable_notify(client)
        check = self.check * NOTIFY_CHECK_FACTOR if notify else self.check
        # Where a folder's STATUS moves with every change in it (HIGHESTMODSEQ covers flags)
        # and the folder list comes with each look (LIST-STATUS) or is reported (NOTIFY),
        # the checks see everything and the full pass is a safety net: PASS_FACTOR times
        # rarer. It was most of an idle account's cost (docs/scaling.md). The credentials
        # are still looked at every poll interval.
        sees_all = sync.condstore and (notify or b"LIST-STATUS" in capabilities)
        every = self.poll * (self.pass_factor if sees_all else 1)
        next_pass = 0.0 if moved else time.monotonic() + every
        next_login = time.monotonic() + self.poll
        next_check = 0.0  # at once: what arrived during the pass raised no IDLE event
        in_inbox = False  # the inbox is selected (IDLE watches the selected folder)
        while not self.stopping.is_set():
            if can_idle and inbox is not None and not in_inbox:
                # Opened again only if another folder is open now: the inbox's own sync, or
                # a write-back that found nothing to write, leaves it open (on a distant
                # server an EXAMINE is a round trip before the next change is heard).
                if getattr(client, "selected_folder", None) != inbox.remote_name:
                    client.select_folder(inbox.remote_name, readonly=True)
                in_inbox = True
                next_check = 0.0  # what changed while the connection was busy raised no event
            if time.monotonic() >= next_check:
                pending_changes(client, clear=True)  # the check sees them all
                synced, expunged = self._check(sync, client)
                if synced and self._after_sync(sync, client, writeback):
                    next_pass = 0.0
                in_inbox = in_inbox and not synced
                if expunged or sync.folder_list_changed:
                    # Moved elsewhere, or deleted: the full pass tells which. Or folders
                    # added or removed on the server: the full pass matches them.
                    next_pass = 0.0
                next_check = time.monotonic() + check
                if not in_inbox and can_idle:
                    continue
            wake = min(
                next_pass,
                next_login,
                next_check,
                time.monotonic() + IDLE_RENEW,
                self._sent_due(writeback),
            )
            if can_idle and inbox is not None:
                outcome = self._idle(client, wake, writeback)
                if outcome == "server":
                    next_check = 0.0  # a folder changed: look now
                elif outcome == "inbox":
                    # The inbox changed (new mail, mostly): synced at once, without the look
                    # over every folder first (a round trip less); the look follows.
                    if sync.sync_folder_or_skip(client, inbox).expunged:
                        next_pass = 0.0  # moved elsewhere, or deleted: the pass tells which
                    if self._after_sync(sync, client, writeback):
                        next_pass = 0.0
                    in_inbox = False
                    next_check = 0.0
                local = outcome == "local"
            else:
                local = self._wait(wake, writeback)
            if self.stopping.is_set():
                return
            if local or self._api_changed(writeback):
                in_inbox = False
                if self._write_back(sync, client, writeback):
                    next_pass = 0.0
            if self._sent_due(writeback) <= time.monotonic():
                in_inbox = False
                self._file_sent(sync, client, writeback)
            if time.monotonic() >= min(next_pass, next_login):
                if self._credentials() != credentials:
                    return
                next_login = time.monotonic() + self.poll
            if time.monotonic() >= next_pass:
                in_inbox = False
                writeback.folders(client)
                sync.full_pass(client)
                next_pass = time.monotonic() + every
                next_check = time.monotonic() + self.check
                if self._write_back(sync, client, writeback):
                    next_pass = 0.0

    def _after_sync(self, sync: AccountSync, client: IMAPClient, writeback: WriteBack) -> bool:
        """After a folder's sync: the write-back looks at the delta log now, which the sync's
        own commits moved, so that the look in IDLE a second later does not take them for
        API changes and leave IDLE for nothing (a DONE, a look at every folder and a new
        IDLE, round trips each). It finds nothing to write unless the API changed too.
        True if a full pass should follow (see `_write_back`)."""
        return self._api_changed(writeback) and self._write_back(sync, client, writeback)

    def _check(self, sync: AccountSync, client: IMAPClient) -> tuple[bool, bool]:
        """Sync the folders whose STATUS changed. Returns (whether any folder was synced,
        whether messages left one)."""
        changed = sync.changed_folders(client)
        expunged = False
        for folder in changed:
            expunged = bool(sync.sync_folder_or_skip(client, folder).expunged) or expunged
        return bool(changed), expunged

    def _write_back(self, sync: AccountSync, client: IMAPClient, writeback: WriteBack) -> bool:
        """Write API changes to the server and sync the folders that received messages.
        True if a full pass should follow (messages were not where the engine last saw
        them: the pass finds where the server has them). Folders created, renamed or
        deleted are watched under their new names from the next check on."""
        sync.follow_folder_changes(writeback.folders(client))
        targets: set[str] = set()
        if drafts_folder := self._sync_drafts(client, writeback):
            targets.add(drafts_folder)
        outcome = writeback.run(client)
        synced = {t for t in targets | outcome.targets if self._sync_named(sync, client, t)}
        return writeback.settle(outcome, synced)

    def _sync_drafts(self, client: IMAPClient, writeback: WriteBack) -> str | None:
        """`sync_drafts`, a refusal counted like the write-back's (nothing to undo: the
        drafts stay in the API and are saved again with a later write-back)."""
        key = ("drafts", self.account_id)
        if not writeback.refusals.ready(key):
            return None
        try:
            folder = sync_drafts(self.ctx, self.account_id, client)
        except NETWORK_ERRORS:
            raise
        except REFUSED as exc:
            writeback.refusals.refused(key, "saving drafts to the Drafts folder", exc)
            return None
        writeback.refusals.done(key)
        return folder

    def _sent_due(self, writeback: WriteBack) -> float:
        """When (monotonic) sent mail not on the server yet is due to be filed; inf if none.
        With notifications (`changed`) the store is read only when the delta log was looked
        at since, not at every turn of the loop (an idle account's loop turns every check)."""
        if self._sent_at is None or self.changed is None:
            due, _ = writeback.sent_due()
            self._sent_at = (
                math.inf if due is None else time.monotonic() + max(0.0, due - time.time())
            )
        return self._sent_at

    def _file_sent(self, sync: AccountSync, client: IMAPClient, writeback: WriteBack) -> None:
        """Sync Sent first (a copy the server filed itself is linked, and not appended again),
        then APPEND what is still missing and sync again to link the appended copies."""
        self._sent_at = None
        _, folders = writeback.sent_due()
        for name in folders:
            self._sync_named(sync, client, name)
        for name in writeback.append_sent(client):
            self._sync_named(sync, client, name)

    def _sync_named(self, sync: AccountSync, client: IMAPClient, remote_name: str) -> bool:
        """Sync the folder of that name if the sync knows it (False if not, yet)."""
        folder = sync.folder_for(remote_name)
        if folder is None:
            return False
        sync.sync_folder_or_skip(client, folder)
        return True

    def _idle(self, client: IMAPClient, until: float, writeback: WriteBack) -> str | None:
        """IDLE until the server reports a change in the inbox ("inbox") or another folder
        ("server"), an API change waits to be written back ("local"), `until`, or stop
        (None)."""
        client.idle()
        quick_empty = 0
        try:
            if pending_changes(client):  # reported between the last check and the IDLE
                return "server"
            while not self.stopping.is_set() and time.monotonic() < until:
                started = time.monotonic()
                responses = client.idle_check(timeout=1)
                if any(r and r[0] == b"BYE" for r in responses):
                    raise ServerUnreachable("the IMAP server closed the connection (BYE)")
                if any(r[1] in (b"EXISTS", b"EXPUNGE", b"FETCH") for r in responses if len(r) > 1):
                    return "inbox"
                if any(r and r[0] == b"VANISHED" for r in responses):  # EXPUNGE under QRESYNC
                    return "inbox"
                if any(r and r[0] == b"STATUS" for r in responses):  # another folder (NOTIFY)
                    return "server"
                # At end of stream idle_check returns nothing at once instead of waiting.
                quick_empty = (
                    quick_empty + 1 if not responses and time.monotonic() - started < 0.01 else 0
                )
                if quick_empty > 50:
                    raise ServerUnreachable("the IMAP connection was closed")
                if self._api_changed(writeback):
                    return "local"
            return None
        finally:
            with contextlib.suppress(*NETWORK_ERRORS, REFUSED):
                client.idle_done()

    def _wait(self, until: float, writeback: WriteBack) -> bool:
        """Without IDLE: sleep until the next pass; True when API changes wait to be
        written back."""
        while not self.stopping.wait(1.0) and time.monotonic() < until:
            if self._api_changed(writeback):
                return True
        return False

    def _api_changed(self, writeback: WriteBack) -> bool:
        """Whether changes made through the API wait to be written back. With notifications
        (`changed`) the delta log is read only when one came, a refused write is due, or
        every WRITEBACK_LOOK seconds; without them, at every call (once a second)."""
        if self.changed is None:
            return writeback.pending()
        if self.changed.is_set() or time.monotonic() >= self._next_look:
            self.changed.clear()  # before the look: a change committed after it sets it again
            self._next_look = time.monotonic() + WRITEBACK_LOOK
            self._sent_at = None
            return writeback.pending()
        return writeback.refusals.due()

    # ------------------------------------------------------------------ failures

    def _set_state(self, state: str, error: str | None = None) -> None:
        try:
            with self.ctx.db.session() as session:
                set_sync_state(session, self.account_id, state, error)
        except Exception:  # the database being busy must not kill the worker
            log.exception("cannot record sync state of account %s", self.account_id)

    def _backoff(self, delay: float) -> float:
        self.stopping.wait(delay)
        return min(delay * 2, RETRY_MAX)

    def _wait_for_new_credentials(self, limit: float) -> None:
        before = self._credentials()
        deadline = time.monotonic() + limit
        while not self.stopping.wait(2.0) and time.monotonic() < deadline:
            if self._credentials() != before:
                return

    def _credentials(self) -> bytes | None:
        try:
            with self.ctx.db.session() as session:
                account = session.get(Account, self.account_id)
                return account.credentials if account is not None else None
        except Exception:
            return None


class SyncService:
    """The workers of one engine process; finds new IMAP accounts every `scan` seconds."""

    def __init__(
        self,
        ctx: EngineContext,
        account_ids: Iterable[int] | None = None,
        *,
        poll: float | None = None,
        scan: float | None = None,
    ) -> None:
        self.ctx = ctx
        self.fixed = list(account_ids) if account_ids is not None else None
        self.poll = poll
        self.scan = scan if scan is not None else env_number(SCAN_ENV, DEFAULT_SCAN)
        self.workers: dict[int, AccountWorker] = {}
        self.stopping = threading.Event()
        self._thread = threading.Thread(target=self._manage, name="sync-service", daemon=True)

    def start(self) -> SyncService:
        self._thread.start()
        return self

    def wait(self) -> None:
        while not self.stopping.wait(1.0):
            pass

    def stop(self, timeout: float = 10.0) -> None:
        self.stopping.set()
        for worker in self.workers.values():
            worker.stop()
        deadline = time.monotonic() + timeout
        for worker in self.workers.values():
            worker.join(max(0.1, deadline - time.monotonic()))
        self._thread.join(max(0.1, deadline - time.monotonic()))

    def _manage(self) -> None:
        while not self.stopping.is_set():
            try:
                self._reconcile()
            except Exception:
                log.exception("cannot list the accounts to sync")
            self.stopping.wait(self.scan)

    def _reconcile(self) -> None:
        if self.fixed is not None:
            wanted = set(self.fixed)
        else:
            with self.ctx.db.session() as session:
                wanted = set(imap_account_ids(session))
        for account_id in wanted - self.workers.keys():
            if self.stopping.is_set():
                return
            worker = AccountWorker(self.ctx, account_id, self.poll)
            self.workers[account_id] = worker
            worker.start()
        for account_id in list(self.workers.keys() - wanted):
            self.workers.pop(account_id).stop()
