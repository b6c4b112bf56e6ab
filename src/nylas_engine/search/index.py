"""Keeping the full-text index in step with messages.

On SQLite the index is the FTS5 table `message_search` (migration 0002): one row per message,
rowid = messages.id. Other databases have no index table; their search uses LIKE over the
messages' own columns (see query.py; PostgreSQL indexes them itself, migration 0025), so these
functions do nothing there.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import bindparam, text
from sqlalchemy.orm import Session

from nylas_engine.mime.html_text import html_to_text
from nylas_engine.mime.parse import ParsedMessage
from nylas_engine.store.models import Message


def uses_fts(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def participants_text(message: Message) -> str:
    return _people_text(
        message.from_ or [],
        message.to or [],
        message.cc or [],
        message.bcc or [],
        message.reply_to or [],
    )


def _people_text(*groups: Sequence[dict[str, str]]) -> str:
    return " ".join(
        f"{p.get('name') or ''} {p.get('email') or ''}".strip() for group in groups for p in group
    )


_INSERT = text(
    "INSERT INTO message_search (rowid, subject, body, participants, filenames) "
    "VALUES (:id, :subject, :body, :participants, :filenames)"
)
_INSERT_ROWS = (
    "INSERT INTO message_search (rowid, subject, body, participants, filenames) "
    "VALUES (?, ?, ?, ?, ?)"
)
_DELETE_RUN = "DELETE FROM message_search WHERE rowid BETWEEN ? AND ?"
_DELETE_MANY = text("DELETE FROM message_search WHERE rowid IN :ids").bindparams(
    bindparam("ids", expanding=True)
)


def _filenames(message: Message) -> str:
    return " ".join(
        a.file.filename for a in message.attachments if a.file is not None and a.file.filename
    )


def index_messages(session: Session, messages: Sequence[tuple[int, ParsedMessage]]) -> None:
    """Index new messages, given as (message id, what its MIME parsed into), with one
    statement for the batch (straight to the driver, as store/bulk.py sends its rows: Core
    would bind each row's parameters through its own machinery)."""
    if not messages or not uses_fts(session):
        return
    conn = session.connection()
    # A rowid can come back after the newest message is hard-deleted: drop what it held.
    ids = [message_id for message_id, _ in messages]
    low, high = min(ids), max(ids)
    if high - low + 1 == len(ids) == len(set(ids)):  # a run of ids (a batch's usually are)
        conn.exec_driver_sql(_DELETE_RUN, (low, high))
    else:
        conn.execute(_DELETE_MANY, {"ids": ids})
    conn.exec_driver_sql(
        _INSERT_ROWS,
        [
            (
                message_id,
                parsed.subject or "",
                parsed.text,
                _people_text(parsed.from_, parsed.to, parsed.cc, parsed.bcc, parsed.reply_to),
                " ".join(a.filename for a in parsed.attachments if a.filename),
            )
            for message_id, parsed in messages
        ],
    )


def index_message(session: Session, message: Message) -> None:
    """(Re)index one message; the message must have been flushed (it needs its id)."""
    if not uses_fts(session):
        return
    if message.id is None:
        session.flush()
    conn = session.connection()
    conn.execute(text("DELETE FROM message_search WHERE rowid = :id"), {"id": message.id})
    conn.execute(
        _INSERT,
        {
            "id": message.id,
            "subject": message.subject or "",
            "body": html_to_text(message.body or ""),
            "participants": participants_text(message),
            "filenames": _filenames(message),
        },
    )


def remove_message(session: Session, message_id: int) -> None:
    """Drop a message (by its integer id) from the index."""
    if uses_fts(session):
        session.connection().execute(
            text("DELETE FROM message_search WHERE rowid = :id"), {"id": message_id}
        )
