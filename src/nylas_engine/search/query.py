"""Full-text search over an account's messages and threads (docs/protocol.md §14).

The user's words are never passed to FTS5 as syntax: each word becomes a quoted prefix
phrase (`"word"*`), and all of them must match, so `foo AND (` searches for the words
"foo" and "and" instead of failing. Results come newest first, drafts and deleted
messages left out. Databases without FTS5 fall back to a case-insensitive LIKE per word over
subject, body, snippet, participants and attachment names.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    column,
    exists,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session, selectinload

from nylas_engine.search.index import uses_fts
from nylas_engine.store.models import Account, Attachment, File, Message, Thread

_WORDLIKE = re.compile(r"\w")
_FTS = table("message_search", column("rowid"))


def fts_query(q: str) -> str | None:
    """The FTS5 expression for a user's query, or None when it holds no searchable word."""
    words = [w for w in q.split() if _WORDLIKE.search(w)]
    if not words:
        return None
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


# Around a word, what FTS5's tokenizer drops and a LIKE pattern would keep: `"lunch"` and
# `(lunch` find what `lunch` finds.
_EDGE_PUNCTUATION = "\"'()*^:,;!?"


def _words(q: str) -> list[str]:
    """The words of a query for the LIKE fallback."""
    words = (w.strip(_EDGE_PUNCTUATION) for w in q.split())
    return [w for w in words if _WORDLIKE.search(w)]


def _like_match(q: str) -> ColumnElement[bool]:
    clauses = []
    for word in _words(q):
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        pattern = f"%{escaped}%"
        fields: list[Any] = [
            Message.subject,
            Message.body,
            Message.snippet,
            cast(Message.from_, String),
            cast(Message.to, String),
            cast(Message.cc, String),
            cast(Message.bcc, String),
        ]
        named_file = (
            select(Attachment.message_id)
            .join(File, File.id == Attachment.file_id)
            .where(File.filename.ilike(pattern, escape="\\"))
        )
        clauses.append(
            or_(*[f.ilike(pattern, escape="\\") for f in fields], Message.id.in_(named_file))
        )
    return and_(*clauses)


def _matching_messages(
    session: Session, account: Account, q: str, backend: str | None
) -> Select[Any] | None:
    """Ids of the account's live, non-draft messages that match `q`."""
    use_fts = uses_fts(session) if backend is None else backend == "fts"
    live_thread = select(Thread.id).where(
        Thread.account_id == account.id, Thread.deleted_at.is_(None)
    )
    stmt = select(Message.id).where(
        Message.account_id == account.id,
        Message.is_draft.is_(False),
        Message.deleted_at.is_(None),
        or_(Message.thread_id.is_(None), Message.thread_id.in_(live_thread)),
    )
    if use_fts:
        expression = fts_query(q)
        if expression is None:
            return None
        # Driven by the index hits: each hit's message and thread are found by primary key.
        # (`account_id + 0` keeps SQLite from instead walking every message of the account
        # by its (account_id, ...) index and testing each against the hits.)
        hits = select(_FTS.c.rowid).where(text("message_search MATCH :q").bindparams(q=expression))
        live = exists().where(
            Thread.id == Message.thread_id,
            Thread.account_id == account.id,
            Thread.deleted_at.is_(None),
        )
        return select(Message.id).where(
            Message.id.in_(hits),
            (Message.account_id + 0) == account.id,
            Message.is_draft.is_(False),
            Message.deleted_at.is_(None),
            or_(Message.thread_id.is_(None), live),
        )
    if not _words(q):
        return None
    return stmt.where(_like_match(q))


def search_messages(
    session: Session,
    account: Account,
    q: str,
    limit: int = 100,
    offset: int = 0,
    *,
    backend: str | None = None,
) -> list[Message]:
    """The account's messages matching every word of `q`, newest first.

    `backend` ("fts" or "like") overrides the choice made from the database dialect.
    """
    matching = _matching_messages(session, account, q, backend)
    if matching is None:
        return []
    stmt = (
        select(Message)
        .where(Message.id.in_(matching))
        .options(selectinload(Message.events))
        .order_by(Message.date.desc(), Message.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt).unique())


def search_threads(
    session: Session,
    account: Account,
    q: str,
    limit: int = 100,
    offset: int = 0,
    *,
    backend: str | None = None,
) -> list[Thread]:
    """The account's threads holding a message that matches `q`, by last message, newest first."""
    matching = _matching_messages(session, account, q, backend)
    if matching is None:
        return []
    with_hits = select(Message.thread_id).where(Message.id.in_(matching))
    stmt = (
        select(Thread)
        .where(
            Thread.account_id == account.id,
            Thread.deleted_at.is_(None),
            Thread.id.in_(with_hits),
        )
        .order_by(Thread.last_message_ts.desc(), Thread.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list(session.scalars(stmt).unique())
