"""One account's sync over one connection: log in, match folders, sync each folder.

`AccountSync` is what both `nylas-engine sync` and the worker inside `serve` drive: the CLI
runs `full_pass()` once with a progress bar, the worker runs it and then waits in IDLE.

On Gmail (X-GM-EXT-1, on a label account) every folder is matched to a label, but only All
Mail, Trash and Spam are synced, with Gmail's labels, threads and message ids (sync/gmail.py).

A folder the server refuses to open or read (a NO to STATUS, SELECT or FETCH: an ACL, a
folder deleted a moment ago) is skipped for this pass with a log line; the other folders
sync, and the next pass tries it again. Only a broken connection ends the pass.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from imapclient import IMAPClient
from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.oauth.tokens import TOKENS, TokenError
from nylas_engine.store import imap_folders, imap_uids
from nylas_engine.store.credentials import MailCredentials
from nylas_engine.store.credentials import load as load_credentials
from nylas_engine.store.gmail_labels import LabelMap, label_map
from nylas_engine.store.mail import category_kind
from nylas_engine.store.models import Account, Category
from nylas_engine.store.prepare import sync_workers, warm_up
from nylas_engine.store.sync_status import save_progress
from nylas_engine.sync import fetch as fetch_module
from nylas_engine.sync import gmail
from nylas_engine.sync.accounts import store_rotated
from nylas_engine.sync.folder_writeback import FolderChange
from nylas_engine.sync.folders import (
    SKIP_FLAGS,
    Namespace,
    list_remote_folders,
    match_folders,
    personal_namespace,
    remove_category,
    send_namespace,
)
from nylas_engine.sync.hosts import checked_again
from nylas_engine.sync.imap import (
    NETWORK_ERRORS,
    REFUSED,
    AuthFailed,
    Listed,
    ServerSettings,
    close_quietly,
    connect_imap,
    enable_extensions,
    list_status,
    status_and_notices,
)
from nylas_engine.sync.messages import (
    BATCH_COUNT,
    FolderChanges,
    FolderSync,
    Progress,
    Tail,
)

log = logging.getLogger("nylas_engine.sync")


@dataclass
class SyncedFolder:
    remote_name: str
    category_id: int
    role: str | None


@dataclass
class AccountSync:
    ctx: EngineContext
    account_id: int
    listeners: list[Callable[[Progress], None]] = field(default_factory=list)
    folders: list[SyncedFolder] = field(default_factory=list)
    condstore: bool = False
    qresync: bool = False
    namespace: Namespace | None = None  # the personal namespace, asked once per connection
    # By category: the STATUS the last check saw (see `changed_folders`).
    last_status: dict[int, tuple[int | None, ...]] = field(default_factory=dict)
    refused: set[int] = field(default_factory=set)  # categories whose folder the server refused
    listed: set[str] | None = None  # the folders LIST showed at the last full pass
    folder_list_changed: bool = False  # a check saw folders added or removed since then
    # How the connection was made: worker processes of a long fetch log in the same way.
    remote: tuple[ServerSettings, MailCredentials] | None = None
    gmail: bool = False  # Gmail's extensions are used (a label account on X-GM-EXT-1)
    labels: LabelMap | None = None  # on Gmail: the labels, as of the last full pass
    # What the latest `sync_folder(leave_tail=True)` left to do (see `FolderSync.previous`).
    tail: Tail | None = None

    def connect(self) -> IMAPClient:
        """Log in with the stored credentials (`AuthFailed` / `ServerUnreachable`)."""
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            if account is None or not account.imap_host:
                raise AuthFailed("the account has no IMAP server")
            settings = ServerSettings.from_account(account)
            credentials = load_credentials(self.ctx.settings.data_dir, account)
            hosts_checked = account.hosts_checked
            label_account = category_kind(account) == "label"
        if credentials is None:
            raise AuthFailed("the account has no stored IMAP credentials")
        if hosts_checked:
            settings = checked_again(self.ctx.settings, settings)
        client = connect_imap(settings, credentials)
        store_rotated(self.ctx.db, self.ctx.settings.data_dir, self.account_id, credentials)
        if credentials.oauth is not None:
            # Worker processes of a long fetch log in with the token this login used.
            with contextlib.suppress(TokenError):  # then they refresh on their own
                token = TOKENS.access_token(credentials.oauth)
                credentials = replace(credentials, access_token=token)
        self.remote = (settings, credentials)
        try:
            # NAMESPACE goes out before ENABLE, its reply read after ENABLE's: one round trip.
            namespace = send_namespace(client)
            self.condstore, self.qresync = enable_extensions(client)
            self.namespace = personal_namespace(client, namespace)
            self.gmail = label_account and gmail.offered(client.capabilities())
        except Exception:
            close_quietly(client)
            raise
        return client

    def full_pass(self, client: IMAPClient) -> FolderChanges:
        """Match the folder list (see `match_folders`), then sync every folder (inbox
        first)."""
        # The folder list and each folder's STATUS in one command where the server can
        # (else LIST, then LIST-STATUS or a STATUS per folder): before any transaction opens.
        items = ["MESSAGES", "UIDNEXT", "UIDVALIDITY"] + (
            ["HIGHESTMODSEQ"] if self.condstore else []
        )
        listing = self._listing_with_statuses(client, items, special_use=True)
        remote = list_remote_folders(client, self.namespace, listing[0] if listing else None)
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            assert account is not None
            self.listed = {f.name for f in remote}
            self.folder_list_changed = False
            pairs, gone = match_folders(session, account, remote)
            self.folders = [SyncedFolder(f.name, c.id, f.role) for f, c in pairs]
            if self.gmail:  # every message is in one of these; the other folders are labels
                self.folders = [f for f in self.folders if f.role in gmail.SYNCED_ROLES]
                self.labels = label_map(session, self.account_id)
                _leave_copies(session, [c.id for _, c in pairs], self.folders)
            gone_ids = [c.id for c in gone]
            synced = imap_uids.count_for_account(session, self.account_id)
        progress = Progress(folders_total=len(self.folders), listeners=self.listeners)
        statuses = self._folder_statuses(client, items, listing[1] if listing else None)
        open_now = getattr(client, "selected_folder", None)
        progress.messages_total = sum(int(s.get(b"MESSAGES", 0)) for s in statuses.values())
        progress.messages_synced = min(int(synced or 0), progress.messages_total)
        self._save(progress)
        if progress.messages_total - progress.messages_synced > BATCH_COUNT and self.remote:
            # A long fetch is coming (a first sync): its worker process starts and imports
            # the parser meanwhile, instead of when the first folder needs it.
            warm_up(sync_workers(), fetch_module.__name__)

        each: list[FolderChanges] = []
        self.tail = None
        for folder in self.folders:
            progress.folder = folder.remote_name
            progress.changed()
            # Each folder leaves its last batch for the next to store (see FolderSync).
            previous, self.tail = self.tail, None
            # The folder this connection has open is looked at whatever its STATUS said: that
            # may show it as of the last command here (Dovecot's does; RFC 3501 advises
            # against asking it of the selected folder).
            status = statuses.get(folder.remote_name) if folder.remote_name != open_now else None
            each.append(
                self.sync_folder_or_skip(
                    client, folder, progress, previous, leave_tail=True, status=status
                )
            )
            progress.folders_done += 1
            self._save(progress)
            progress.changed()
        if self.tail is not None:
            tail, self.tail = self.tail, None
            tail()
        total = FolderChanges()
        for changes in each:  # counted once every tail is stored
            total.added += changes.added
            total.updated += changes.updated
            total.removed += changes.removed
        if gone_ids:
            total.removed += self._remove_folders(gone_ids)
        with self.ctx.db.session() as session:
            total.removed += imap_uids.delete_orphans(session, self.account_id)
        progress.folder = None
        self._save(progress)
        progress.changed()
        return total

    def _listing_with_statuses(
        self, client: IMAPClient, items: list[str], *, special_use: bool = False
    ) -> tuple[Listed, dict[str, dict[bytes, int]]] | None:
        """Every folder's flags and name (with `special_use`, the SPECIAL-USE flags the
        roles are read from too) and its STATUS, in one round trip: `list_status`, None
        where the server lacks what it needs or refuses the command."""
        try:
            return list_status(client, items, special_use=special_use)
        except NETWORK_ERRORS:
            raise
        except REFUSED:
            return None

    def _folder_statuses(
        self,
        client: IMAPClient,
        items: list[str],
        listed: dict[str, dict[bytes, int]] | None = None,
    ) -> dict[str, dict[bytes, int]]:
        """Each folder's STATUS `items` (its message count for the pass's progress; UIDNEXT,
        UIDVALIDITY and HIGHESTMODSEQ to leave unopened the folders with nothing to do, see
        `FolderSync._unchanged`): those the pass's LIST brought (`listed`), else all in one
        LIST-STATUS where the server has it, else one STATUS per folder, a round trip each
        before the inbox's first mail (30 folders at 80 ms: 2.4 s). A folder the server
        refuses STATUS for is left out: its sync says why."""
        if listed is None:
            listed = self._list_status(client, items)
        statuses: dict[str, dict[bytes, int]] = {}
        for folder in self.folders:
            status = listed.get(folder.remote_name)
            if status is None:
                try:
                    status = client.folder_status(folder.remote_name, [i.encode() for i in items])
                except NETWORK_ERRORS:
                    raise
                except REFUSED:
                    continue
            statuses[folder.remote_name] = {bytes(k).upper(): int(v) for k, v in status.items()}
        return statuses

    def sync_folder_or_skip(
        self,
        client: IMAPClient,
        folder: SyncedFolder,
        progress: Progress | None = None,
        previous: Tail | None = None,
        *,
        leave_tail: bool = False,
        status: dict[bytes, int] | None = None,
    ) -> FolderChanges:
        """`sync_folder`, but a folder the server refuses to open or read is skipped with a
        log line (and left out of `changed_folders` until the next full pass)."""
        try:
            changes = self.sync_folder(
                client, folder, progress, previous, leave_tail=leave_tail, status=status
            )
        except NETWORK_ERRORS:
            raise
        except REFUSED as exc:
            self._skipped(folder, exc)
            return FolderChanges()
        self.refused.discard(folder.category_id)
        return changes

    def _skipped(self, folder: SyncedFolder, exc: BaseException) -> None:
        log.warning(
            "account %s: folder %r skipped, the server refused: %s",
            self.account_id,
            folder.remote_name,
            exc,
        )
        self.refused.add(folder.category_id)

    def _store_tail(self, folder: SyncedFolder, tail: Tail) -> None:
        """A folder's last batch, stored while a later folder syncs or at the pass's end. A
        refusal there (the batch fetched again here, its folder selected again) is that
        folder's: it is the one skipped (and fetched again by the next pass, as it was not
        marked synced), not the folder syncing meanwhile, and not the whole pass."""
        try:
            tail()
        except NETWORK_ERRORS:
            raise
        except REFUSED as exc:
            self._skipped(folder, exc)

    def sync_folder(
        self,
        client: IMAPClient,
        folder: SyncedFolder,
        progress: Progress | None = None,
        previous: Tail | None = None,
        *,
        leave_tail: bool = False,
        status: dict[bytes, int] | None = None,
    ) -> FolderChanges:
        """Sync one folder; `previous` is what the folder synced before left to do (stored
        during this one), and with `leave_tail` this one leaves its own in `self.tail`.
        `status`: the folder's STATUS as the full pass found it (see `FolderSync`)."""
        sync = FolderSync(
            self.ctx.db,
            self.ctx.blobs,
            client,
            self.account_id,
            folder.category_id,
            condstore=self.condstore,
            qresync=self.qresync,
            progress=progress,
            save_progress=lambda session, p: save_progress(session, self.account_id, p.as_dict()),
            remote=self.remote,
            labels=self.labels if self.gmail else None,
            previous=previous,
            leave_tail=leave_tail,
            status=status,
        )
        changes = sync.run()
        tail = sync.tail
        self.tail = None if tail is None else functools.partial(self._store_tail, folder, tail)
        return changes

    def changed_folders(self, client: IMAPClient) -> list[SyncedFolder]:
        """The folders whose STATUS says they changed since their last sync: one cheap
        STATUS per folder, compared with what the store holds (UIDNEXT, the message count,
        and HIGHESTMODSEQ where the server has CONDSTORE, which covers flag changes too).
        Without CONDSTORE the UNSEEN count stands in for flag changes, compared with the
        previous look (other flags wait for the next full pass). A folder whose STATUS is
        the same as at the previous look is not synced again: one that a sync cannot bring
        to agree with the store (a message the server fails to return) would else be
        synced over and over. So the store is read only for folders whose STATUS moved: a
        look that finds nothing new is the STATUS round trip alone (the idle cost, docs/
        scaling.md). Folders NOTIFY reported a change of meanwhile are added. A folder the
        server refuses STATUS for is left to the full pass."""
        items = ["MESSAGES", "UIDNEXT"] + (["HIGHESTMODSEQ"] if self.condstore else ["UNSEEN"])
        notified: set[str] = set()  # folders the server said changed (NOTIFY) meanwhile
        statuses = self._list_status(client, items)
        moved: list[tuple[SyncedFolder, dict[bytes, int], tuple[int | None, ...] | None]] = []
        for folder in self.folders:
            if folder.category_id in self.refused:
                continue  # tried again by the next full pass
            now = statuses.get(folder.remote_name)
            if now is None:
                try:
                    now, others = status_and_notices(client, folder.remote_name, items)
                except NETWORK_ERRORS:
                    raise
                except REFUSED:
                    continue
                notified |= others
            seen = tuple(now.get(item.encode()) for item in items)
            before = self.last_status.get(folder.category_id)
            self.last_status[folder.category_id] = seen
            if seen != before:
                moved.append((folder, now, before))
        changed = self._differ_from_store(moved) if moved else []
        changed += [f for f in self.folders if f.remote_name in notified and f not in changed]
        return changed

    def _differ_from_store(
        self, moved: list[tuple[SyncedFolder, dict[bytes, int], tuple[int | None, ...] | None]]
    ) -> list[SyncedFolder]:
        """Of the folders whose STATUS moved since the previous look, those whose STATUS
        differs from what the store holds."""
        ids = [folder.category_id for folder, _, _ in moved]
        with self.ctx.db.session() as session:
            known = imap_folders.sync_marks(session, ids)
            counts = imap_uids.counts_by_folder(session, ids)
        changed: list[SyncedFolder] = []
        for folder, now, before in moved:
            uidnext, modseq = known.get(folder.category_id, (None, None))
            if self.condstore:
                flags_changed = now.get(b"HIGHESTMODSEQ") != modseq
            else:  # UNSEEN is the last item: changed since the previous look
                flags_changed = before is not None and now.get(b"UNSEEN") != before[-1]
            if (
                flags_changed
                or now.get(b"UIDNEXT") != uidnext
                or now.get(b"MESSAGES") != counts.get(folder.category_id, 0)
            ):
                changed.append(folder)
        return changed

    def _list_status(self, client: IMAPClient, items: list[str]) -> dict[str, dict[bytes, int]]:
        """Every folder's STATUS in one round trip where the server has LIST-STATUS (else
        {}: one STATUS each). The folder list comes with it: a folder added or removed on
        the server since the last full pass sets `folder_list_changed`."""
        listing = self._listing_with_statuses(client, items)
        if listing is None:
            return {}
        listed, statuses = listing
        names = {n for flags, _, n in listed if not any(f.lower() in SKIP_FLAGS for f in flags)}
        if self.listed is not None and names != self.listed:
            self.folder_list_changed = True
        return statuses

    def follow_folder_changes(self, changes: list[FolderChange]) -> None:
        """The folders the write-back just created, renamed or deleted on the server, taken
        into the list the checks look at (and into what the last LIST showed, so the next
        LIST-STATUS doesn't take them for another client's changes). Until the next full
        pass the checks would else ask for a name the server no longer has, and miss the
        folder's mail. The store already has the new names (`folder_writeback.record`);
        the list is not matched again here, which could undo an API change made meanwhile."""
        for change in changes:
            old = next((f for f in self.folders if f.category_id == change.category_id), None)
            new = change.wanted if change.kind != "delete" else None
            if self.listed is not None:
                self.listed.discard(change.current or "")
                if new is not None:
                    self.listed.add(new)
            if old is not None:
                self.folders.remove(old)
            if new is not None and old is not None:
                self.folders.append(SyncedFolder(new, change.category_id, old.role))
            elif new is not None and change.kind == "create" and not self.gmail:
                self.folders.append(SyncedFolder(new, change.category_id, None))

    def folder_by_role(self, role: str) -> SyncedFolder | None:
        return next((f for f in self.folders if f.role == role), None)

    def folder_for(self, remote_name: str) -> SyncedFolder | None:
        """The synced folder that holds the messages of the folder of that name: itself, or
        on Gmail All Mail for a label's folder (Sent, Drafts: a message Gmail filed there
        itself is linked when All Mail is synced). None for a folder the sync doesn't know."""
        found = next((f for f in self.folders if f.remote_name == remote_name), None)
        if found is None and self.gmail and self.listed and remote_name in self.listed:
            found = self.folder_by_role("all")
        return found

    def watched_folder(self) -> SyncedFolder | None:
        """The folder IDLE watches: the inbox, or on Gmail All Mail (the inbox's messages
        are there, and the inbox is not synced on its own)."""
        return self.folder_by_role("all" if self.gmail else "inbox")

    def _save(self, progress: Progress) -> None:
        with self.ctx.db.session() as session:
            save_progress(session, self.account_id, progress.as_dict())

    def _remove_folders(self, category_ids: list[int]) -> int:
        removed = 0
        with self.ctx.db.session() as session:
            for category_id in category_ids:
                rows = imap_uids.in_folder(session, category_id)
                removed += imap_uids.detach(session, rows)
                category = session.get(Category, category_id)
                if category is not None:
                    remove_category(session, category)
        return removed


def _leave_copies(session: Session, category_ids: list[int], synced: list[SyncedFolder]) -> None:
    """A Gmail account synced before the engine used Gmail's extensions has a UID per label
    folder: those go (the labels come from X-GM-LABELS now), and a synced folder whose UIDs
    have no labels yet is read whole on its next sync (its flags and labels, not just the
    changes since its last MODSEQ). Nothing to do once done."""
    kept = {f.category_id for f in synced}
    for category_id in category_ids:
        if category_id not in kept and (rows := imap_uids.in_folder(session, category_id)):
            imap_uids.detach(session, rows)
    for category_id in kept:
        if imap_uids.has_unlabelled(session, category_id):
            category = session.get(Category, category_id)
            if category is not None:
                category.highestmodseq = None
