"""Adding mail to an account: the one path every message takes into the store.

Import, the demo, sending (the sent copy) and IMAP sync all call `ingest_messages` (or
`ingest_message` for one), so raw bytes, files, threading (see `store.threading`), thread
aggregates and the search index are handled the same way whatever the source.

A batch is placed into threads from a few reads made up front and written with one flush
and one search-index statement: an IMAP sync stores each FETCH batch this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session

from nylas_engine.delta.log import record
from nylas_engine.ids import new_public_id
from nylas_engine.mime.parse import ParsedMessage, parse_message
from nylas_engine.search.index import index_messages
from nylas_engine.store import thread_summary
from nylas_engine.store.blobs import BlobBatch, BlobStore
from nylas_engine.store.bulk import insert_rows
from nylas_engine.store.categories import kind_of as category_kind
from nylas_engine.store.models import (
    Account,
    Attachment,
    Category,
    File,
    Message,
    Thread,
    message_categories,
    now,
)
from nylas_engine.store.threading import AnyThread, NewThread, Threader, refresh_thread

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
    public_id: str | None = None  # given when the caller must name it before it is stored
    gm_thrid: int | None = None  # Gmail's thread id (X-GM-THRID): it alone decides the thread


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
    public_id: str | None = None,
) -> Message:
    """Store one RFC 822 message in `account` (see `NewMessage` for the arguments)."""
    item = NewMessage(raw, parsed, categories, unread, starred, is_sent, is_draft, public_id)
    message = session.get(Message, ingest_messages(session, blobs, account, [item])[0])
    assert message is not None
    return message


@dataclass
class _Row:
    """A message on its way in: its column values, and what threading reads of it."""

    values: dict[str, Any]
    categories: list[Category]
    parsed: ParsedMessage
    files: list[dict[str, Any]] = field(default_factory=list)
    thread: AnyThread | None = None
    id: int | None = None
    deleted_at: int | None = None
    gm_thrid: int | None = None

    @property
    def subject(self) -> str:
        return str(self.values["subject"])

    @property
    def date(self) -> int:
        return int(self.values["date"])

    @property
    def is_sent(self) -> bool:
        return bool(self.values["is_sent"])

    @property
    def is_draft(self) -> bool:
        return bool(self.values["is_draft"])


def ingest_messages(
    session: Session, blobs: BlobStore, account: Account, batch: Sequence[NewMessage]
) -> list[int]:
    """Store messages in `account`: raw bytes and files in the blob store, each message in
    a thread found or made, aggregates, search index and delta log brought up to date.
    Returns the new messages' ids, in the order given.

    Threads go through the session (a flush); the messages, their folders and files are
    written with one multi-row INSERT each, which costs a fraction of the unit of work.
    Invitations a received message carries become events (`store.calendar.file_invites`)."""
    parsed = [item.parsed or parse_message(item.raw) for item in batch]
    defaults: dict[str, list[Category]] = {}
    # The files are written while the rows are built and stored; all are on disk when the
    # block ends, before the caller can commit.
    with blobs.batch() as files, session.no_autoflush:
        threader = Threader(session, account, parsed, [item.gm_thrid for item in batch])
        rows = [
            _new_row(session, files, account, item, message_parsed, defaults)
            for item, message_parsed in zip(batch, parsed, strict=True)
        ]
        # Oldest first, so a reply in the same batch finds its parent's thread.
        for row in sorted(rows, key=lambda r: r.date):
            threader.place(row, row.parsed, row.gm_thrid)
        session.flush()  # the threads this batch changed (logged by the flush hooks)
        _insert_threads(session, account, threader.created)
        _insert(session, account, rows, threader.created, threader.before)
        for row in rows:
            # Not from its own copies of what it sent: those events are the account's already.
            if row.parsed.calendar_parts and row.id and not (row.is_sent or row.is_draft):
                _file_invites(session, account, row.id, row.parsed.calendar_parts)
        for thread in threader.changed.values():
            session.expire(thread, ["messages"])  # it has new messages the session hasn't seen
    return [row.id for row in rows if row.id is not None]


def _file_invites(session: Session, account: Account, message_id: int, parts: list[str]) -> None:
    """Invitations become events. Imported here: the iCalendar parser is a large import
    that a sync or an import of mail without invitations never needs."""
    from nylas_engine.calendar.invites import read_invites
    from nylas_engine.store.calendar import file_invites

    file_invites(session, account, message_id, read_invites(parts))


def _insert_rows(
    session: Session, model: type[Any], rows: list[dict[str, Any]], *, ids: bool = True
) -> list[int]:
    """INSERT `rows` (keyed by attribute name) into `model`'s table in one go (see
    `store.bulk`): the ORM's bulk path costs more per row than SQLite does. Returns the new
    rows' ids in the order given when `ids` is set."""
    names = _column_names(model)
    return insert_rows(session.connection(), model.__table__, rows, ids=ids, names=names)


_COLUMN_NAMES: dict[type[Any], dict[str, str]] = {}


def _column_names(model: type[Any]) -> dict[str, str]:
    """{attribute name: column name} (`Message.from_` is the column `from_addr`)."""
    names = _COLUMN_NAMES.get(model)
    if names is None:
        names = {attr.key: attr.columns[0].name for attr in inspect(model).column_attrs}
        _COLUMN_NAMES[model] = names
    return names


def _insert_threads(session: Session, account: Account, threads: list[NewThread]) -> None:
    if not threads:
        return
    columns = [
        "public_id",
        "account_id",
        "subject",
        "subject_key",
        "first_message_ts",
        "last_message_ts",
        "last_received_ts",
        "last_sent_ts",
        "version",
        "created_at",
        "gm_thrid",
    ]
    ids = _insert_rows(
        session, Thread, [{name: getattr(thread, name) for name in columns} for thread in threads]
    )
    for thread, thread_id in zip(threads, ids, strict=True):
        thread.id = thread_id
    record(session, account.id, [("thread", thread.public_id) for thread in threads])


def _insert(
    session: Session,
    account: Account,
    rows: list[_Row],
    new_threads: list[NewThread],
    before: Mapping[int, tuple[int | None, int | None]],
) -> None:
    if not rows:
        return
    for row in rows:
        assert row.thread is not None and row.thread.id is not None
        row.values["thread_id"] = row.thread.id
    ids = _insert_rows(session, Message, [r.values for r in rows])
    for row, message_id in zip(rows, ids, strict=True):
        row.id = message_id
    links = [
        {"message_id": row.id, "category_id": category.id}
        for row in rows
        for category in dict.fromkeys(row.categories)
    ]
    insert_rows(session.connection(), message_categories, links)
    files = [(row, file) for row in rows for file in row.files]
    if files:
        file_ids = _insert_rows(session, File, [file["values"] for _, file in files])
        _insert_rows(
            session,
            Attachment,
            [
                {"message_id": row.id, "file_id": file_id, **file["link"]}
                for (row, file), file_id in zip(files, file_ids, strict=True)
            ],
            ids=False,
        )
    record(
        session,
        account.id,
        [("draft" if r.is_draft else "message", r.values["public_id"]) for r in rows]
        + [("file", file["values"]["public_id"]) for _, file in files],
    )
    index_messages(session, [(row.id, row.parsed) for row in rows if row.id is not None])
    # Core INSERTs: no flush hook saw these messages. The threads made for this batch hold
    # only its rows, so their summaries are made from them instead of read back; so are
    # those of stored threads that the batch's messages all follow (or precede).
    thread_summary.refresh(
        session.connection(),
        {row.values["thread_id"] for row in rows},
        {
            **_new_summaries(account, rows, new_threads),
            **_grown_summaries(session, rows, before),
        },
    )


def _new_summaries(
    account: Account, rows: list[_Row], threads: list[NewThread]
) -> dict[int, dict[str, Any]]:
    new = {thread.id for thread in threads if thread.id is not None}
    out = {}
    for thread_id, group in _by_thread(rows, new).items():
        lines, categories, attached = _summary_inputs(group)
        out[thread_id] = thread_summary.summarize(
            thread_id, account.id, lines, categories, attached
        )
    return out


def _grown_summaries(
    session: Session, rows: list[_Row], before: Mapping[int, tuple[int | None, int | None]]
) -> dict[int, dict[str, Any]]:
    """Summaries of stored threads whose new rows all come after (or before) every message
    they had, grown from the stored summary (`thread_summary.grown`); the others are left
    for `refresh` to compute from all their messages."""
    groups = _by_thread(rows, set(before))
    stored = thread_summary.stored(session.connection(), sorted(groups))
    out = {}
    for thread_id, group in groups.items():
        first, last = before[thread_id]
        summary = stored.get(thread_id)
        if summary is None or first is None or last is None:
            continue
        # New rows have the highest ids: on the same date as the last message, they follow.
        if group[0].date >= last:
            older = False
        elif group[-1].date < first:
            older = True
        else:
            continue
        lines, categories, attached = _summary_inputs(group)
        grown = thread_summary.grown(summary, lines, categories, attached, older=older)
        if grown is not None:
            out[thread_id] = grown
    return out


def _by_thread(rows: list[_Row], thread_ids: set[int]) -> dict[int, list[_Row]]:
    """The rows in each of these threads, ordered as a summary orders them."""
    groups: dict[int, list[_Row]] = {}
    for row in rows:
        if row.values["thread_id"] in thread_ids:
            groups.setdefault(row.values["thread_id"], []).append(row)
    for group in groups.values():
        group.sort(key=lambda r: (r.date, r.id or 0))
    return groups


def _summary_inputs(
    group: list[_Row],
) -> tuple[list[thread_summary.Line], dict[int, list[int]], set[int]]:
    """What `thread_summary.summarize` takes, for rows of one thread in order."""
    lines = [_line(row) for row in group]
    categories = {
        line.id: sorted({c.id for c in row.categories})
        for line, row in zip(lines, group, strict=True)
    }
    attached = {
        line.id
        for line, row in zip(lines, group, strict=True)
        if any(file["link"]["disposition"] == "attachment" for file in row.files)
    }
    return lines, categories, attached


def _line(row: _Row) -> thread_summary.Line:
    v = row.values
    assert row.id is not None
    return thread_summary.Line(
        row.id,
        v["thread_id"],
        v["public_id"],
        v["is_draft"],
        v["unread"],
        v["starred"],
        v["snippet"],
        v["from_"],
        v["to"],
        v["cc"],
        v["bcc"],
    )


def _new_row(
    session: Session,
    blobs: BlobBatch,
    account: Account,
    item: NewMessage,
    parsed: ParsedMessage,
    defaults: dict[str, list[Category]],
) -> _Row:
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
    stamp = now()
    row = _Row(
        values={
            "public_id": item.public_id or new_public_id(),
            "account_id": account.id,
            "subject": parsed.subject,
            "from_": parsed.from_,
            "to": parsed.to,
            "cc": parsed.cc,
            "bcc": parsed.bcc,
            "reply_to": parsed.reply_to,
            "date": parsed.date,
            "snippet": parsed.snippet,
            "body": parsed.body,
            "unread": unread and not item.is_draft,
            "starred": item.starred,
            "is_draft": item.is_draft,
            "is_sent": is_sent,
            "version": 0,
            "message_id_header": parsed.message_id,
            "in_reply_to": parsed.in_reply_to,
            "references": parsed.references,
            "raw_sha256": sha256,
            "size": size,
            "metadata_": {},
            "created_at": stamp,
            "updated_at": stamp,
        },
        categories=list(categories),
        parsed=parsed,
        gm_thrid=item.gm_thrid,
    )
    for part in parsed.attachments:
        if part.sha256 is not None:
            file_sha, file_size = part.sha256, part.size
        else:
            file_sha, file_size = blobs.put_bytes(part.data)
        row.files.append(
            {
                "values": {
                    "public_id": new_public_id(),
                    "account_id": account.id,
                    "filename": part.filename,
                    "content_type": part.content_type,
                    "size": file_size,
                    "sha256": file_sha,
                    "created_at": stamp,
                },
                "link": {"content_id": part.content_id, "disposition": part.disposition},
            }
        )
    return row
