"""Keeping the full-text index in step with messages.

On SQLite the index is the FTS5 table `message_search` (migration 0002): one row per message,
rowid = messages.id. Other databases have no index table; their search scans with LIKE
(see query.py), so these functions do nothing there.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.orm import Session

from nylas_engine.mime.parse import html_to_text
from nylas_engine.store.models import Message


def uses_fts(session: Session) -> bool:
    return session.get_bind().dialect.name == "sqlite"


def participants_text(message: Message) -> str:
    people = [
        *(message.from_ or []),
        *(message.to or []),
        *(message.cc or []),
        *(message.bcc or []),
        *(message.reply_to or []),
    ]
    return " ".join(f"{p.get('name') or ''} {p.get('email') or ''}".strip() for p in people)


def index_message(session: Session, message: Message) -> None:
    """(Re)index one message; the message must have been flushed (it needs its id)."""
    if not uses_fts(session):
        return
    if message.id is None:
        session.flush()
    filenames = " ".join(
        a.file.filename for a in message.attachments if a.file is not None and a.file.filename
    )
    conn = session.connection()
    conn.execute(text("DELETE FROM message_search WHERE rowid = :id"), {"id": message.id})
    conn.execute(
        text(
            "INSERT INTO message_search (rowid, subject, body, participants, filenames) "
            "VALUES (:id, :subject, :body, :participants, :filenames)"
        ),
        {
            "id": message.id,
            "subject": message.subject or "",
            "body": html_to_text(message.body or ""),
            "participants": participants_text(message),
            "filenames": filenames,
        },
    )


def remove_message(session: Session, message_id: int) -> None:
    """Drop a message (by its integer id) from the index."""
    if uses_fts(session):
        session.connection().execute(
            text("DELETE FROM message_search WHERE rowid = :id"), {"id": message_id}
        )
