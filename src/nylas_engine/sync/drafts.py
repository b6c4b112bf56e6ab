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

No transaction is open while the server is talked to: `sync_drafts` plans in one short
session (what to append, which copies go), APPENDs and expunges with none, then records in
another, each new copy with a compare-and-set on the draft's version. A draft updated,
sent or deleted through the API during the APPEND fails that check: the copy just appended
is expunged again (found by its APPENDUID, else by its Message-ID), and the next write-back
appends the draft's current version if it is still a draft.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

from imapclient import IMAPClient
from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.send import build
from nylas_engine.store import draft_copies, drafts, imap_folders, imap_uids
from nylas_engine.store.models import Account, Message
from nylas_engine.sync.imap import expunge_uids

log = logging.getLogger("nylas_engine.sync")

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


@dataclass
class _Append:
    draft_id: int
    version: int
    header_id: str
    raw: bytes
    sha: str
    size: int
    when: datetime | None
    uid: int | None = None  # its UID on the server (APPENDUID), when the server says


@dataclass
class _Plan:
    remote: str
    appends: list[_Append] = field(default_factory=list)
    stale: dict[int, int] = field(default_factory=dict)  # ImapUid row id -> UID: copies to go


def sync_drafts(ctx: EngineContext, account_id: int, client: IMAPClient) -> str | None:
    """Bring the server's Drafts folder in line with the API's drafts. Returns the folder's
    name if anything was appended (the caller syncs it to link the new UIDs)."""
    with ctx.db.session() as session:
        plan = _plan(ctx, session, account_id)
    if plan is None or not (plan.appends or plan.stale):
        return None
    client.select_folder(plan.remote)
    for item in plan.appends:
        reply = client.append(
            plan.remote, item.raw, flags=[b"\\Draft", b"\\Seen"], msg_time=item.when
        )
        item.uid = _append_uid(reply)
    if plan.stale:
        expunge_uids(client, list(plan.stale.values()))
    with ctx.db.session() as session:
        imap_uids.remove(session, plan.stale)
        lost = [
            item
            for item in plan.appends
            if not draft_copies.record_copy(
                session, item.draft_id, item.version, item.sha, item.size, item.header_id
            )
        ]
    for item in lost:
        log.info("draft %s changed while its copy was saved: the copy goes again", item.draft_id)
        _expunge_copy(client, item)
    return plan.remote if len(lost) < len(plan.appends) else None


def _plan(ctx: EngineContext, session: Session, account_id: int) -> _Plan | None:
    """What the Drafts folder needs: each draft whose server copy is missing or of an older
    version, rendered; and the copies of older versions and of drafts deleted or sent."""
    account = session.get(Account, account_id)
    folder = imap_folders.drafts_folder(session, account_id)
    if account is None or folder is None or folder.remote_name is None:
        return None
    plan = _Plan(folder.remote_name)
    rows = imap_uids.in_folder(session, folder.id)
    by_message: dict[int, list[int]] = {}
    for row in rows:
        by_message.setdefault(row.message_id, []).append(row.id)
    uid_of = {row.id: row.uid for row in rows}
    for draft in draft_copies.live_drafts(session, account_id):
        held = by_message.pop(draft.id, [])
        if held and _appended_version(ctx, draft) == draft.version:
            continue
        header_id = draft.message_id_header or _message_id(account, draft)
        raw = _render(ctx, account, draft, header_id)
        sha, size = ctx.blobs.put_bytes(raw)
        when = datetime.fromtimestamp(draft.date, timezone.utc) if draft.date else None
        plan.appends.append(_Append(draft.id, draft.version, header_id, raw, sha, size, when))
        plan.stale.update((row_id, uid_of[row_id]) for row_id in held)
    # What is left in Drafts belongs to drafts deleted or sent through the API.
    for message_id, held in by_message.items():
        if draft_copies.is_gone(session, message_id):
            plan.stale.update((row_id, uid_of[row_id]) for row_id in held)
    return plan


_APPENDUID = re.compile(rb"\[APPENDUID \d+ (\d+)\]", re.IGNORECASE)


def _append_uid(reply: object) -> int | None:
    """The UID an APPEND reply names (UIDPLUS, RFC 4315), None without one."""
    found = _APPENDUID.search(reply) if isinstance(reply, bytes) else None
    return int(found.group(1)) if found else None


def _expunge_copy(client: IMAPClient, item: _Append) -> None:
    """Remove a copy appended for a draft that changed meanwhile: by its UID, else every
    copy with its Message-ID (none of them holds the draft's current version)."""
    uids = (
        [item.uid]
        if item.uid is not None
        else client.search(["HEADER", "Message-ID", item.header_id])
    )
    if uids:
        expunge_uids(client, list(uids))
