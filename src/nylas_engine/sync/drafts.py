"""Drafts made through the API, kept in the server's Drafts folder (APPEND, replaced on update).

Each saved version of a draft is rendered to RFC 822 (by `send.build`, as sending would),
marked with an `X-Nylas-Draft-Version` header, and appended with `\\Draft`; the copy of the
previous version is expunged. The draft row keeps the bytes it last appended in
`raw_sha256` (unused for drafts otherwise) and gets a fixed Message-ID, so the next sync of
the Drafts folder links the new UID to the draft, and a sent draft keeps that Message-ID.
A draft that is deleted, or sent, leaves the Drafts folder the same way.

A draft another mail client saved in the Drafts folder is synced as a draft too (the
folder sync stores what it finds there with `is_draft`), and is then handled exactly like
one the engine appended: its server copy counts as version 0 of the draft (it has no version
header), so an update through the API appends the new version and expunges that copy, and a
delete or send expunges it. When another client removes the last server copy of a draft
(sends or discards it there), the draft is deleted in the API too: the server wins.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timezone

from imapclient import IMAPClient
from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.search.index import remove_message
from nylas_engine.send import build
from nylas_engine.store import drafts
from nylas_engine.store.models import Account, Category, ImapUid, Message
from nylas_engine.sync.imap import expunge_uids

VERSION_HEADER = b"X-Nylas-Draft-Version"
_VERSION = re.compile(rb"^X-Nylas-Draft-Version:\s*(\d+)\s*$", re.MULTILINE | re.IGNORECASE)


def _appended_version(ctx: EngineContext, draft: Message) -> int | None:
    """The version of the draft its server copy holds: the version header of the bytes last
    appended, 0 for a draft synced from the server without one (another client's: its
    version when synced), None if nothing was ever appended or synced."""
    if not draft.raw_sha256 or not ctx.blobs.exists(draft.raw_sha256):
        return None
    first = next(iter(ctx.blobs.iter_chunks(draft.raw_sha256)), b"")  # the header is first
    head = first.replace(b"\r\n", b"\n").split(b"\n\n", 1)[0]
    found = _VERSION.search(head)
    return int(found.group(1)) if found else 0


def _render(ctx: EngineContext, account: Account, draft: Message, message_id: str) -> bytes:
    outgoing = build.Outgoing(
        from_=draft.from_ or drafts.default_sender(account),
        to=draft.to or [],
        cc=draft.cc or [],
        reply_to=draft.reply_to or [],
        subject=draft.subject or "",
        body=draft.body or "",
        message_id=message_id,
        date=draft.date,
        in_reply_to=draft.in_reply_to,
        references=list(draft.references or []),
        files=[
            build.FilePart(a.file.sha256, a.file.filename, a.file.content_type, a.content_id)
            for a in draft.attachments
            if a.file.deleted_at is None
        ],
    )
    sha, _size = build.write(outgoing, ctx.blobs)
    return VERSION_HEADER + f": {draft.version}\r\n".encode() + ctx.blobs.read(sha)


def _message_id(account: Account, draft: Message) -> str:
    domain = (account.email_address or "").rpartition("@")[2] or None
    return build.new_message_id(domain, draft.public_id)


def sync_drafts(ctx: EngineContext, account_id: int, client: IMAPClient) -> str | None:
    """Bring the server's Drafts folder in line with the API's drafts. Returns the folder's
    name if anything was appended (the caller syncs it to link the new UIDs)."""
    with ctx.db.session() as session:
        account = session.get(Account, account_id)
        folder = _drafts_folder(session, account_id)
        if account is None or folder is None or folder.remote_name is None:
            return None
        remote = folder.remote_name
        on_server = {
            row.id: (row.uid, row.message_id)
            for row in session.scalars(select(ImapUid).where(ImapUid.category_id == folder.id))
        }
        by_message: dict[int, list[int]] = {}
        for row_id, (_, message_id) in on_server.items():
            by_message.setdefault(message_id, []).append(row_id)
        stale: list[int] = []  # ImapUid rows whose server copies go
        appends: list[tuple[bytes, datetime | None]] = []
        live = session.scalars(
            select(Message).where(
                Message.account_id == account_id,
                Message.is_draft.is_(True),
                Message.deleted_at.is_(None),
            )
        )
        for draft in live:
            rows = by_message.pop(draft.id, [])
            if rows and _appended_version(ctx, draft) == draft.version:
                continue
            header_id = draft.message_id_header or _message_id(account, draft)
            raw = _render(ctx, account, draft, header_id)
            sha, size = ctx.blobs.put_bytes(raw)
            # A plain UPDATE: where the draft's server copy lives is not an API change.
            session.execute(
                update(Message)
                .where(Message.id == draft.id)
                .values(raw_sha256=sha, size=size, message_id_header=header_id)
            )
            when = datetime.fromtimestamp(draft.date, timezone.utc) if draft.date else None
            appends.append((raw, when))
            stale += rows
        # What is left in Drafts belongs to drafts deleted or sent through the API.
        for message_id, rows in by_message.items():
            message = session.get(Message, message_id)
            if message is not None and (message.deleted_at is not None or message.is_sent):
                stale += rows
        stale_uids = [on_server[row_id][0] for row_id in stale]
        if not appends and not stale_uids:
            return None
        client.select_folder(remote)
        for raw, when in appends:
            client.append(remote, raw, flags=[b"\\Draft", b"\\Seen"], msg_time=when)
        if stale_uids:
            expunge_uids(client, stale_uids)
            for row_id in stale:
                if (row := session.get(ImapUid, row_id)) is not None:
                    session.delete(row)
        return remote if appends else None


def drop_drafts_gone_from_server(session: Session, message_ids: Iterable[int]) -> int:
    """Delete the drafts among `message_ids` that no folder on the server holds any more.

    Called when the folder sync sees UIDs expunged by another client: the draft was sent or
    discarded there, and must not be appended again. (The engine's own expunges of old
    versions drop their rows itself, so they never come here.) Returns how many went."""
    ids = list(message_ids)
    if not ids:
        return 0
    gone = list(
        session.scalars(
            select(Message).where(
                Message.id.in_(ids),
                Message.is_draft.is_(True),
                Message.deleted_at.is_(None),
                ~exists().where(ImapUid.message_id == Message.id),
            )
        )
    )
    for draft in gone:
        drafts.delete_draft(draft)
        remove_message(session, draft.id)
    session.flush()
    return len(gone)


def _drafts_folder(session: Session, account_id: int) -> Category | None:
    folder: Category | None = session.scalar(
        select(Category).where(
            Category.account_id == account_id,
            Category.name == "drafts",
            Category.deleted_at.is_(None),
            Category.remote_name.is_not(None),
        )
    )
    return folder
