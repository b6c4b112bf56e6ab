"""Adding mail to an account: the one path every message takes into the store.

Import, the demo, sending (the sent copy) and IMAP sync all call `ingest_message`, so raw
bytes, files, threading, thread aggregates and the search index are handled the same way
whatever the source.

Threading, in order:
1. a message whose References or In-Reply-To names a message we hold joins that thread;
2. otherwise a thread with the same subject (ignoring Re:/Fwd: prefixes) whose messages are
   within ~30 days and share participants with this one (the old sync engine's rule);
3. otherwise a new thread.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from nylas_engine.mime.parse import ParsedMessage, parse_message
from nylas_engine.search.index import index_message
from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.models import Account, Attachment, Category, File, Message, Thread

SUBJECT_WINDOW = 30 * 24 * 3600
_REPLY_PREFIX = re.compile(r"^(?:re|fwd?|aw|sv|wg)(?:\s*\[\d+\])?\s*:\s*", re.IGNORECASE)
_REF_CHUNK = 400  # keeps each IN (...) under every database's parameter limit


def normalize_subject(subject: str | None) -> str:
    """The subject without reply/forward prefixes, whitespace collapsed, lowercased."""
    value = " ".join((subject or "").split())
    while (stripped := _REPLY_PREFIX.sub("", value, count=1)) != value:
        value = stripped
    return value.lower()


def subject_key(subject: str | None) -> str | None:
    """What `Thread.subject_key` holds: the normalized subject, cut to the column's width."""
    return normalize_subject(subject)[:255] or None


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
    """Store one RFC 822 message in `account`: raw bytes and files in the blob store, a
    thread chosen or made, aggregates and search index brought up to date.

    A message from the account's own address counts as sent (`is_sent`); when `categories`
    is None it goes to Sent and is read, anything else to the Inbox.
    """
    parsed = parsed or parse_message(raw)
    sha256, size = blobs.put_bytes(raw)
    own = (account.email_address or "").lower()
    from_self = bool(own) and any(p["email"] == own for p in parsed.from_)
    is_sent = is_sent or (from_self and not is_draft)
    if categories is None:
        if is_draft:
            categories = _default_categories(session, account, "drafts")
        elif is_sent:
            categories = _default_categories(session, account, "sent")
            unread = False
        else:
            categories = _default_categories(session, account, "inbox")

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
        unread=unread and not is_draft,
        starred=starred,
        is_draft=is_draft,
        is_sent=is_sent,
        message_id_header=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=parsed.references,
        raw_sha256=sha256,
        size=size,
        categories=list(categories),
    )
    for part in parsed.attachments:
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

    thread = find_thread(session, account, parsed)
    is_new_thread = thread is None
    if thread is None:
        thread = Thread(
            account_id=account.id, subject=parsed.subject, subject_key=subject_key(parsed.subject)
        )
        session.add(thread)
    else:
        thread.version = (thread.version or 0) + 1
    session.add(message)
    message.thread = thread
    # Before the flush, so the delta log sees one write per thread.
    if is_new_thread or not _add_to_aggregates(thread, message):
        refresh_thread(thread)
    session.flush()
    index_message(session, message)
    return message


def find_thread(session: Session, account: Account, parsed: ParsedMessage) -> Thread | None:
    """The thread `parsed` belongs to by its references, else by subject and people."""
    refs = [r for r in [*parsed.references, parsed.in_reply_to] if r]
    if parsed.message_id:
        refs.append(parsed.message_id)  # a copy of a message we already hold
    for chunk in _chunks(list(dict.fromkeys(refs)), _REF_CHUNK):
        thread_id = session.scalar(
            select(Message.thread_id)
            .where(
                Message.account_id == account.id,
                Message.message_id_header.in_(chunk),
                Message.thread_id.is_not(None),
            )
            .order_by(Message.date.desc())
            .limit(1)
        )
        if thread_id is not None:
            # Its messages are loaded only if someone reads them (ingest doesn't need to).
            thread = session.get(Thread, thread_id, options=[lazyload(Thread.messages)])
            if thread is not None and thread.deleted_at is None:
                return thread
    return _thread_by_subject(session, account, parsed)


def _thread_by_subject(session: Session, account: Account, parsed: ParsedMessage) -> Thread | None:
    wanted = normalize_subject(parsed.subject)
    people = _people(parsed.from_, parsed.to, parsed.cc)
    if not wanted or not people:
        return None
    candidates = session.scalars(
        select(Thread)
        .where(
            Thread.account_id == account.id,
            Thread.subject_key == wanted[:255],  # an index lookup, not a scan of every thread
            Thread.deleted_at.is_(None),
            Thread.last_message_ts >= parsed.date - SUBJECT_WINDOW,
            Thread.first_message_ts <= parsed.date + SUBJECT_WINDOW,
        )
        .order_by(Thread.last_message_ts.desc())
        .limit(20)
        .options(lazyload(Thread.messages))
    )
    threads = [t for t in candidates if normalize_subject(t.subject) == wanted]
    if not threads:
        return None
    # The people on each candidate's messages (all of them, as thread.messages holds them),
    # read as bare columns: loading whole messages with their bodies costs far more.
    rows = session.execute(
        select(Message.thread_id, Message.from_, Message.to, Message.cc).where(
            Message.thread_id.in_([t.id for t in threads])
        )
    )
    people_by_thread: dict[int, list[set[str]]] = {}
    for thread_id, from_, to, cc in rows:
        people_by_thread.setdefault(thread_id, []).append(_people(from_ or [], to or [], cc or []))
    for thread in threads:
        for theirs in people_by_thread.get(thread.id, []):
            shared = people & theirs
            if len(shared) >= 2 or (len(people) == 1 and people == theirs):
                return thread
    return None


def _people(*lists: Iterable[dict[str, str]]) -> set[str]:
    return {(p.get("email") or "").lower() for group in lists for p in group if p.get("email")}


def _chunks(items: list[str], size: int) -> Iterable[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _add_to_aggregates(thread: Thread, message: Message) -> bool:
    """Bring a thread's aggregates up to date with one new live message without reading
    its other messages: what `refresh_thread` computes, given the aggregates were current.
    False when that shortcut doesn't apply (a draft, or a thread with no mail but drafts,
    whose aggregates come from its drafts); then `refresh_thread` must run."""
    if message.is_draft or (thread.last_received_ts is None and thread.last_sent_ts is None):
        return False
    # refresh_thread orders by (date, id) and the new message has no id yet: it sorts first
    # among messages of the same date.
    if thread.first_message_ts is None or message.date <= thread.first_message_ts:
        thread.subject = message.subject
        thread.first_message_ts = message.date
        key = subject_key(thread.subject)
        if thread.subject_key != key:
            thread.subject_key = key
    thread.last_message_ts = max(thread.last_message_ts or message.date, message.date)
    if message.is_sent:
        thread.last_sent_ts = max(thread.last_sent_ts or message.date, message.date)
    else:
        thread.last_received_ts = max(thread.last_received_ts or message.date, message.date)
    return True


def refresh_thread(thread: Thread) -> None:
    """Recompute a thread's subject and timestamps from its live messages."""
    live = sorted(
        (m for m in thread.messages if m.deleted_at is None), key=lambda m: (m.date, m.id or 0)
    )
    mail = [m for m in live if not m.is_draft] or live
    if not mail:
        return
    thread.subject = mail[0].subject
    key = subject_key(thread.subject)
    if thread.subject_key != key:
        thread.subject_key = key
    thread.first_message_ts = mail[0].date
    thread.last_message_ts = mail[-1].date
    received = [m.date for m in mail if not m.is_sent and not m.is_draft]
    sent = [m.date for m in mail if m.is_sent and not m.is_draft]
    thread.last_received_ts = max(received) if received else None
    thread.last_sent_ts = max(sent) if sent else None
