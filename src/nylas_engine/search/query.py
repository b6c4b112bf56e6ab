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
    bindparam,
    cast,
    column,
    exists,
    or_,
    select,
    table,
    text,
)
from sqlalchemy.orm import Session

from nylas_engine.search.index import uses_fts
from nylas_engine.store import message_rows, thread_rows
from nylas_engine.store.message_rows import MessageRow
from nylas_engine.store.models import Account, Attachment, File, Message, Thread
from nylas_engine.store.thread_rows import ThreadRow

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


# The FTS query is built once (its cache key too), bound to `:account_id` and `:q`: driven
# by the index hits, each hit's message and thread found by primary key. (`account_id + 0`
# keeps SQLite from instead walking every message of the account by its (account_id, ...)
# index and testing each against the hits.)
_FTS_MATCHING = select(Message.id).where(
    Message.id.in_(select(_FTS.c.rowid).where(text("message_search MATCH :q"))),
    (Message.account_id + 0) == bindparam("account_id"),
    Message.is_draft.is_(False),
    Message.deleted_at.is_(None),
    or_(
        Message.thread_id.is_(None),
        exists().where(
            Thread.id == Message.thread_id,
            Thread.account_id == bindparam("account_id"),
            Thread.deleted_at.is_(None),
        ),
    ),
)
_NEWEST_FIRST = (Message.date.desc(), Message.id.desc())


def _newest_first_page(matching: Select[Any]) -> Select[Any]:
    return matching.order_by(*_NEWEST_FIRST).limit(bindparam("limit")).offset(bindparam("offset"))


_FTS_MESSAGE_PAGE = _newest_first_page(_FTS_MATCHING)


def _matching_messages(
    session: Session, account: Account, q: str, backend: str | None
) -> tuple[Select[Any], dict[str, Any]] | None:
    """Ids of the account's live, non-draft messages that match `q`, and the parameters
    to run that statement with."""
    use_fts = uses_fts(session) if backend is None else backend == "fts"
    if use_fts:
        expression = fts_query(q)
        if expression is None:
            return None
        return _FTS_MATCHING, {"account_id": account.id, "q": expression}
    if not _words(q):
        return None
    live_thread = select(Thread.id).where(
        Thread.account_id == account.id, Thread.deleted_at.is_(None)
    )
    stmt = select(Message.id).where(
        Message.account_id == account.id,
        Message.is_draft.is_(False),
        Message.deleted_at.is_(None),
        or_(Message.thread_id.is_(None), Message.thread_id.in_(live_thread)),
        _like_match(q),
    )
    return stmt, {}


def search_messages(
    session: Session,
    account: Account,
    q: str,
    limit: int = 100,
    offset: int = 0,
    *,
    backend: str | None = None,
) -> list[MessageRow]:
    """The account's messages matching every word of `q`, newest first, as rows
    (store/message_rows.py: no ORM objects, relations read once for the page).

    `backend` ("fts" or "like") overrides the choice made from the database dialect.
    """
    found = _matching_messages(session, account, q, backend)
    if found is None:
        return []
    matching, params = found
    # The page's ids first, then its rows by primary key: the FTS query runs once (a page
    # read by the statement would run it again for the categories' subquery).
    page = _FTS_MESSAGE_PAGE if matching is _FTS_MATCHING else _newest_first_page(matching)
    ids = list(session.scalars(page, {**params, "limit": limit, "offset": offset}))
    return message_rows.message_rows(session, ids)


def search_threads(
    session: Session,
    account: Account,
    q: str,
    limit: int = 100,
    offset: int = 0,
    *,
    backend: str | None = None,
) -> list[ThreadRow]:
    """The account's threads holding a message that matches `q`, by last message, newest
    first, as rows with their stored summaries (store/thread_rows.py)."""
    found = _matching_messages(session, account, q, backend)
    if found is None:
        return []
    matching, params = found
    with_hits = select(Message.thread_id).where(Message.id.in_(matching))
    stmt = (
        select(Thread)
        .where(
            Thread.account_id == account.id,
            Thread.deleted_at.is_(None),
            Thread.id.in_(with_hits),
        )
        .order_by(Thread.last_message_ts.desc(), Thread.id.desc())
    )
    return thread_rows.page_rows(session, stmt, limit, offset, params)
