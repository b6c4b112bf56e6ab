"""API changes back to the server: unread/starred as \\Seen/\\Flagged, folder moves as MOVE,
folders created, renamed and deleted, and mail sent through the API APPENDed to Sent.

Nothing queues commands. Each `ImapUid` row keeps the flags and folder the server last
reported, and the message row holds what the user wants; where they differ, the user changed
something through the API, so the difference is what to send. The delta log says which
messages changed since the last look, so a pass only compares those (all of them on the
first pass after a start, which covers changes made while the worker was not running).

Changes the sync itself makes never differ (it updates both sides together), so they cause
no writes. A change made on the server wins: the sync applies it to both sides before the
next comparison.

Sent mail: many servers file a copy of what goes through their SMTP server themselves. A
message sent through the API is therefore appended only once it is `APPEND_GRACE` seconds
old and a full pass has not found the server's own copy (which `find_copy` links by its
Message-ID); the appended copy is linked the same way.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timezone

from imapclient import IMAPClient
from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.store.models import (
    Account,
    Category,
    ImapUid,
    Message,
    Transaction,
    message_categories,
    now,
)
from nylas_engine.sync.folders import RemoteFolder
from nylas_engine.sync.messages import FLAGGED, SEEN

UID_CHUNK = 500
APPEND_GRACE = 5  # seconds a server gets to file its own copy of sent mail


class WriteBack:
    def __init__(self, ctx: EngineContext, account_id: int) -> None:
        self.ctx = ctx
        self.account_id = account_id
        self.seen_txn: int | None = None  # the newest delta-log row already looked at
        self.delimiter: str | None = None  # the server's hierarchy separator

    def _latest_txn(self, session: Session) -> int:
        latest = session.scalar(
            select(func.max(Transaction.id)).where(Transaction.account_id == self.account_id)
        )
        return int(latest or 0)

    def pending(self) -> bool:
        with self.ctx.db.session() as session:
            return self.seen_txn is None or self._latest_txn(session) > self.seen_txn

    def folders(self, client: IMAPClient) -> None:
        """Folders created, renamed or deleted through the API: CREATE, RENAME, DELETE.

        Runs before each full pass, so the pass finds the server already matching the API
        (a pass first would take the old name for a change made on the server)."""
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            if account is None or account.organization_unit == "label":
                return
            categories = list(
                session.scalars(
                    select(Category).where(
                        Category.account_id == self.account_id, Category.type == "folder"
                    )
                )
            )
            if self.delimiter is None:
                self.delimiter = next((_text(d) for _, d, _ in client.list_folders() if d), "/")
            delimiter = self.delimiter
            creates = [c for c in categories if not (c.remote_name or c.deleted_at or c.name)]
            deletes = [c for c in categories if c.remote_name and c.deleted_at is not None]
            renames = [
                c
                for c in categories
                if c.remote_name
                and c.deleted_at is None
                and c.name != "inbox"
                and c.display_name != RemoteFolder(c.remote_name, delimiter, c.name).display_name
            ]
            if not (creates or deletes or renames):
                return
            existing = {_text(name) for _, _, name in client.list_folders()}
            for category in deletes:
                assert category.remote_name is not None
                if category.remote_name in existing:
                    client.delete_folder(category.remote_name)
                category.remote_name = None
            for category in renames:
                assert category.remote_name is not None
                wanted = category.display_name.replace("/", delimiter)
                client.rename_folder(category.remote_name, wanted)
                category.remote_name = wanted
            for category in creates:
                wanted = category.display_name.replace("/", delimiter)
                if wanted not in existing:
                    client.create_folder(wanted)
                    client.subscribe_folder(wanted)
                category.remote_name = wanted

    def run(self, client: IMAPClient) -> set[str]:
        """Push every pending local change; returns the folders messages were moved to
        (the caller syncs them at once, which links the moved copies to their messages)."""
        with self.ctx.db.session() as session:
            latest = self._latest_txn(session)
            rows = self._rows(session, self.seen_txn)
            folders = {
                c.id: c
                for c in session.scalars(
                    select(Category).where(
                        Category.account_id == self.account_id, Category.remote_name.is_not(None)
                    )
                )
            }
            flag_ops: dict[tuple[int, str, bool], list[int]] = defaultdict(list)
            moves: dict[tuple[int, str], list[int]] = defaultdict(list)
            new_flags: dict[int, list[str]] = {}
            moved: list[int] = []
            by_message: dict[int, list[tuple[ImapUid, Message]]] = defaultdict(list)
            for uid_row, message in rows:
                by_message[message.id].append((uid_row, message))
            for pairs in by_message.values():
                message = pairs[0][1]
                if message.deleted_at is not None:
                    continue
                wanted = {c.id for c in message.categories if c.id in folders}
                on_server = {row.category_id for row, _ in pairs}
                targets = [folders[c] for c in wanted - on_server]
                for row, _ in pairs:
                    have: set[str] = set(row.flags or [])
                    for flag, want in ((SEEN, not message.unread), (FLAGGED, message.starred)):
                        if (flag in have) != want:
                            flag_ops[(row.category_id, flag, want)].append(row.uid)
                            have = have | {flag} if want else have - {flag}
                    if sorted(have) != sorted(row.flags or []):
                        new_flags[row.id] = sorted(have)
                    if wanted and row.category_id not in wanted and targets:
                        target_name = targets[0].remote_name
                        assert target_name is not None
                        moves[(row.category_id, target_name)].append(row.uid)
                        moved.append(row.id)
            sources = {c_id: folders[c_id].remote_name for c_id in folders}

        can_move = b"MOVE" in set(client.capabilities())
        touched = {key[0] for key in flag_ops} | {key[0] for key in moves}
        for category_id in touched:
            name = sources.get(category_id)
            if name is None:
                continue
            client.select_folder(name)  # read-write: STORE and MOVE need it
            for (folder_id, flag, want), uids in flag_ops.items():
                if folder_id != category_id:
                    continue
                for chunk in _chunks(uids):
                    if want:
                        client.add_flags(chunk, [flag])
                    else:
                        client.remove_flags(chunk, [flag])
            for (folder_id, target_folder), uids in moves.items():  # after flags: MOVE keeps them
                if folder_id != category_id:
                    continue
                for chunk in _chunks(uids):
                    if can_move:
                        client.move(chunk, target_folder)
                    else:
                        client.copy(chunk, target_folder)
                        client.delete_messages(chunk)
                        client.uid_expunge(chunk)
        with self.ctx.db.session() as session:
            for row_id, flags in new_flags.items():
                if (stored := session.get(ImapUid, row_id)) is not None:
                    stored.flags = flags
            for row_id in moved:
                # The copy in the target folder is linked to the same message when the
                # caller syncs that folder (same Message-ID and bytes).
                if (stored := session.get(ImapUid, row_id)) is not None:
                    session.delete(stored)
        self.seen_txn = latest
        return {target for _, target in moves} | self._append_sent(client)

    def _append_sent(self, client: IMAPClient) -> set[str]:
        """APPEND sent mail that is on no IMAP folder yet to the account's Sent folder."""
        with self.ctx.db.session() as session:
            account = session.get(Account, self.account_id)
            if account is None:
                return set()
            rows = session.execute(
                select(Message.raw_sha256, Message.date, Category.remote_name)
                .join(message_categories, message_categories.c.message_id == Message.id)
                .join(Category, Category.id == message_categories.c.category_id)
                .where(
                    Message.account_id == self.account_id,
                    Message.is_sent.is_(True),
                    Message.is_draft.is_(False),
                    Message.deleted_at.is_(None),
                    Message.raw_sha256.is_not(None),
                    Message.created_at >= account.created_at,
                    Message.created_at <= now() - APPEND_GRACE,
                    Category.name == "sent",
                    Category.remote_name.is_not(None),
                    ~exists().where(ImapUid.message_id == Message.id),
                )
            ).all()
        folders: set[str] = set()
        for sha, date, folder in rows:
            if sha is None or folder is None or not self.ctx.blobs.exists(sha):
                continue
            when = datetime.fromtimestamp(date, timezone.utc) if date else None
            client.append(folder, self.ctx.blobs.read(sha), flags=[SEEN], msg_time=when)
            folders.add(folder)
        return folders

    def _rows(self, session: Session, after: int | None) -> Iterable[tuple[ImapUid, Message]]:
        stmt = (
            select(ImapUid, Message)
            .join(Message, Message.id == ImapUid.message_id)
            .where(ImapUid.account_id == self.account_id)
        )
        if after is not None:
            changed = (
                select(Transaction.object_public_id)
                .where(
                    Transaction.account_id == self.account_id,
                    Transaction.id > after,
                    Transaction.object_type == "message",
                )
                .distinct()
            )
            stmt = stmt.where(Message.public_id.in_(changed))
        return [(row, message) for row, message in session.execute(stmt)]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _chunks(uids: list[int]) -> Iterable[list[int]]:
    for start in range(0, len(uids), UID_CHUNK):
        yield uids[start : start + UID_CHUNK]
