"""API changes back to the server: unread/starred as \\Seen/\\Flagged, folder moves as MOVE,
label changes as COPY and EXPUNGE, folders (or labels) created, renamed and deleted, and mail
sent through the API APPENDed to Sent.

Nothing queues commands. Each `ImapUid` row keeps the flags and folder the server last
reported, and the message row holds what the user wants; where they differ, the user changed
something through the API, so the difference is what to send. The delta log says which
messages changed since the last look, so a pass only compares those (all of them on the
first pass after a start, which covers changes made while the worker was not running).
Changes the sync itself makes never differ (it updates both sides together), so they cause
no writes.

Conflicts: the server wins, message by message. Before writing, the pass FETCHes the FLAGS
of the UIDs it is about to change:

* a UID that is gone was moved or deleted on the server since the last sync: it is neither
  stored nor moved; the message's folders are set back to those the engine still knows a
  copy in, and the caller runs a full pass, which finds where the server put it (the copy is
  linked to the same message by Message-ID and bytes) or deletes the message if no folder
  holds it. A moved message that does not turn up in its target folder (it left between the
  check and the MOVE) is treated the same way (`settle`);
* a message in a folder the server has it in and also in another the API asked for was
  changed by the sync and the API at once (the sync linked a copy the server had moved
  while the API moved it): it is set back to the folders the server has it in;
* a draft sent through the API whose copy in Drafts is still linked (the send came after the
  drafts' write-back, `sync/drafts.py`, looked) is no message to move to Sent: that copy is
  the draft's, which the drafts' write-back expunges next, and the sent mail is filed apart;
* a UID whose \\Seen or \\Flagged differ from what the server last reported was changed on
  the server: none of the API's flag changes to it are stored, the server's flags are
  applied to the message instead (a move of it still goes ahead). With CONDSTORE the STORE
  is conditional (`UNCHANGEDSINCE` the folder's HIGHESTMODSEQ when the pass selected it), so
  a change made between that FETCH and the STORE loses nothing either; without CONDSTORE,
  that one round trip is the only window where the API's flags can land over the server's.

The sync, when it sees the server's change first, does the same: it sets the message's flags
and folders to the server's, and nothing is left to write back. Either way both sides end
with the server's state, and the delta log records it.

Labels: on a label account (Gmail and other servers that show each label as a folder) a
message is one copy per label. For each label the API added, the message is COPYed from a
folder that holds it into that label's folder; for each label the API removed, its copy is
flagged \\Deleted and expunged (UID EXPUNGE of just those UIDs with UIDPLUS). The copies
are made before any is removed, and the last copy is never removed this way: a message the API
leaves on no label keeps its copies. The `\\All` folder (Gmail's All Mail) is no label here:
it is never copied into or expunged from, only copied from (Gmail files every message there
itself, and an expunge from it deletes the message).

On Gmail (X-GM-EXT-1, see gmail.py) no copies are made or removed: the labels the API added
and removed are written as `UID STORE +X-GM-LABELS` / `-X-GM-LABELS` on the message's UID in
All Mail (or Trash, Spam), compared with the labels the server last reported for that UID.
The server wins here too: a UID whose labels changed on the server since the last sync keeps
the server's labels, and the message takes them.

Sent mail: many servers file a copy of what goes through their SMTP server themselves. A
message sent through the API gets `APPEND_GRACE` seconds for that; then the worker syncs the
Sent folder (which links a copy the server filed, by its Message-ID) and appends the message
only if it is still on no folder. The appended copy is linked the same way, and a message is
appended at most once per worker run (and never once linked), unless the server refused it.

Refusals: a NO or BAD to one command (CREATE, RENAME, DELETE, SELECT, STORE, COPY, MOVE,
EXPUNGE, APPEND) fails only the folder or the messages it was for. They are tried again a
few times, then the API's change is undone (`refusals.py`); the rest of the write-back, and
the sync, go on. A broken connection still ends the pass (`imap.NETWORK_ERRORS`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, TypeVar

from imapclient import IMAPClient
from imapclient.imapclient import join_message_ids, seq_to_parenstr
from imapclient.response_parser import parse_fetch_response
from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.store import imap_folders, imap_uids, sent_copies
from nylas_engine.store.gmail_labels import LabelMap, label_map
from nylas_engine.store.mail import category_kind
from nylas_engine.store.models import (
    Account,
    Category,
    ImapUid,
    Message,
    now,
)
from nylas_engine.sync import folder_writeback, gmail
from nylas_engine.sync.folders import Namespace, personal_namespace
from nylas_engine.sync.imap import (
    NETWORK_ERRORS,
    REFUSED,
    expunge_uids,
    flag_names,
    modseq_value,
)
from nylas_engine.sync.messages import FLAGGED, SEEN, apply_flags
from nylas_engine.sync.refusals import Refusals

T = TypeVar("T")
UID_CHUNK = 500
APPEND_GRACE = 5  # seconds a server gets to file its own copy of sent mail


class WriteBack:
    def __init__(self, ctx: EngineContext, account_id: int) -> None:
        self.ctx = ctx
        self.account_id = account_id
        self.seen_txn: int | None = None  # the newest delta-log row already looked at
        self.namespace: Namespace | None = None  # the server's personal namespace
        self.refusals = Refusals(account_id)  # operations the server refused
        self.filed: set[int] = set()  # sent messages already appended (or given up on)
        # The newest delta-log row when `folders` last planned: `run` counts the log seen
        # only up to there, so a folder changed through the API after that plan (and before
        # `run` looks at the log) still counts as pending, and is written by the next look.
        self.folders_seen_txn: int | None = None

    def pending(self) -> bool:
        if self.refusals.due():
            return True  # a refused operation is to be tried again
        with self.ctx.db.session() as session:
            return (
                self.seen_txn is None
                or imap_uids.latest_change(session, self.account_id) > self.seen_txn
            )

    def folders(self, client: IMAPClient) -> list[folder_writeback.FolderChange]:
        """Folders (labels, on a label account) created, renamed or deleted through the API:
        CREATE, RENAME, DELETE (`folder_writeback`). Returns the changes the server took
        (`AccountSync.follow_folder_changes` brings the sync's folder list up to date).

        Runs before each full pass, so the pass finds the server already matching the API
        (a pass first would take the old name for a change made on the server)."""
        if self.namespace is None:
            self.namespace = personal_namespace(client)
        with self.ctx.db.session() as session:
            looked = imap_uids.latest_change(session, self.account_id)  # before the plan
            changes = folder_writeback.plan(session, self.account_id, self.namespace, self.refusals)
        if self.folders_seen_txn is None or looked < self.folders_seen_txn:
            self.folders_seen_txn = looked
        if not changes:
            return []
        outcomes = folder_writeback.execute(client, changes)
        with self.ctx.db.session() as session:
            folder_writeback.record(session, outcomes, self.namespace, self.refusals)
        return [change for change, refused in outcomes if not refused]

    def run(self, client: IMAPClient) -> Outcome:
        """Push every pending local change (see the module docstring for conflicts)."""
        outcome = Outcome()
        capabilities = set(client.capabilities())
        with self.ctx.db.session() as session:
            latest = imap_uids.latest_change(session, self.account_id)
            account = session.get(Account, self.account_id)
            labels = account is not None and category_kind(account) == "label"
            gmail_labels: LabelMap | None = None
            if labels and gmail.offered(capabilities):
                gmail_labels = label_map(session, self.account_id)
            folders = {c.id: c for c in imap_folders.on_server(session, self.account_id)}
            sources = {c_id: c.remote_name for c_id, c in folders.items()}
            drafts = imap_folders.drafts_folder(session, self.account_id)
            jobs: dict[int, list[_Job]] = defaultdict(list)  # by source folder
            by_message: dict[int, list[tuple[ImapUid, Message]]] = defaultdict(list)
            crossed: list[int] = []  # messages to set back to the server's folders
            waiting = {key[1] for key in self.refusals.waiting() if key[0] == "message"}
            retry = {m for m in waiting if self.refusals.ready(("message", m))}
            for uid_row, message in imap_uids.changed_since(
                session, self.account_id, self.seen_txn, retry
            ):
                by_message[message.id].append((uid_row, message))
            for pairs in by_message.values():
                message = pairs[0][1]
                if message.deleted_at is not None or message.id in waiting - retry:
                    continue  # deleted; or refused by the server, and not due again yet
                if message.is_sent and drafts is not None:
                    # A draft sent through the API after the drafts' write-back looked: its
                    # copy in Drafts is the draft's, which `sync_drafts` expunges next (the
                    # sent mail is filed in Sent apart, `append_sent`), not a message to move
                    # or to label.
                    pairs = [(row, m) for row, m in pairs if row.category_id != drafts.id]
                    if not pairs:
                        continue
                wanted = {c.id for c in message.categories if c.id in folders}
                on_server = {row.category_id for row, _ in pairs}
                if gmail_labels is not None:
                    for job in _gmail_jobs(message, pairs, wanted, gmail_labels):
                        jobs[job.category_id].append(job)
                    continue
                if labels:
                    for job in _label_jobs(message, pairs, wanted, folders):
                        jobs[job.category_id].append(job)
                    continue
                targets = [folders[c] for c in wanted - on_server]
                if targets and wanted & on_server:
                    # Both where the server has it and in a folder the API asked for: the
                    # sync linked a copy the server had moved while the API moved the message
                    # (two transactions crossed). A message is in one folder; the server's
                    # word wins, as in any conflict.
                    crossed.append(message.id)
                    targets = []
                for row, _ in pairs:
                    flags = list(row.flags or [])
                    want = _with(flags, seen=not message.unread, flagged=message.starred)
                    target = None
                    if wanted and row.category_id not in wanted and targets:
                        target = (targets[0].id, targets[0].remote_name or "")
                    if want != flags or target is not None:
                        jobs[row.category_id].append(
                            _Job(row.id, row.uid, message.id, row.category_id, flags, want, target)
                        )

        condstore = b"CONDSTORE" in capabilities
        can_move = b"MOVE" in capabilities
        results: list[_Result] = []
        for category_id, folder_jobs in jobs.items():
            name = sources.get(category_id)
            if name is not None:
                results.append(_write_folder(client, name, folder_jobs, condstore, can_move))
        # Labels removed: only once every copy is made, and not from a message one of whose
        # UIDs vanished (the full pass that follows finds where the server has it).
        unsure = {job.message_id for r in results for job in r.failed}
        unsure |= {job.message_id for r in results for job, _ in r.refused}
        removals: dict[int, list[_Job]] = defaultdict(list)
        for result in results:
            for job in result.to_remove:
                if job.message_id not in unsure:
                    removals[job.category_id].append(job)
        removed: list[_Job] = []
        removing = _Result()
        for category_id, folder_jobs in removals.items():
            if (name := sources.get(category_id)) is not None:
                removed += _remove_copies(client, name, folder_jobs, removing)
        results.append(removing)
        refused = {job.message_id: why for r in results for job, why in r.refused}
        for message_id in retry - refused.keys():
            self.refusals.done(("message", message_id))

        with self.ctx.db.session() as session:
            vanished: list[ImapUid] = []
            imap_uids.reset_folders(session, crossed)
            for result in results:
                for row_id, (flags, modseq) in result.stored.items():
                    if (stored := session.get(ImapUid, row_id)) is not None:
                        stored.flags = flags
                        stored.modseq = modseq or stored.modseq
                for row_id, flags in result.server_flags.items():
                    if (stored := session.get(ImapUid, row_id)) is not None:
                        stored.flags = flags
                        if (changed := session.get(Message, stored.message_id)) is not None:
                            apply_flags(changed, flags)
                relabelled = []
                for row_id, (row_labels, server_won) in result.labels.items():
                    if (stored := session.get(ImapUid, row_id)) is not None:
                        stored.labels = row_labels
                        if server_won:
                            relabelled.append(stored.message_id)
                session.flush()
                imap_uids.reset_folders(session, relabelled)
                for job in result.moved:
                    # The copy in the target folder is linked to the same message when the
                    # caller syncs that folder (same Message-ID and bytes); `settle` checks.
                    if (stored := session.get(ImapUid, job.row_id)) is not None:
                        session.delete(stored)
                    assert job.target is not None
                    outcome.moved[job.message_id] = {job.target}
                    outcome.targets.add(job.target[1])
                for job in result.copied:  # linked the same way
                    for target in job.copies:
                        outcome.moved.setdefault(job.message_id, set()).add(target)
                        outcome.targets.add(target[1])
                vanished += [r for i in result.vanished if (r := session.get(ImapUid, i))]
            for job in removed:
                if (stored := session.get(ImapUid, job.row_id)) is not None:
                    session.delete(stored)
            session.flush()
            if vanished:
                imap_uids.detach(
                    session, vanished
                )  # the message keeps only the folders still known
                outcome.vanished = True
            for message_id, why in refused.items():
                what = f"the write-back of message {message_id}"
                if self.refusals.refused(("message", message_id), what, why):
                    _undo(session, message_id)
        if self.folders_seen_txn is not None:
            latest = min(latest, self.folders_seen_txn)
            self.folders_seen_txn = None
        self.seen_txn = latest
        return outcome

    def settle(self, outcome: Outcome, synced: set[str]) -> bool:
        """After the caller synced the folders messages were moved or copied to (`synced`):
        a message with no UID in one of them did not arrive (it left its folder on the server
        just before the MOVE or COPY, or its copy could not be linked), so its folders go
        back to the ones the server is known to hold it in. True if a full pass is needed to
        find out where the server has such messages (or the UIDs that had vanished)."""
        full_pass = outcome.vanished
        with self.ctx.db.session() as session:
            for message_id, targets in outcome.moved.items():
                for category_id, name in sorted(targets):
                    if name not in synced:
                        full_pass = True  # a folder the sync does not know yet: the pass links it
                        continue
                    if not imap_uids.is_in_folder(session, message_id, category_id):
                        imap_uids.reset_folders(session, [message_id])
                        full_pass = True
                        break
        return full_pass

    # ------------------------------------------------------------------ sent mail

    def sent_due(self) -> tuple[float | None, set[str]]:
        """When (epoch seconds) the oldest sent message not on the server yet is due to be
        appended, None if there is none; and the folders it and the others go to."""
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            if account is None:
                return None, set()
            rows = sent_copies.unfiled(session, account, self.filed)
        if not rows:
            return None, set()
        due = min(
            max(r.created_at + APPEND_GRACE, self.refusals.retry_at(("append", r.id)) or 0)
            for r in rows
        )
        return due, {r.remote_name for r in rows}

    def append_sent(self, client: IMAPClient) -> set[str]:
        """APPEND the sent messages past their grace period that are on no folder yet (the
        caller has just synced Sent, so a copy the server filed itself is linked by now).
        Returns the folders appended to, for the caller to sync (which links the copies)."""
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            if account is None:
                return set()
            rows = sent_copies.unfiled_before(session, account, self.filed, now() - APPEND_GRACE)
        folders: set[str] = set()
        for message_id, _, folder, sha, date in rows:
            key = ("append", message_id)
            if not self.refusals.ready(key):
                continue
            # Once, whatever happens: never appended twice (but tried again if refused).
            self.filed.add(message_id)
            if sha is None or folder is None or not self.ctx.blobs.exists(sha):
                continue
            when = datetime.fromtimestamp(date, timezone.utc) if date else None
            try:
                client.append(folder, self.ctx.blobs.read(sha), flags=[SEEN], msg_time=when)
            except NETWORK_ERRORS:
                raise
            except REFUSED as exc:
                what = f"the APPEND of sent message {message_id} to {folder!r}"
                if not self.refusals.refused(key, what, exc):
                    self.filed.discard(message_id)  # tried again once its retry is due
                continue
            self.refusals.done(key)
            folders.add(folder)
        return folders


@dataclass
class Outcome:
    """What a write-back pass did that the caller must follow up."""

    targets: set[str] = field(default_factory=set)  # folders messages went to: sync them
    # message id -> (category id, folder name) of each folder it was moved or copied to; see
    # `settle`
    moved: dict[int, set[tuple[int, str]]] = field(default_factory=dict)
    vanished: bool = False  # UIDs gone from the server since the last sync: run a full pass


@dataclass
class _Job:
    """One UID whose flags, folder or labels the API changed."""

    row_id: int
    uid: int
    message_id: int
    category_id: int  # the folder it is in
    flags: list[str]  # as the server last reported them
    want: list[str]  # as the API wants them
    target: tuple[int, str] | None  # the folder to move it to: category id, remote name
    copies: tuple[tuple[int, str], ...] = ()  # the label folders to copy it to
    remove: bool = False  # the API removed this folder's label: expunge this copy
    # Gmail: its X-GM-LABELS as last reported, and the labels to add and remove
    labels: list[str] | None = None
    add_labels: tuple[str, ...] = ()
    remove_labels: tuple[str, ...] = ()


@dataclass
class _Result:
    stored: dict[int, tuple[list[str], int | None]] = field(default_factory=dict)  # new flags
    server_flags: dict[int, list[str]] = field(default_factory=dict)  # changed on the server
    moved: list[_Job] = field(default_factory=list)
    copied: list[_Job] = field(default_factory=list)
    to_remove: list[_Job] = field(default_factory=list)  # copies to expunge once all are made
    vanished: list[int] = field(default_factory=list)  # ImapUid ids gone from the server
    failed: list[_Job] = field(default_factory=list)  # the jobs of those
    refused: list[tuple[_Job, str]] = field(default_factory=list)  # NO/BAD: job, command and why
    # Gmail: row id -> (its labels now, whether they are the server's over the API's)
    labels: dict[int, tuple[list[str], bool]] = field(default_factory=dict)

    def refuse(self, jobs: list[_Job], what: str, exc: BaseException) -> None:
        self.refused += [(job, f"{what}: {exc}") for job in jobs]

    def refused_rows(self) -> set[int]:
        return {job.row_id for job, _ in self.refused}

    def attempt(self, jobs: list[_Job], what: str, call: Callable[..., Any], *args: Any) -> bool:
        """`call(*args)` for these jobs; False if the server refused it (the jobs are then
        `refused`; a broken connection still raises)."""
        try:
            call(*args)
        except NETWORK_ERRORS:
            raise
        except REFUSED as exc:
            self.refuse(jobs, what, exc)
            return False
        return True


def _undo(session: Session, message_id: int) -> None:
    """A change to this message the server refused for good: its flags and folders go back
    to what the server last reported."""
    message = session.get(Message, message_id)
    rows = imap_uids.of_message(session, message_id)
    if message is None or not rows:
        return
    apply_flags(message, list(rows[0].flags or []))
    imap_uids.reset_folders(session, [message_id])


def _label_jobs(
    message: Message,
    pairs: list[tuple[ImapUid, Message]],
    wanted: set[int],
    folders: dict[int, Category],
) -> list[_Job]:
    """A label account's jobs for one message: flags per copy as on a folder account, a COPY
    into each label folder the API added, and the removal of each copy whose label the API
    took away (never of the last one; see the module docstring)."""
    every = {c_id for c_id, c in folders.items() if c.name == "all"}  # \All: no label here
    on_server = {row.category_id for row, _ in pairs}
    adds: list[Category] = []
    removes: set[int] = set()
    if wanted:
        adds = [folders[c] for c in sorted(wanted - every - on_server)]
        removes = on_server - every - wanted
        if not adds and not on_server - removes:
            removes = set()  # it would be on no folder at all
    # Copy from a copy that stays where possible (else from one about to go: the removals
    # wait until every copy is made).
    rows = sorted((row for row, _ in pairs), key=lambda r: (r.category_id in removes, r.id))
    source = rows[0].id if adds and rows else None
    jobs = []
    for row in rows:
        flags = list(row.flags or [])
        want = _with(flags, seen=not message.unread, flagged=message.starred)
        copies = tuple((c.id, c.remote_name or "") for c in adds) if row.id == source else ()
        remove = row.category_id in removes
        if want != flags or copies or remove:
            job = _Job(row.id, row.uid, message.id, row.category_id, flags, want, None)
            jobs.append(replace(job, copies=copies, remove=remove))
    return jobs


def _gmail_jobs(
    message: Message,
    pairs: list[tuple[ImapUid, Message]],
    wanted: set[int],
    labels: LabelMap,
) -> list[_Job]:
    """A Gmail message's jobs: flags per UID as on a folder account, and the labels the API
    added and removed as X-GM-LABELS changes on each UID that reported labels (its folder's
    own label, \\Trash on a UID in Trash, is no change)."""
    jobs = []
    for row, _ in pairs:
        flags = list(row.flags or [])
        want = _with(flags, seen=not message.unread, flagged=message.starred)
        add: tuple[str, ...] = ()
        remove: tuple[str, ...] = ()
        if row.labels is not None and wanted:
            own = labels.labels([row.category_id])
            asked = labels.labels(wanted) - own
            known = labels.labels(labels.categories(row.labels)) - own
            add = tuple(sorted(asked - set(row.labels)))
            remove = tuple(sorted(known - asked))
        if want != flags or add or remove:
            job = _Job(row.id, row.uid, message.id, row.category_id, flags, want, None)
            jobs.append(replace(job, labels=row.labels, add_labels=add, remove_labels=remove))
    return jobs


def _write_folder(
    client: IMAPClient, name: str, jobs: list[_Job], condstore: bool, can_move: bool
) -> _Result:
    """STORE, MOVE and COPY for the UIDs of one folder, the server winning on conflict
    (label removals are left in `to_remove`: they wait until every folder's copies are made)."""
    result = _Result()
    try:
        info = client.select_folder(name)  # read-write: STORE and MOVE need it
        current = _fetch_flags(client, [job.uid for job in jobs])
    except NETWORK_ERRORS:
        raise
    except REFUSED as exc:  # the folder is gone, or may not be written: none of its jobs
        result.refuse(jobs, f"SELECT of {name!r}", exc)
        return result
    highest = info.get(b"HIGHESTMODSEQ") if condstore else None
    live: list[_Job] = []
    for job in jobs:
        flags = current.get(job.uid)
        if flags is None:
            result.vanished.append(job.row_id)  # moved or deleted on the server
        elif _mapped(flags) != _mapped(job.flags):
            result.server_flags[job.row_id] = flags  # changed on the server: it wins
            live.append(replace(job, flags=flags, want=flags))
        else:
            live.append(replace(job, flags=flags, want=_with(flags, *_mapped(job.want))))

    _store_flags(client, live, highest, result)
    _store_labels(client, live, result)

    vanished = set(result.vanished)
    result.failed = [job for job in jobs if job.row_id in vanished]
    moves: dict[str, list[_Job]] = defaultdict(list)
    copies: dict[str, list[_Job]] = defaultdict(list)
    for job in live:  # after the flags: MOVE and COPY keep them
        if job.row_id in vanished:
            continue
        if job.target is not None:
            moves[job.target[1]].append(job)
        for _, target in job.copies:
            copies[target].append(job)
        if job.remove:
            result.to_remove.append(job)
    for target, group in copies.items():
        for chunk in _chunks(group):
            uids = [job.uid for job in chunk]
            result.attempt(chunk, f"COPY to {target!r}", client.copy, uids, target)
    refused = result.refused_rows()
    result.copied = [job for job in live if job.copies and job.row_id not in vanished | refused]
    for target, group in moves.items():
        for chunk in _chunks(group):
            uids = [job.uid for job in chunk]
            if can_move:
                moved = result.attempt(chunk, f"MOVE to {target!r}", client.move, uids, target)
            else:
                moved = result.attempt(chunk, f"COPY to {target!r}", client.copy, uids, target)
                moved = moved and result.attempt(
                    chunk, f"EXPUNGE in {name!r}", expunge_uids, client, uids
                )
            if moved:
                result.moved += chunk
    return result


def _store_labels(client: IMAPClient, jobs: list[_Job], result: _Result) -> None:
    """Gmail: `UID STORE +X-GM-LABELS` / `-X-GM-LABELS` of the labels the API changed, after
    a look at the labels the server has now: a UID whose labels changed there keeps them
    (the server wins), and the message takes them."""
    labelled = [job for job in jobs if job.add_labels or job.remove_labels]
    if not labelled:
        return
    current: dict[int, list[str]] = {}
    for chunk in _chunks(sorted({job.uid for job in labelled})):
        for uid, data in client.fetch(chunk, ["X-GM-LABELS"]).items():
            if b"X-GM-LABELS" in data:
                current[uid] = gmail.label_names(data[b"X-GM-LABELS"])
    commands: dict[tuple[str, tuple[str, ...]], list[_Job]] = defaultdict(list)
    for job in labelled:
        now_labels = current.get(job.uid)
        if now_labels is None:
            continue  # gone: the flags' check found it vanished
        if now_labels != sorted(job.labels or []):
            result.labels[job.row_id] = (now_labels, True)
            continue
        if job.add_labels:
            commands[("add", job.add_labels)].append(job)
        if job.remove_labels:
            commands[("remove", job.remove_labels)].append(job)
    done: dict[int, set[str]] = {}
    for (how, names), group in commands.items():
        call = client.add_gmail_labels if how == "add" else client.remove_gmail_labels
        for part in _chunks(group):
            uids = [job.uid for job in part]
            if result.attempt(part, f"STORE {how} X-GM-LABELS", call, uids, list(names), True):
                for job in part:
                    mine = done.setdefault(job.row_id, set(job.labels or []))
                    mine |= set(names) if how == "add" else set()
                    mine -= set(names) if how == "remove" else set()
    for job in labelled:
        if job.row_id in done:
            result.labels[job.row_id] = (sorted(done[job.row_id]), False)


def _remove_copies(client: IMAPClient, name: str, jobs: list[_Job], result: _Result) -> list[_Job]:
    """Expunge these UIDs (copies whose label the API removed) from one folder; the ones
    removed (a refusal goes to `result`)."""
    if not result.attempt(jobs, f"SELECT of {name!r}", client.select_folder, name):
        return []
    removed: list[_Job] = []
    for chunk in _chunks(jobs):
        what = f"EXPUNGE in {name!r}"
        if result.attempt(chunk, what, expunge_uids, client, [job.uid for job in chunk]):
            removed += chunk
    return removed


def _store_flags(client: IMAPClient, jobs: list[_Job], highest: Any, result: _Result) -> None:
    """STORE the flags the API changed. With CONDSTORE, one STORE per message (FLAGS, the
    whole set), each conditional on the modseq the folder had when selected (`highest`): a
    message changed since then is left alone, and the server's flags win. Without it,
    +FLAGS/-FLAGS of just the flags the API changed, so a change the server makes to another
    flag in the gap is kept at least."""
    commands: dict[tuple[str, tuple[str, ...]], list[_Job]] = defaultdict(list)
    for job in jobs:
        if job.want == job.flags:
            continue
        if highest is not None:
            commands[("FLAGS", tuple(job.want))].append(job)
            continue
        for flag in (SEEN, FLAGGED):
            if (flag in job.want) != (flag in job.flags):
                commands[("+FLAGS" if flag in job.want else "-FLAGS", (flag,))].append(job)
    modified: set[int] = set()
    replies: dict[int, dict[bytes, Any]] = {}  # the last FETCH reply of each UID
    for (command, names), group in commands.items():
        for chunk in _chunks(group):
            uids = [job.uid for job in chunk]
            try:
                fetched, changed = _store(client, uids, command, list(names), highest)
            except NETWORK_ERRORS:
                raise
            except REFUSED as exc:
                result.refuse(chunk, f"STORE {command}", exc)
                continue
            modified |= changed
            replies.update((uid, fetched[uid]) for uid in uids if uid in fetched)
    refused = result.refused_rows()
    for job in jobs:
        if job.want != job.flags and job.uid not in modified and job.row_id not in refused:
            data = replies.get(job.uid, {})
            flags = flag_names(data[b"FLAGS"]) if b"FLAGS" in data else job.want
            result.stored[job.row_id] = (flags, modseq_value(data.get(b"MODSEQ")))
    if modified:  # changed on the server after all: it wins
        again = _fetch_flags(client, sorted(modified))
        for job in jobs:
            if job.uid in modified:
                if (server := again.get(job.uid)) is None:
                    result.vanished.append(job.row_id)
                else:
                    result.server_flags[job.row_id] = server


def _fetch_flags(client: IMAPClient, uids: list[int]) -> dict[int, list[str]]:
    """The flags of those UIDs that still exist in the selected folder."""
    found: dict[int, list[str]] = {}
    for chunk in _chunks(sorted(set(uids))):
        asked = set(chunk)  # the reply may carry unsolicited FETCHes of other messages
        for uid, data in client.fetch(chunk, ["FLAGS"]).items():
            if uid in asked and b"FLAGS" in data:
                found[uid] = flag_names(data[b"FLAGS"])
    return found


def _store(
    client: IMAPClient, uids: list[int], command: str, flags: list[str], unchangedsince: Any
) -> tuple[dict[int, dict[bytes, Any]], set[int]]:
    """`UID STORE uids [(UNCHANGEDSINCE n)] command (flags)`: the FETCH replies by UID, and
    the UIDs the server refused to change because they changed after `unchangedsince`
    (RFC 7162 MODIFIED). imapclient's flag methods take no modifiers, hence its lower layer."""
    imap = client._imap
    imap.untagged_responses.pop("MODIFIED", None)
    args: list[Any] = [join_message_ids(uids)]
    if unchangedsince is not None:
        args.append(f"(UNCHANGEDSINCE {int(unchangedsince)})")
    args += [command, seq_to_parenstr(flags)]
    data = client._command_and_check("store", *args, uid=True)
    refused: set[int] = set()
    for value in imap.untagged_responses.pop("MODIFIED", []):
        refused |= _uid_set(value.decode() if isinstance(value, bytes) else str(value))
    return dict(parse_fetch_response(data)), refused


def _uid_set(text: str) -> set[int]:
    """`1,4:6` -> {1, 4, 5, 6}."""
    uids: set[int] = set()
    for part in text.split(","):
        low, _, high = part.strip().partition(":")
        if low.isdigit():
            uids.update(range(int(low), int(high if high.isdigit() else low) + 1))
    return uids


def _mapped(flags: list[str]) -> tuple[bool, bool]:
    """The flags the API shows: (\\Seen, \\Flagged)."""
    return SEEN in flags, FLAGGED in flags


def _with(flags: list[str], seen: bool, flagged: bool) -> list[str]:
    """`flags` with \\Seen and \\Flagged set as given, the others kept; sorted."""
    kept = set(flags) - {SEEN, FLAGGED}
    return sorted(kept | ({SEEN} if seen else set()) | ({FLAGGED} if flagged else set()))


def _chunks(items: list[T]) -> Iterable[list[T]]:
    for start in range(0, len(items), UID_CHUNK):
        yield items[start : start + UID_CHUNK]
