"""Syncing one IMAP folder into its category: new messages, flag changes, expunges.

The same pass serves the first sync and every later one. What the store already holds is
the set of `ImapUid` rows of the folder; the server's state is compared with it:

* new UIDs (all of them the first time, `UIDNEXT:*` afterwards) are fetched newest first in
  batches capped by count and bytes, each batch committed on its own, so memory stays flat
  and an interrupted sync resumes where it stopped without duplicates;
* with QRESYNC, one `UID FETCH 1:* (FLAGS RFC822.SIZE) (CHANGEDSINCE <modseq> VANISHED)`
  gives the flag changes, the expunged UIDs and new mail's sizes since the last pass;
* the first of these reads goes out right behind the folder's EXAMINE (`folder_reads`);
* otherwise flag changes come from `CHANGEDSINCE <modseq>` when the server has CONDSTORE,
  else from comparing every UID's FLAGS with the stored ones, and expunges are found by
  comparing UID lists, but only when the message count says something disappeared;
* a UIDVALIDITY change drops the folder's UIDs and syncs it again from scratch.

A message is one row however many folders hold a copy: a new UID whose Message-ID and bytes
match a message we have (a move, a copy, the sent copy of a message sent through the API)
is linked to it rather than stored twice. The message's categories are always exactly the
folders its UIDs are in; a message no folder holds at the end of a full pass is deleted.
What another mail client saved in the Drafts folder is stored as a draft (see `drafts`).

On Gmail (`gmail`, with its labels as `labels`) the same pass also FETCHes X-GM-LABELS,
X-GM-THRID and X-GM-MSGID: a message's categories are its folder's plus its labels', a copy
is recognised by its X-GM-MSGID, and a label changed on the server is found with the flags.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from imapclient import IMAPClient
from sqlalchemy.orm import Session

from nylas_engine.bulk_gc import fewer_collections
from nylas_engine.store import imap_uids
from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.credentials import MailCredentials
from nylas_engine.store.db import Database
from nylas_engine.store.draft_copies import drop_drafts_gone_from_server
from nylas_engine.store.gmail_labels import LabelMap
from nylas_engine.store.mail import NewMessage, ingest_messages
from nylas_engine.store.models import (
    Account,
    Category,
    Message,
)
from nylas_engine.store.prepare import PIPE, PreparePool, Preparing, sync_workers
from nylas_engine.sync import folder_reads, gmail
from nylas_engine.sync.fetch import (
    Fetched,
    FolderAccess,
    fetch_here,
    fetch_in_worker,
    fetched_here,
    open_in_worker,
)
from nylas_engine.sync.folder_reads import (
    Command,
    all_sizes,
    changes_command,
    changes_of,
    changes_since,
    examine,
    message_sizes,
    sizes_command,
    sizes_of,
    sizes_since,
)
from nylas_engine.sync.imap import (
    ServerSettings,
    ServerUnreachable,
    UidSet,
    fetch_set,
    flag_names,
    modseq_value,
    sequence_sets,
)

_FIRST_LOOK = sizes_command("1:*")  # every UID of a folder with its size

# Messages per FETCH and per commit; the env var exists for tuning and for tests that need
# a sync to take many small steps. The first batch of a folder is small, so its newest mail
# is readable soon; the later ones are larger: each batch costs the storing process a fixed
# ~10 queries, a commit and its threads' ORM objects loaded again, so 500 messages a batch
# take ~25% less of its CPU than 125 (bench/RESULTS.md, "Issue 12, CPU (branch synccpu3)").
_BATCH_ENV = os.environ.get("NYLAS_ENGINE_SYNC_BATCH")
BATCH_COUNT = int(_BATCH_ENV or "125")
LATER_BATCH_COUNT = int(_BATCH_ENV or "500")
BATCH_BYTES = 8 * 1024 * 1024
# Batches the worker prepares beyond the one being stored: with batches this large, one keeps
# the worker busy, and each more would hold another batch of parsed mail in memory.
BATCHES_AHEAD = 1
UID_CHUNK = 2000  # UIDs per FETCH/SEARCH command line (servers cap the line length)
SEEN = "\\Seen"
FLAGGED = "\\Flagged"
# A UID whose flags (or Gmail labels) changed on the server: flags, MODSEQ item, labels.
Changed = tuple[list[str], Any, list[str] | None]
# What a folder's sync leaves to do (`FolderSync(leave_tail=True)`): store its last batch,
# then mark the folder synced up to its UIDNEXT.
Tail = Callable[[], None]


@dataclass
class Progress:
    """How far a sync pass is; written to `account.sync_progress` as it goes."""

    folders_total: int = 0
    folders_done: int = 0
    messages_total: int = 0
    messages_synced: int = 0
    folder: str | None = None
    listeners: list[Callable[[Progress], None]] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "folders_total": self.folders_total,
            "folders_done": self.folders_done,
            "messages_total": self.messages_total,
            "messages_synced": self.messages_synced,
        }
        if self.folder is not None:
            data["folder"] = self.folder
        return data

    def changed(self) -> None:
        for listener in self.listeners:
            listener(self)


@dataclass
class FolderChanges:
    added: int = 0
    updated: int = 0
    removed: int = 0
    expunged: int = 0  # UIDs gone from the folder (moved away or deleted: a full pass tells)

    def __bool__(self) -> bool:
        return bool(self.added or self.updated or self.removed)


class FolderSync:
    """Brings one category up to date with its IMAP folder over an open connection."""

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        client: IMAPClient,
        account_id: int,
        category_id: int,
        *,
        condstore: bool,
        qresync: bool = False,
        progress: Progress | None = None,
        save_progress: Callable[[Session, Progress], None] | None = None,
        remote: tuple[ServerSettings, MailCredentials] | None = None,
        labels: LabelMap | None = None,
        previous: Tail | None = None,
        leave_tail: bool = False,
        status: dict[bytes, int] | None = None,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.client = client
        self.account_id = account_id
        self.category_id = category_id
        self.condstore = condstore
        self.qresync = qresync  # ENABLEd on this connection (see imap.enable_extensions)
        self.progress = progress or Progress()
        self.save_progress = save_progress
        # Where worker processes log in to fetch a long first sync; without it, this
        # process fetches and parses everything itself.
        self.remote = remote
        # Gmail's labels (sync/gmail.py): set on a Gmail account, whose extensions are used.
        self.labels = labels
        # A full pass goes from folder to folder with the same worker. A folder's last batch
        # is left with it (`leave_tail`): the next folder stores it (`previous`) once its own
        # first batch is with the worker, so the worker fetches while that batch is stored
        # instead of waiting at every folder's start. The folder is marked synced up to its
        # UIDNEXT only after that batch is stored: a sync stopped in between fetches it again.
        self.previous = previous
        self.leave_tail = leave_tail
        self.tail: Tail | None = None  # what this folder left (run with `leave_tail`)
        self._unstored: Preparing[Fetched] | None = None
        # The folder's STATUS as the full pass found it (MESSAGES, UIDNEXT, UIDVALIDITY, and
        # HIGHESTMODSEQ with CONDSTORE): a folder it shows empty, or unchanged since the
        # last pass, is not opened (`_unchanged`).
        self.status = status
        self._sizes: dict[int, int] = {}  # RFC822.SIZE by UID, where already asked for

    # ------------------------------------------------------------------ the pass

    def run(self) -> FolderChanges:
        try:
            changes = self._run()
        except BaseException:  # whatever happened here, the folder before has its mail stored
            self._store_previous()
            raise
        if self.leave_tail and self.tail is None and self.previous is not None:
            # Nothing of this folder went to the worker: the folder before's last batch
            # waits for the next folder that hands the worker something.
            self.tail, self.previous = self.previous, None
        self._store_previous()
        return changes

    def _store_previous(self) -> None:
        previous, self.previous = self.previous, None
        if previous is not None:
            previous()

    def _run(self) -> FolderChanges:
        changes = FolderChanges()
        with self.db.session() as session:
            category = self._category(session)
            remote_name = category.remote_name
            known_validity = category.uidvalidity
            known_next = category.uidnext
            known_modseq = category.highestmodseq
        assert remote_name is not None
        if self._unchanged(known_validity, known_next, known_modseq):
            return changes
        held = self._local_count()
        # The read this sync will need goes out right behind the EXAMINE (one round trip).
        behind = self._read_behind_examine(known_validity, known_next, known_modseq, held)
        info, reply = examine(self.client, remote_name, behind)
        validity = int(info[b"UIDVALIDITY"])
        uidnext = int(info[b"UIDNEXT"]) if b"UIDNEXT" in info else None
        exists = int(info.get(b"EXISTS", 0))
        modseq = (
            int(info[b"HIGHESTMODSEQ"]) if self.condstore and b"HIGHESTMODSEQ" in info else None
        )
        first_sizes = None
        changed: tuple[dict[int, dict[bytes, Any]], UidSet] | None = None
        if reply is not None and behind == _FIRST_LOOK:
            first_sizes = reply  # the folder's state now, whatever it was before
        elif reply is not None:  # changes since the MODSEQ of our last sync
            with contextlib.suppress(ValueError):  # (read now: VANISHED lines not left over)
                changed = changes_of(self.client, reply)
            if known_validity != validity:
                changed = None  # that MODSEQ was of the old UIDs

        if known_validity is not None and known_validity != validity:
            changes.removed += self._forget_folder()
            known_next = known_modseq = None
            held = 0
        if (
            known_next is not None
            and known_next == uidnext
            and modseq is not None
            and modseq == known_modseq
            and exists == held
        ):
            return changes  # nothing happened since the last pass (CONDSTORE says so)
        local = self._local_uids()

        # QRESYNC: one FETCH tells which flags changed and which UIDs went since the last
        # pass; with new mail (which is among the changes) also the new UIDs' sizes, so
        # they need no command of their own (a round trip before new mail shows).
        flag_data: dict[int, dict[bytes, Any]] | None = None
        vanished: UidSet | None = None
        sizes: dict[int, int] | None = None
        new_mail = known_next is not None and (uidnext is None or uidnext > known_next)
        qresync = self.qresync and self.labels is None  # its FETCH brings no labels
        if qresync and known_next is not None and known_modseq and modseq and local:
            with_sizes = new_mail and exists > 0  # `*` is not asked of an empty folder
            if changed is not None:  # asked with the EXAMINE, new mail's sizes included
                flag_data, vanished = changed
                with_sizes = True
            else:
                try:
                    flag_data, vanished = changes_since(
                        self.client,
                        "1:*" if with_sizes else f"1:{max(local)}",
                        known_modseq,
                        ("FLAGS", "RFC822.SIZE") if with_sizes else ("FLAGS",),
                    )
                except ValueError:  # a VANISHED reply we cannot read: compare UID lists
                    flag_data = vanished = None
            if new_mail and with_sizes and flag_data is not None:
                sizes = sizes_since(flag_data, since=known_next or 0)

        remote: set[int] | None = None
        gone: list[int] = []
        if known_next is None:
            # A first look: every UID with its size in one command, in place of the SEARCH
            # and the sizes the batches are cut by (two round trips less before any mail).
            self._sizes = self._first_sizes(first_sizes, exists, uidnext)
            remote = set(self._sizes)
            new = remote - local.keys()
        else:
            new = set()
            if new_mail:
                # The new UIDs with their sizes in one command (no SEARCH first). `n:*` is
                # never empty: past the last UID it names the last message, left out here
                # (not asked of an empty folder, where some servers refuse the `*`).
                if sizes is None:
                    sizes = message_sizes(self.client, f"{known_next}:*") if exists else {}
                self._sizes = sizes
                new = {u for u in sizes if u >= known_next} - local.keys()
            if vanished is not None:
                gone = [uid for uid in local if uid in vanished]
            # The count must add up; if not (a change between our commands, or a server
            # without QRESYNC), compare the UID lists.
            if exists != len(local) - len(gone) + len(new):
                remote = set(self.client.search("ALL"))
                # New UIDs the commands before did not show (one that came in between):
                # `_batching` asks their sizes.
                new |= {u for u in remote if u >= known_next} - local.keys()
        if remote is not None:
            gone = [uid for uid in local if uid not in remote]
        if gone:
            changes.expunged += len(gone)
            changes.removed += self._expunged(gone)
            for uid in gone:
                del local[uid]

        if local and known_next is not None:
            if flag_data is not None:
                changes.updated += self._store_flags(self._changed_flags(flag_data, local))
            else:
                changes.updated += self._flag_changes(local, known_modseq)

        changes.added += self._fetch_new(sorted(new, reverse=True), remote_name, validity)
        mark = functools.partial(self._mark_synced, validity, uidnext, modseq)
        unstored, self._unstored = self._unstored, None
        if unstored is None:
            mark()
            return changes

        def tail() -> None:
            changes.added += self._store_batch(unstored)
            mark()

        self.tail = tail
        return changes

    def _read_behind_examine(
        self,
        known_validity: int | None,
        known_next: int | None,
        known_modseq: int | None,
        held: int,
    ) -> Command | None:
        """The read this folder's sync will surely make after its EXAMINE, to send right
        behind it (`examine`): on a first look (or where the pass's STATUS shows a new
        UIDVALIDITY), every UID with its size, where that STATUS shows mail (not more than
        one command asks); under QRESYNC, the changes since the last sync with new mail's
        sizes, unless the STATUS shows the folder empty (some servers refuse the `*`
        there). None: the EXAMINE alone."""
        status = self.status or {}
        messages = status.get(b"MESSAGES")
        validity = status.get(b"UIDVALIDITY")
        if known_next is None or (validity is not None and validity != known_validity):
            fits = messages is not None and 0 < messages <= folder_reads.SIZES_PER_COMMAND
            return _FIRST_LOOK if fits else None
        if self.qresync and self.labels is None and known_modseq and held and messages != 0:
            return changes_command("1:*", known_modseq, ("FLAGS", "RFC822.SIZE"))
        return None

    def _first_sizes(
        self, reply: list[Any] | None, exists: int, uidnext: int | None
    ) -> dict[int, int]:
        """Every UID of the folder with its size: from the reply to the read sent with the
        EXAMINE, or asked now."""
        if reply is not None:
            try:
                return sizes_of(reply)
            except ValueError:
                pass  # asked again, and read by imapclient's parser
        return all_sizes(self.client, exists, uidnext)

    def _unchanged(
        self, known_validity: int | None, known_next: int | None, known_modseq: int | None
    ) -> bool:
        """Whether the pass's STATUS of the folder already tells there is nothing to do,
        without opening it (an EXAMINE and a SEARCH, two round trips, per folder and pass):
        the folder is empty and so is ours (marked synced at its UIDNEXT), or CONDSTORE says
        nothing changed since our last sync (the test `_run` makes after opening it). A
        change after the STATUS is the next check's to find, as one after an EXAMINE is."""
        status = self.status
        if status is None or b"UIDVALIDITY" not in status or b"UIDNEXT" not in status:
            return False
        validity, uidnext = status[b"UIDVALIDITY"], status[b"UIDNEXT"]
        modseq = status.get(b"HIGHESTMODSEQ") if self.condstore else None
        if known_validity is not None and known_validity != validity:
            return False
        messages = status.get(b"MESSAGES")
        if messages == 0 and self._local_count() == 0:
            self._mark_synced(validity, uidnext, modseq)
            return True
        return (
            known_next == uidnext
            and modseq is not None
            and modseq == known_modseq
            and messages == self._local_count()
        )

    def _mark_synced(self, validity: int, uidnext: int | None, modseq: int | None) -> None:
        with self.db.session() as session:
            category = self._category(session)
            category.uidvalidity = validity
            category.uidnext = uidnext
            category.highestmodseq = modseq

    # ------------------------------------------------------------------ pieces

    def _category(self, session: Session) -> Category:
        category = session.get(Category, self.category_id)
        assert category is not None and category.account_id == self.account_id
        return category

    def _local_count(self) -> int:
        with self.db.session() as session:
            return imap_uids.count_in_folder(session, self.category_id)

    def _local_uids(self) -> dict[int, list[str]]:
        with self.db.session() as session:
            return imap_uids.flags_in_folder(session, self.category_id)

    def _forget_folder(self) -> int:
        """UIDVALIDITY changed: the old UIDs mean nothing any more."""
        with self.db.session() as session:
            rows = imap_uids.in_folder(session, self.category_id)
            imap_uids.detach(session, rows)
            category = self._category(session)
            category.uidvalidity = category.uidnext = category.highestmodseq = None
            return len(rows)

    def _expunged(self, uids: list[int]) -> int:
        removed = 0
        for chunk in _chunks(uids, UID_CHUNK):
            with self.db.session() as session:
                rows = imap_uids.in_folder(session, self.category_id, chunk)
                message_ids = {row.message_id for row in rows}
                removed += imap_uids.detach(session, rows)
                removed += drop_drafts_gone_from_server(session, message_ids)
        return removed

    def _flag_changes(self, local: dict[int, list[str]], known_modseq: int | None) -> int:
        changed: dict[int, Changed] = {}
        items = ["FLAGS"]
        local_labels: dict[int, list[str] | None] | None = None
        if self.labels is not None:  # Gmail: a label change is a change like a flag's
            items.append("X-GM-LABELS")
            with self.db.session() as session:
                local_labels = imap_uids.labels_in_folder(session, self.category_id)
        for uid_set in sequence_sets(local):
            if self.condstore and known_modseq:
                # Only what changed since the last pass (CONDSTORE, RFC 7162).
                modifiers = [f"CHANGEDSINCE {known_modseq}"]
                fetched = fetch_set(self.client, uid_set, items, modifiers)
            else:
                fetched = fetch_set(self.client, uid_set, items)
            changed.update(self._changed_flags(fetched, local, local_labels))
        return self._store_flags(changed)

    @staticmethod
    def _changed_flags(
        fetched: dict[int, dict[bytes, Any]],
        local: dict[int, list[str]],
        local_labels: dict[int, list[str] | None] | None = None,
    ) -> dict[int, Changed]:
        """The fetched UIDs we hold whose flags (or Gmail labels, given `local_labels`)
        differ: uid -> (flags, MODSEQ item, labels or None)."""
        changed: dict[int, Changed] = {}
        for uid, data in fetched.items():
            if uid not in local or b"FLAGS" not in data:
                continue
            flags = flag_names(data[b"FLAGS"])
            labels = None
            if local_labels is not None and b"X-GM-LABELS" in data:
                labels = gmail.label_names(data[b"X-GM-LABELS"])
                if labels == local_labels.get(uid):
                    labels = None  # unchanged
            if flags != local[uid] or labels is not None:
                changed[uid] = (flags, data.get(b"MODSEQ"), labels)
        return changed

    def _store_flags(self, changed: dict[int, Changed]) -> int:
        if not changed:
            return 0
        updated = 0
        relabelled: list[int] = []
        with self.db.session() as session:
            for row in imap_uids.in_folder(session, self.category_id, list(changed)):
                flags, modseq, labels = changed[row.uid]
                row.flags = flags
                if modseq:
                    row.modseq = modseq_value(modseq)
                if labels is not None and labels != row.labels:
                    row.labels = labels
                    relabelled.append(row.message_id)
                message = session.get(Message, row.message_id)
                if message is not None and apply_flags(message, flags):
                    updated += 1
            if relabelled:
                session.flush()
                updated += imap_uids.reset_folders(session, relabelled)
        return updated

    def _fetch_new(self, uids: list[int], folder: str, validity: int) -> int:
        """FETCH new messages batch by batch and store each. With more than one batch, a
        worker process fetches, parses and writes the blobs of the next batch over a
        connection of its own while this one stores the batch before (see `sync.fetch`)."""
        if not uids:
            return 0
        with fewer_collections():
            return self._fetch_new_in_bulk(uids, folder, validity)

    def _fetch_new_in_bulk(self, uids: list[int], folder: str, validity: int) -> int:
        items = ("BODY.PEEK[]", "FLAGS") + (("MODSEQ",) if self.condstore else ())
        if self.labels is not None:
            items += gmail.FETCH_ITEMS
        if self.remote is None:
            return self._fetch_batches(self._batching(uids, BATCH_COUNT), items, None)
        # The first (newest) batch is FETCHed here before anything else is asked of the
        # server, sized from its own UIDs' sizes alone: while the account shows nothing yet,
        # it is also stored first, so the newest mail is readable without waiting for the
        # sizes of the whole folder, the worker's start or its first FETCH
        # (bench/RESULTS.md, "inbox usable"). On a first sync the
        # worker started when the pass saw that much to fetch (`AccountSync.full_pass`).
        first = next(self._batching(uids[:BATCH_COUNT], BATCH_COUNT))
        rest = uids[len(first) :]
        if not rest:
            return self._store_batch(Preparing(fetched_here(self.client, first, items)))
        access = FolderAccess(*self.remote, folder, validity, items)
        # One worker process: with the parser this fast, it fetches and parses as quickly as
        # this process stores, and each more would cost its memory for no gain on two cores.
        # Started on its own and fed over a pipe, not forked from a server nor spawned by
        # multiprocessing: one process in memory instead of two (store/pipe_workers.py).
        with PreparePool(self.blobs, sync_workers(), start_method=PIPE) as pool:
            # If it has not, the worker starts up, logs in and opens the folder while the
            # first batch is fetched and stored here.
            pool.start(open_in_worker, access)
            # The first batch is FETCHed now, and parsed and stored once the worker has the
            # next: the worker fetches while this process parses and stores (it used to
            # wait for that at the start of every folder). But while nothing of the account
            # is readable yet, its newest mail is stored before anything else.
            here = Preparing(fetched_here(self.client, first, items))
            newest_first = self.progress.messages_synced == 0
            added = self._store_batch(here) if newest_first else 0
            later = self._batching(rest, LATER_BATCH_COUNT)
            workers = (pool, access)
            return added + self._fetch_batches(
                later, items, workers, first=None if newest_first else here
            )

    def _fetch_batches(
        self,
        batches: Iterable[list[int]],
        items: tuple[str, ...],
        workers: tuple[PreparePool, FolderAccess] | None,
        first: Preparing[Fetched] | None = None,
    ) -> int:
        added = 0
        in_flight: deque[Preparing[Fetched]] = deque([first] if first is not None else [])
        batches = iter(batches)
        following = next(batches, None)
        while (batch := following) is not None:
            following = next(batches, None)
            if workers is None:
                in_flight.append(
                    Preparing(functools.partial(fetch_here, self.client, batch, items))
                )
            else:  # the worker fetches it while this process stores the batches before
                pool, access = workers
                here = functools.partial(self._fetch_again_here, batch, access)
                # A single worker is told the batch after, to FETCH while it parses this one.
                ahead = following if pool.workers == 1 else None
                in_flight.append(
                    pool.map(fetch_in_worker, batch, access, pool.blob_root, ahead, fallback=here)
                )
                self._store_previous()  # the worker has work: the folder before's last batch
            if len(in_flight) > BATCHES_AHEAD:
                added += self._store_batch(in_flight.popleft())
        if self.leave_tail and workers is not None and len(in_flight) == 1:
            self._unstored = in_flight.popleft()  # for the next folder's sync to store
        while in_flight:
            added += self._store_batch(in_flight.popleft())
        return added

    def _fetch_again_here(self, uids: list[int], access: FolderAccess) -> list[Fetched]:
        """A batch the worker could not fetch, FETCHed over this connection instead: with
        the folder selected again first, as the next folder's sync may have selected its
        own meanwhile (`leave_tail`), and its UIDVALIDITY checked as the worker does."""
        info = self.client.select_folder(access.folder, readonly=True)
        if int(info[b"UIDVALIDITY"]) != access.uidvalidity:
            raise ServerUnreachable(
                f"UIDVALIDITY of {access.folder!r} changed during the sync; it starts over"
            )
        return fetch_here(self.client, uids, access.items)

    def _store_batch(self, preparing: Preparing[Fetched]) -> int:
        fetched = preparing.result()
        with self.db.session() as session:
            self._store(session, fetched)
            self.progress.messages_synced += len(fetched)
            if self.save_progress:
                self.save_progress(session, self.progress)
        self.progress.changed()
        return len(fetched)

    def _batching(self, uids: list[int], first_count: int) -> Iterator[list[int]]:
        """UIDs in order, grouped so a batch holds at most `first_count` messages (the first)
        or LATER_BATCH_COUNT (the others) or BATCH_BYTES (a single bigger message makes a
        batch of its own). The sizes are all asked for before the first batch is given:
        the caller FETCHes over the same connection."""
        sizes = {uid: self._sizes[uid] for uid in uids if uid in self._sizes}
        missing = [uid for uid in uids if uid not in sizes]
        for uid_set in sequence_sets(missing):  # a folder's UIDs: mostly one round trip
            sizes.update(message_sizes(self.client, uid_set))
        batch: list[int] = []
        total = 0
        count = first_count
        for uid in uids:
            size = sizes.get(uid, 0)
            if batch and (len(batch) >= count or total + size > BATCH_BYTES):
                yield batch
                batch, total, count = [], 0, LATER_BATCH_COUNT
            batch.append(uid)
            total += size
        if batch:
            yield batch

    def _store(self, session: Session, fetched: list[Fetched]) -> None:
        """Store one FETCH batch (newest first): copies of messages we hold are linked to
        them, the rest are ingested together; then each UID is recorded."""
        account = session.get(Account, self.account_id)
        category = self._category(session)
        assert account is not None
        known = imap_uids.known_message_ids(
            session, account, [f.parsed.message_id for f in fetched]
        )
        # Gmail: a message is the same in every folder by its X-GM-MSGID.
        msgids = [f.gmail.msgid for f in fetched if f.gmail and f.gmail.msgid is not None]
        same = imap_uids.by_gm_msgid(session, account, msgids) if msgids else {}
        new: list[NewMessage] = []
        new_by_copy: dict[tuple[str, str], int] = {}  # (Message-ID, sha256) -> index in new
        targets: list[Message | int] = []  # per UID: the message it links to, or an index
        relabel: list[int] = []  # messages linked to a new Gmail UID: their labels to reset
        for item in fetched:
            message_id = item.parsed.message_id
            gm = item.gmail
            if gm is not None and gm.msgid is not None and gm.msgid in same:
                targets.append(same[gm.msgid])
                apply_flags(same[gm.msgid], item.flags)
                relabel.append(same[gm.msgid].id)
                continue
            if message_id:
                sha = item.parsed.raw_sha256 or hashlib.sha256(item.raw).hexdigest()
                copy = (
                    imap_uids.find_copy(session, account, message_id, sha)
                    if message_id in known
                    else None
                )
                if copy is not None:
                    if category not in copy.categories:
                        copy.categories = _with_copy_in(session, copy, category)
                    apply_flags(copy, item.flags)
                    targets.append(copy)
                    if gm is not None:
                        relabel.append(copy.id)
                    continue
                key = (message_id, sha)
                if key in new_by_copy:  # a second copy in this very batch
                    targets.append(new_by_copy[key])
                    continue
                new_by_copy[key] = len(new)
            targets.append(len(new))
            categories = [category]
            labels = gm.labels if gm is not None else []
            if gm is not None and self.labels is not None:
                ids = self.labels.categories(gm.labels) - {category.id}
                categories += [c for i in sorted(ids) if (c := session.get(Category, i))]
            new.append(
                NewMessage(
                    item.raw,
                    item.parsed,
                    categories=categories,
                    unread=SEEN not in item.flags,
                    starred=FLAGGED in item.flags,
                    is_sent=category.name == "sent" or "\\Sent" in labels,
                    # another client's: see sync/drafts.py
                    is_draft=category.name == "drafts" or "\\Draft" in labels,
                    gm_thrid=gm.thrid if gm is not None else None,
                )
            )
        stored = ingest_messages(session, self.blobs, account, new)
        uid_rows = [
            {
                "account_id": account.id,
                "category_id": category.id,
                "message_id": stored[target] if isinstance(target, int) else target.id,
                "uid": item.uid,
                "flags": item.flags,
                "modseq": item.modseq,
                "gm_msgid": item.gmail.msgid if item.gmail else None,
                "labels": item.gmail.labels if item.gmail else None,
            }
            for item, target in zip(fetched, targets, strict=True)
        ]
        imap_uids.add_rows(session, uid_rows)
        if relabel:
            imap_uids.reset_folders(session, relabel)


# ---------------------------------------------------------------------------------- helpers


def apply_flags(message: Message, flags: list[str]) -> bool:
    """Set unread/starred from IMAP flags; True if anything changed."""
    unread, starred = SEEN not in flags, FLAGGED in flags
    changed = False
    if message.unread != unread:
        message.unread = unread
        changed = True
    if message.starred != starred:
        message.starred = starred
        changed = True
    return changed


def _with_copy_in(session: Session, message: Message, category: Category) -> list[Category]:
    """The folders of `message` once a copy of it is found in `category`. On a folder account
    a message the engine knows no other copy of had left its folders on the server (moved
    in another client): the folder it turned up in is where it is, over any move the API
    asked for meanwhile (the server wins; keeping both would leave it in two folders, which
    no write-back can settle). Otherwise the copy adds a folder (a label, or a duplicate)."""
    if category.type != "label" and not imap_uids.of_message(session, message.id):
        return [category]
    return [*message.categories, category]


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
