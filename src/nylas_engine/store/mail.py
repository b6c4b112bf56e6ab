"""Adding mail to an account: the one path every message takes into the store.

Import, the demo, sending (the sent copy) and IMAP sync all call `ingest_messages` (or
`ingest_message` for one), so raw bytes, files, threading (see `store.threading`), thread
aggregates and the search index are handled the same way whatever the source.

A batch is placed into threads from a few reads made up front and written with one flush
and one search-index statement: an IMAP sync stores each FETCH batch this way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nylas_engine.mime.parse import ParsedMessage, parse_message
from nylas_engine.search.index import index_messages
from nylas_engine.store.blobs import BlobBatch, BlobStore
from nylas_engine.store.models import Account, Attachment, Category, File, Message
from nylas_engine.store.threading import Threader, refresh_thread

__all__ = [
    "NewMessage",
    "category_by_role",
    "category_kind",
    "get_or_create_category",
    "ingest_message",
    "ingest_messages",
    "refresh_thread",
]


# ------------------------------------------------------------------------------ categories


def category_kind(account: Account) -> str:
    return "label" if account.organization_unit == "label" else "folder"


def category_by_role(session: Session, account: Account, role: str) -> Category | None:
    """The account's live folder (or label) with this role (inbox, sent, ...), if any."""
    category: Category | None = session.scalar(
        select(Category)
        .where(
            Category.account_id == account.id,
            Category.type == category_kind(account),
            Category.name == role,
            Category.deleted_at.is_(None),
        )
        .order_by(Category.id)
        .limit(1)
    )
    return category


def get_or_create_category(
    session: Session, account: Account, display_name: str, role: str | None = None
) -> Category:
    """A live folder (or label) found by role, else by display name, else created."""
    found = category_by_role(session, account, role) if role else None
    if found is None:
        found = session.scalar(
            select(Category)
            .where(
                Category.account_id == account.id,
                Category.type == category_kind(account),
                Category.display_name == display_name,
                Category.deleted_at.is_(None),
            )
            .order_by(Category.id)
            .limit(1)
        )
    if found is not None:
        return found
    category = Category(
        account_id=account.id, type=category_kind(account), name=role, display_name=display_name
    )
    session.add(category)
    session.flush()
    return category


def _default_categories(session: Session, account: Account, role: str) -> list[Category]:
    """Where a message goes when the caller doesn't say: one folder, or the role's label
    plus All Mail (as Gmail shows them)."""
    roles = [role] if category_kind(account) == "folder" else [role, "all"]
    found = [category_by_role(session, account, r) for r in roles]
    return [c for c in found if c is not None]


# ------------------------------------------------------------------------------ ingest


@dataclass
class NewMessage:
    """One message for `ingest_messages`: its bytes and how it should be filed.

    A message from the account's own address counts as sent (`is_sent`); when `categories`
    is None it goes to Sent and is read, anything else to the Inbox (a draft to Drafts)."""

    raw: bytes
    parsed: ParsedMessage | None = None
    categories: list[Category] | None = None
    unread: bool = True
    starred: bool = False
    is_sent: bool = False
    is_draft: bool = False


def ingest_message(
    session: Session,
    blobs: BlobStore,
    account: Account,
    raw: bytes,
    *,
    categories: list[Category] | None = None,
    unread: bool = True,
    starred: bool = False,
    is_sent: bool = False,
    is_draft: bool = False,
    parsed: ParsedMessage | None = None,
) -> Message:
    """Store one RFC 822 message in `account` (see `NewMessage` for the arguments)."""
    item = NewMessage(raw, parsed, categories, unread, starred, is_sent, is_draft)
    return ingest_messages(session, blobs, account, [item])[0]


def ingest_messages(
    session: Session, blobs: BlobStore, account: Account, batch: Sequence[NewMessage]
) -> list[Message]:
    """Store messages in `account`: raw bytes and files in the blob store, each message in
    a thread found or made, aggregates and search index brought up to date. Returns the
    messages, flushed (they have ids), in the order given."""
    parsed = [item.parsed or parse_message(item.raw) for item in batch]
    defaults: dict[str, list[Category]] = {}
    messages: list[Message] = []
    # The files are written while the rows are built and flushed; all are on disk when the
    # block ends, before the caller can commit.
    with blobs.batch() as files, session.no_autoflush:
        threader = Threader(session, account, parsed)
        for item, message_parsed in zip(batch, parsed, strict=True):
            messages.append(_new_message(session, files, account, item, message_parsed, defaults))
        # Oldest first, so a reply in the same batch finds its parent's thread.
        for index in sorted(range(len(batch)), key=lambda i: parsed[i].date):
            session.add(messages[index])
            threader.place(messages[index], parsed[index])
        session.flush()
        index_messages(session, list(zip(messages, parsed, strict=True)))
    return messages


def _new_message(
    session: Session,
    blobs: BlobBatch,
    account: Account,
    item: NewMessage,
    parsed: ParsedMessage,
    defaults: dict[str, list[Category]],
) -> Message:
    if parsed.raw_sha256 is not None:  # prepared: already in the blob store
        sha256, size = parsed.raw_sha256, parsed.raw_size
    else:
        sha256, size = blobs.put_bytes(item.raw)
    own = (account.email_address or "").lower()
    from_self = bool(own) and any(p["email"] == own for p in parsed.from_)
    is_sent = item.is_sent or (from_self and not item.is_draft)
    unread = item.unread
    categories = item.categories
    if categories is None:
        role = "drafts" if item.is_draft else "sent" if is_sent else "inbox"
        if role not in defaults:
            defaults[role] = _default_categories(session, account, role)
        categories = defaults[role]
        unread = unread and role != "sent"
    message = Message(
        account_id=account.id,
        subject=parsed.subject,
        from_=parsed.from_,
        to=parsed.to,
        cc=parsed.cc,
        bcc=parsed.bcc,
        reply_to=parsed.reply_to,
        date=parsed.date,
        snippet=parsed.snippet,
        body=parsed.body,
        unread=unread and not item.is_draft,
        starred=item.starred,
        is_draft=item.is_draft,
        is_sent=is_sent,
        message_id_header=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        raw_sha256=sha256,
        size=size,
        categories=list(categories),
    )
    for part in parsed.attachments:
        if part.sha256 is not None:
            file_sha, file_size = part.sha256, part.size
        else:
            file_sha, file_size = blobs.put_bytes(part.data)
        file = File(
            account_id=account.id,
            filename=part.filename,
            content_type=part.content_type,
            size=file_size,
            sha256=file_sha,
        )
        message.attachments.append(
            Attachment(file=file, content_id=part.content_id, disposition=part.disposition)
        )
    return message
