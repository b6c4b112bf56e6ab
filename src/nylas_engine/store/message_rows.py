"""Messages read as rows, not ORM objects: what GET /messages/{id} and message list pages
render (api/views/mail.py `message_json` takes either).

Building ORM objects (identity map, attribute instrumentation, one selectin load per
relation) cost more than the reply itself for one message (issue 13). These read what the
mapping would (the message with its thread's id, then its categories, attachments with their
files, and the events its invitations brought), as plain rows into small records with the
attribute names of the models: the messages with flags saying which have attachments or
events, then the categories, one query each per page; attachments and events are asked for
only for the messages that have them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BindParameter, Select, bindparam, exists, select
from sqlalchemy.orm import Session, aliased

from nylas_engine.store.db import json_text, json_value
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
_thread = aliased(Thread)
# Scalar subqueries rather than joins, so the columns fit any select of `Message` (a list
# page's filtered statement as much as the lookup of one message).
_COLUMNS = (
    Message.id,
    Message.public_id,
    Message.is_draft,
    Message.thread_id,
    select(_thread.public_id).where(_thread.id == Message.thread_id).scalar_subquery(),
    Message.subject,
    json_text(Message.from_),
    json_text(Message.reply_to),
    json_text(Message.to),
    json_text(Message.cc),
    json_text(Message.bcc),
    Message.date,
    Message.snippet,
    Message.unread,
    Message.starred,
    json_text(Message.metadata_),
    Message.body,
    Message.version,
    Message.reply_to_message_id,
    Message.message_id_header,
    Message.in_reply_to,
    json_text(Message.references),
    Message.raw_sha256,
    select(_target.public_id).where(_target.id == Message.reply_to_message_id).scalar_subquery(),
    select(_target.thread_id).where(_target.id == Message.reply_to_message_id).scalar_subquery(),
    # Most messages have no attachment and brought no event: these say which ones to ask for.
    exists().where(Attachment.message_id == Message.id),
    exists().where(Event.message_id == Message.id, Event.deleted_at.is_(None)),
)


_JSON = (6, 7, 8, 9, 10, 15, 21)  # from_ ... bcc, metadata_, references: read as text

# Built once: a statement's shape never changes, only the ids it is given (`:ids`).
_IDS: BindParameter[int] = bindparam("ids", expanding=True)
_BY_PUBLIC_ID = select(*_COLUMNS).where(
    Message.account_id == bindparam("account_id"),
    Message.public_id == bindparam("public_id"),
    Message.deleted_at.is_(None),
)
_BY_IDS = select(*_COLUMNS).where(Message.id.in_(_IDS))
_CATEGORY_COLUMNS = (
    message_categories.c.message_id,
    Category.id,
    Category.public_id,
    Category.type,
    Category.name,
    Category.display_name,
)
_CATEGORIES_OF_ONE = (
    select(*_CATEGORY_COLUMNS)
    .join(Category, Category.id == message_categories.c.category_id)
    .where(message_categories.c.message_id == bindparam("id"), Category.deleted_at.is_(None))
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


_CATEGORIES_OF_IDS = (
    select(*_CATEGORY_COLUMNS)
    .join(Category, Category.id == message_categories.c.category_id)
    .where(message_categories.c.message_id.in_(_IDS), Category.deleted_at.is_(None))
)


def _record(row: Any) -> tuple[MessageRow, bool, bool]:
    """The record of a row of `_COLUMNS`, and whether it has attachments and events."""
    values: list[Any] = list(row)
    for i in _JSON:
        values[i] = json_value(values[i])
    thread_public_id, target_public_id, target_thread_id = values[4], values[23], values[24]
    attached, invited = values[25], values[26]
    values[4] = ThreadRef(thread_public_id) if thread_public_id is not None else None
    values[23:] = [ThreadedRef(target_public_id, target_thread_id) if target_public_id else None]
    return MessageRow(*values), bool(attached), bool(invited)


def find_message_row(session: Session, account: Account, public_id: str) -> MessageRow | None:
    """Any live message or draft of the account (as `store.messages.find_message`)."""
    connection = session.connection()
    row = connection.execute(
        _BY_PUBLIC_ID, {"account_id": account.id, "public_id": public_id}
    ).first()
    if row is None:
        return None
    found, attached, invited = _record(row)
    for _message_id, *category in connection.execute(_CATEGORIES_OF_ONE, {"id": found.id}):
        found.categories.append(CategoryRow(*category))
    _load_files_and_events(session, [found] if attached else [], [found] if invited else [])
    return found


def page_rows(session: Session, stmt: Select[Any], limit: int, offset: int) -> list[MessageRow]:
    """One page of `stmt` (a select of `Message`, filtered and ordered) as rows, read by
    the statement itself; its relations by the ids of the rows read. (Not by the page's
    statement as a subquery: on PostgreSQL each statement sees the commits made before it,
    so a second run of the page can hold messages that arrived meanwhile.)"""
    page = stmt.limit(limit).offset(offset)
    connection = session.connection()
    rows = connection.execute(page.with_only_columns(*_COLUMNS, maintain_column_froms=True))
    return _with_relations(session, list(rows))


def message_rows(session: Session, ids: Sequence[int]) -> list[MessageRow]:
    """The messages of these internal ids, in that order, with their relations."""
    rows: list[Any] = []
    for start in range(0, len(ids), _CHUNK):
        rows += session.connection().execute(_BY_IDS, {"ids": ids[start : start + _CHUNK]})
    order = {pk: n for n, pk in enumerate(ids)}
    rows.sort(key=lambda row: order[row[0]])
    return _with_relations(session, rows)


def _with_relations(session: Session, rows: list[Any]) -> list[MessageRow]:
    """Records of `rows` with their categories, attachments and events."""
    records, attached, invited = [], [], []
    for row in rows:
        record, has_files, has_events = _record(row)
        records.append(record)
        if has_files:
            attached.append(record)
        if has_events:
            invited.append(record)
    by_id = {r.id: r for r in records}
    keys = list(by_id)
    connection = session.connection()
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        for message_id, *category in connection.execute(_CATEGORIES_OF_IDS, {"ids": chunk}):
            by_id[message_id].categories.append(CategoryRow(*category))
    _load_files_and_events(session, attached, invited)
    return records


def _load_files_and_events(
    session: Session, attached: list[MessageRow], invited: list[MessageRow]
) -> None:
    """The attachments (with files) of `attached`, the live events of `invited`."""
    by_id = {r.id: r for r in attached}
    keys = list(by_id)
    for start in range(0, len(keys), _CHUNK):
        chunk = keys[start : start + _CHUNK]
        attachments = session.connection().execute(_ATTACHMENTS, {"ids": chunk})
        for message_id, content_id, file_id, ctype, size, filename, deleted in attachments:
            file = FileRow(file_id, ctype, size, filename, deleted)
            by_id[message_id].attachments.append(AttachmentRow(file, content_id))
    by_id = {r.id: r for r in invited}
    keys = list(by_id)
    for start in range(0, len(keys), _CHUNK):
        for event in session.scalars(_EVENTS, {"ids": keys[start : start + _CHUNK]}):
            assert event.message_id is not None
            by_id[event.message_id].events.append(event)
