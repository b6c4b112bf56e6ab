"""Messages read as rows, not ORM objects: what GET /messages/{id} and message list pages
render (api/views/mail.py `message_json` takes either).

Building ORM objects (identity map, attribute instrumentation, one selectin load per
relation) cost more than the reply itself for one message (issue 13). These are the same
queries the mapping would make (the message with its thread's id, then its categories,
attachments with their files, and the events its invitations brought, one query each per
page), read as plain rows into small records with the attribute names of the models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, select
from sqlalchemy.orm import Session, aliased

from nylas_engine.store.models import (
    Account,
    Attachment,
    Category,
    Event,
    File,
    Message,
    Thread,
    message_categories,
)

_CHUNK = 500


@dataclass(slots=True)
class ThreadRef:
    public_id: str


@dataclass(slots=True)
class CategoryRow:
    id: int
    public_id: str
    type: str
    name: str | None
    display_name: str
    deleted_at: int | None = None


@dataclass(slots=True)
class FileRow:
    public_id: str
    content_type: str | None
    size: int
    filename: str | None
    deleted_at: int | None


@dataclass(slots=True)
class AttachmentRow:
    file: FileRow
    content_id: str | None


@dataclass(slots=True)
class MessageRow:
    """A message as `message_json` reads it (the attribute names of `models.Message`)."""

    id: int
    public_id: str
    is_draft: bool
    thread_id: int | None
    thread: ThreadRef | None
    subject: str
    from_: list[Any]
    reply_to: list[Any]
    to: list[Any]
    cc: list[Any]
    bcc: list[Any]
    date: int
    snippet: str
    unread: bool
    starred: bool
    metadata_: dict[str, Any]
    body: str
    version: int
    reply_to_message_id: int | None
    message_id_header: str | None
    in_reply_to: str | None
    references: list[Any]
    raw_sha256: str | None
    reply_target: ThreadedRef | None
    categories: list[CategoryRow] = field(default_factory=list)
    attachments: list[AttachmentRow] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


@dataclass(slots=True)
class ThreadedRef:
    """The message a draft replies to: its id and thread, all the view needs of it."""

    public_id: str
    thread_id: int | None


_target = aliased(Message)
_COLUMNS = (
    Message.id,
    Message.public_id,
    Message.is_draft,
    Message.thread_id,
    Thread.public_id,
    Message.subject,
    Message.from_,
    Message.reply_to,
    Message.to,
    Message.cc,
    Message.bcc,
    Message.date,
    Message.snippet,
    Message.unread,
    Message.starred,
    Message.metadata_,
    Message.body,
    Message.version,
    Message.reply_to_message_id,
    Message.message_id_header,
    Message.in_reply_to,
    Message.references,
    Message.raw_sha256,
    _target.public_id,
    _target.thread_id,
)


# Built once: a statement's shape never changes, only the ids it is given (`:ids`).
_ROWS = (
    select(*_COLUMNS)
    .outerjoin(Thread, Thread.id == Message.thread_id)
    .outerjoin(_target, _target.id == Message.reply_to_message_id)
)
_IDS: BindParameter[int] = bindparam("ids", expanding=True)
_BY_PUBLIC_ID = _ROWS.where(
    Message.account_id == bindparam("account_id"),
    Message.public_id == bindparam("public_id"),
    Message.deleted_at.is_(None),
)
_BY_IDS = _ROWS.where(Message.id.in_(_IDS))
_CATEGORIES = (
    select(
        message_categories.c.message_id,
        Category.id,
        Category.public_id,
        Category.type,
        Category.name,
        Category.display_name,
    )
    .join(Category, Category.id == message_categories.c.category_id)
    .where(message_categories.c.message_id.in_(_IDS), Category.deleted_at.is_(None))
)
_ATTACHMENTS = (
    select(
        Attachment.message_id,
        Attachment.content_id,
        File.public_id,
        File.content_type,
        File.size,
        File.filename,
        File.deleted_at,
    )
    .join(File, File.id == Attachment.file_id)
    .where(Attachment.message_id.in_(_IDS))
)
_EVENTS = (
    select(Event)
    .where(Event.message_id.in_(_IDS), Event.deleted_at.is_(None))
    .order_by(Event.start_ts)
)


def _record(row: Any) -> MessageRow:
    values: list[Any] = list(row)
    thread_public_id, target_public_id, target_thread_id = values[4], values[23], values[24]
    values[4] = ThreadRef(thread_public_id) if thread_public_id is not None else None
    values[23:] = [ThreadedRef(target_public_id, target_thread_id) if target_public_id else None]
    return MessageRow(*values)


def find_message_row(session: Session, account: Account, public_id: str) -> MessageRow | None:
    """Any live message or draft of the account (as `store.messages.find_message`)."""
    row = session.execute(_BY_PUBLIC_ID, {"account_id": account.id, "public_id": public_id}).first()
    if row is None:
        return None
    found = _record(row)
    _load_relations(session, [found])
    return found


def page_rows(session: Session, stmt: Select[Any], limit: int, offset: int) -> list[MessageRow]:
    """One page of `stmt` (a select of `Message`, filtered and ordered) as rows."""
    ids_stmt = stmt.with_only_columns(Message.id, maintain_column_froms=True)
    ids = list(session.scalars(ids_stmt.limit(limit).offset(offset)))
    return message_rows(session, ids)


def message_rows(session: Session, ids: Sequence[int]) -> list[MessageRow]:
    """The messages of these internal ids, in that order, with their relations."""
    found: dict[int, MessageRow] = {}
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        for row in session.execute(_BY_IDS, {"ids": chunk}):
            record = _record(row)
            found[record.id] = record
    records = [found[i] for i in ids if i in found]
    _load_relations(session, records)
    return records


def _load_relations(session: Session, records: list[MessageRow]) -> None:
    by_id = {r.id: r for r in records}
    ids = list(by_id)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        categories = session.execute(_CATEGORIES, {"ids": chunk})
        for message_id, *category in categories:
            by_id[message_id].categories.append(CategoryRow(*category))
        attachments = session.execute(_ATTACHMENTS, {"ids": chunk})
        for message_id, content_id, file_id, ctype, size, filename, deleted in attachments:
            file = FileRow(file_id, ctype, size, filename, deleted)
            by_id[message_id].attachments.append(AttachmentRow(file, content_id))
        events = session.scalars(_EVENTS, {"ids": chunk})
        for event in events:
            assert event.message_id is not None
            by_id[event.message_id].events.append(event)
