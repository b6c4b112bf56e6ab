"""Full-text search over an account's messages and threads (docs/protocol.md §14).

The user's words are never passed to FTS5 as syntax: each word becomes a quoted prefix
phrase (`"word"*`), and all of them must match, so `foo AND (` searches for the words
"foo" and "and" instead of failing. Results come newest first, drafts and deleted
messages left out. Databases without FTS5 (PostgreSQL) fall back to a case-insensitive LIKE
per word over subject, body, snippet, participants and attachment names: a page is looked
for among the newest messages first, row by row, then through trigram indexes (pg_trgm,
migration 0025), which give each word's matches without reading the account's messages.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ColumnElement,
    CompoundSelect,
    Select,
    Text,
    and_,
    bindparam,
    cast,
    column,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
    table,
    text,
    tuple_,
)
from sqlalchemy.orm import Session, aliased

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


_SPACE = literal_column("' '", Text)


def search_text(message: Any) -> ColumnElement[str]:
    """The text a LIKE search looks for a word in: subject, body, snippet and participants
    of `message` (the model or an alias of it), joined by spaces. A query word holds no
    space, so it is in the joined text exactly when it is in one of them. On PostgreSQL
    a trigram index holds this very expression (migration 0025: keep the two the same)."""
    fields: list[Any] = [
        message.subject,
        message.body,
        message.snippet,
        *(cast(c, Text) for c in (message.from_, message.to, message.cc, message.bcc)),
    ]
    return functools.reduce(lambda joined, field: joined.op("||")(_SPACE).op("||")(field), fields)


@dataclass(frozen=True)
class _Pattern:
    """A `%word%` pattern, written into the statement rather than bound: a PostgreSQL plan
    made for unknown patterns (a prepared statement's generic plan) can't tell a rare word
    from a common one, and picks the wrong index for one of them. `caseless`: the word has
    no letter (`42`), so LIKE finds what ILIKE would, without lower-casing each text it
    tests (on PostgreSQL, ILIKE lower-cases the whole text first: about 30 µs for 2.8 KB)."""

    text: ColumnElement[str]
    caseless: bool

    def test(self, value: Any) -> ColumnElement[bool]:
        """Whether `value` (a text column or expression) holds the word, in any case."""
        if self.caseless:
            return value.like(self.text, escape="\\")  # type: ignore[no-any-return]
        return value.ilike(self.text, escape="\\")  # type: ignore[no-any-return]


def _like_patterns(q: str) -> list[_Pattern]:
    """One pattern per word, the caseless ones first: tested first, the cheap test rules
    out most rows before any is lower-cased (PostgreSQL tests conditions of equal cost in
    the order written)."""
    patterns: list[_Pattern] = []
    for word in _words(q):
        escaped = word.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        text_ = literal(f"%{escaped}%", Text, literal_execute=True)
        # ASCII digits and punctuation: no character lower-cases to one of them.
        caseless = word.isascii() and not any(c.isalpha() for c in word)
        patterns.append(_Pattern(text_, caseless))
    return sorted(patterns, key=lambda p: not p.caseless)


def _named_file(pattern: _Pattern) -> Select[Any]:
    return (
        select(Attachment.message_id)
        .join(File, File.id == Attachment.file_id)
        .where(pattern.test(File.filename))
    )


def _like_fields_match(patterns: list[_Pattern]) -> ColumnElement[bool]:
    """`_like_row_match` field by field: PostgreSQL estimates these ILIKEs so that it walks
    the messages newest first and stops at a full page, where for the joined text it
    reads and sorts them all (10,000 messages: 190 ms for "budget 42")."""
    fields: list[Any] = [
        Message.subject,
        Message.body,
        Message.snippet,
        *(cast(c, Text) for c in (Message.from_, Message.to, Message.cc, Message.bcc)),
    ]
    return and_(
        *(or_(*(p.test(f) for f in fields), Message.id.in_(_named_file(p))) for p in patterns)
    )


def _like_row_match(message: Any, patterns: list[_Pattern]) -> ColumnElement[bool]:
    """Every word in the row's text or in the name of one of its files."""
    text_ = search_text(message)
    return and_(*(or_(p.test(text_), message.id.in_(_named_file(p))) for p in patterns))


def _like_matches(account: Account, patterns: list[_Pattern]) -> CompoundSelect[int, int]:
    """(id, date) of the account's live messages that `_like_row_match` finds, found
    through the trigram indexes (migration 0025, PostgreSQL): those holding every word in
    their text (one index scan for all the words; each row's text is tested once, by the
    index's recheck), and those with a file named with one of the words (tested row by
    row: few messages have files named so)."""
    text_ = search_text(Message)
    in_text = _live(account, Message.id, Message.date).where(*(p.test(text_) for p in patterns))
    named = (
        select(Attachment.message_id)
        .join(File, File.id == Attachment.file_id)
        .where(or_(*(p.test(File.filename) for p in patterns)))
    )
    by_file = _live(account, Message.id, Message.date).where(
        Message.id.in_(named), _like_row_match(Message, patterns)
    )
    return in_text.union(by_file)


_NEWEST_FIRST = (Message.date.desc(), Message.id.desc())


def _newest_first_page(matching: Select[Any], date: Any, id_: Any) -> Select[Any]:
    """`matching` newest first, the page bound to `:limit` and `:offset`."""
    return (
        matching.order_by(date.desc(), id_.desc())
        .limit(bindparam("limit"))
        .offset(bindparam("offset"))
    )


def _fts_matching(*columns: Any, from_rowid: bool = False) -> Select[Any]:
    """The FTS query, bound to `:account_id` and `:q` (and `:min_id`, the lowest rowid to
    read hits from, if `from_rowid`): driven by the index hits, each hit's message and
    thread found by primary key. (`account_id + 0` keeps SQLite from instead walking every
    message of the account by its (account_id, ...) index and testing each against the
    hits.)"""
    hits = select(_FTS.c.rowid).where(text("message_search MATCH :q"))
    if from_rowid:
        hits = hits.where(_FTS.c.rowid >= bindparam("min_id"))
    return select(*columns).where(
        Message.id.in_(hits),
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


# Built once (their cache keys too).
_FTS_MATCHING = _fts_matching(Message.id)
_FTS_MESSAGE_PAGE = _newest_first_page(_FTS_MATCHING, Message.date, Message.id)
_FTS_RECENT_PAGE = _newest_first_page(
    _fts_matching(Message.id, Message.date, from_rowid=True), Message.date, Message.id
)


def _live(account: Account, *columns: Any) -> Select[Any]:
    """`columns` of the account's messages search may find: no drafts, nothing deleted (nor
    in a deleted thread). The thread is joined, one lookup by primary key per message:
    tested as `thread_id IS NULL OR EXISTS (...)`, PostgreSQL hashed every thread of the
    database first (100,000: 33 of the 38 ms a one-word search took)."""
    thread = aliased(Thread)
    return (
        select(*columns)
        .select_from(Message)
        .outerjoin(thread, thread.id == Message.thread_id)
        .where(
            Message.account_id == account.id,
            Message.is_draft.is_(False),
            Message.deleted_at.is_(None),
            or_(
                Message.thread_id.is_(None),
                and_(thread.account_id == account.id, thread.deleted_at.is_(None)),
            ),
        )
    )


def _matching_messages(
    session: Session, account: Account, q: str, backend: str | None
) -> tuple[Select[Any], Select[Any], dict[str, Any]] | None:
    """Ids of the account's live, non-draft messages that match `q`; a page of them,
    newest first (`:limit`, `:offset`); the parameters to run either statement with."""
    if _uses_fts(session, backend):
        expression = fts_query(q)
        if expression is None:
            return None
        return _FTS_MATCHING, _FTS_MESSAGE_PAGE, {"account_id": account.id, "q": expression}
    patterns = _like_patterns(q)
    if not patterns:
        return None
    if trigram_indexable(_words(q)):
        found = _like_matches(account, patterns).subquery()
    else:  # every message newest first, tested field by field (main's statement before 0025)
        found = (
            _live(account, Message.id, Message.date).where(_like_fields_match(patterns)).subquery()
        )
    ids = select(found.c.id)
    return ids, _newest_first_page(ids, found.c.date, found.c.id), {}


_TRIGRAM = re.compile(r"[^\W_]{3}")


def trigram_indexable(words: list[str]) -> bool:
    """Whether the trigram index narrows the search for every word: pg_trgm takes its
    trigrams from runs of letters and digits, so a word without three in a row (`42`)
    would leave the index every message holding the other words to recheck (bench/api.py
    at 100,000 messages, where a third of its queries are "word number": p99 2.5 s, against
    350 ms testing every message newest first)."""
    return all(_TRIGRAM.search(word) for word in words)


def _uses_fts(session: Session, backend: str | None) -> bool:
    return uses_fts(session) if backend is None else backend == "fts"


# How many of the newest messages a LIKE search tests one by one before it asks the indexes
# for every match. A word in many messages fills a page from the newest few, and testing
# those costs less than gathering all its matches to sort them by date; a rarer word is
# found through the indexes.
RECENT_WINDOW = 1000


def _recent_like_page(
    session: Session,
    account: Account,
    patterns: list[_Pattern],
    limit: int,
    offset: int,
) -> list[int] | None:
    """The page, if the newest RECENT_WINDOW messages hold all of it (None if not)."""
    recent = aliased(
        Message,
        _live(account, Message).order_by(*_NEWEST_FIRST).limit(RECENT_WINDOW).subquery(),
    )
    page = (
        select(recent.id)
        .where(_like_row_match(recent, patterns))
        .order_by(recent.date.desc(), recent.id.desc())
        .limit(limit)
        .offset(offset)
    )
    ids = list(session.scalars(page))
    # Matches in order among the newest: a full page of them is the page of all matches.
    return ids if len(ids) == limit else None


def _walked_like_page(
    session: Session,
    account: Account,
    patterns: list[_Pattern],
    limit: int,
    offset: int,
) -> list[int]:
    """The page of a search the trigram index can't narrow (a word without three letters or
    digits in a row, `travel 36`), each message tested once: the newest RECENT_WINDOW
    together, then the older ones newest first from the window's edge on, as far as the page
    needs. Walking again from the newest after the window tested the window twice: ~17 ms
    of such a search at 100,000 messages on PostgreSQL (bench/RESULTS.md, api7)."""
    newest = _live(account, Message).order_by(*_NEWEST_FIRST)
    recent = aliased(Message, newest.limit(RECENT_WINDOW).subquery())
    in_window = list(
        session.scalars(
            select(recent.id)
            .where(_like_row_match(recent, patterns))
            .order_by(recent.date.desc(), recent.id.desc())
        )
    )
    page = in_window[offset : offset + limit]
    if len(page) == limit:
        return page
    edge = session.execute(
        _live(account, Message.date, Message.id)
        .order_by(*_NEWEST_FIRST)
        .offset(RECENT_WINDOW - 1)
        .limit(1)
    ).first()
    if edge is None:
        return page  # the window held every message
    older = (
        _live(account, Message.id)
        .where(
            Message.date <= edge.date,  # where the date index's walk starts
            tuple_(Message.date, Message.id) < tuple_(edge.date, edge.id),
            _like_fields_match(patterns),
        )
        .order_by(*_NEWEST_FIRST)
        .limit(limit - len(page))
        .offset(max(0, offset - len(in_window)))
    )
    return page + list(session.scalars(older))


def _recent_fts_page(
    session: Session, account: Account, expression: str, limit: int, offset: int
) -> list[int] | None:
    """The page, if the newest RECENT_WINDOW messages hold all of it (None if not).

    FTS5 tests one message for a MATCH at about the cost of the whole MATCH, but reads the
    hits from a rowid on cheaply. The hits from the lowest id among the newest messages on
    hold every match among them; if a page of those, newest first, ends no older than the
    newest messages' oldest, it is the page of all matches (any other match has a lower
    id, so is not among the newest, so is older than that). On 10,000 messages: 0.5 ms
    instead of 18 for a word in one message of eight."""
    # Any message counts here, deleted or not (the FTS query leaves those out): so this
    # reads only the (account_id, is_draft, date) index, not the rows with their bodies.
    newest_stmt = select(Message.id, Message.date).where(
        Message.account_id == account.id, Message.is_draft.is_(False)
    )
    newest = session.execute(newest_stmt.order_by(*_NEWEST_FIRST).limit(RECENT_WINDOW)).all()
    if not newest:
        return None
    params = {"account_id": account.id, "q": expression, "limit": limit, "offset": offset}
    params["min_id"] = min(row.id for row in newest)
    rows = session.execute(_FTS_RECENT_PAGE, params).all()
    oldest = newest[-1]
    if len(rows) == limit and (rows[-1].date, rows[-1].id) >= (oldest.date, oldest.id):
        return [row.id for row in rows]
    return None


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
    ids: list[int] | None = None  # the page, if it's among the newest messages
    if limit and _uses_fts(session, backend):
        if (expression := fts_query(q)) is not None:
            ids = _recent_fts_page(session, account, expression, limit, offset)
    elif limit and (patterns := _like_patterns(q)):
        if not trigram_indexable(_words(q)):
            return message_rows.message_rows(
                session, _walked_like_page(session, account, patterns, limit, offset)
            )
        ids = _recent_like_page(session, account, patterns, limit, offset)
    if ids is not None:
        return message_rows.message_rows(session, ids)
    found = _matching_messages(session, account, q, backend)
    if found is None:
        return []
    _, page, params = found
    # The page's ids first, then its rows by primary key: the FTS query runs once (a page
    # read by the statement would run it again for the categories' subquery).
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
    if limit and not _uses_fts(session, backend) and (patterns := _like_patterns(q)):
        recent = _recent_like_threads(session, account, patterns, limit, offset)
        if recent is not None:
            return recent
    found = _matching_messages(session, account, q, backend)
    if found is None:
        return []
    matching, _, params = found
    stmt = _threads_with_hits(select(Thread), account, matching).order_by(
        Thread.last_message_ts.desc(), Thread.id.desc()
    )
    return thread_rows.page_rows(session, stmt, limit, offset, params)


_NEWEST_THREADS = (Thread.last_message_ts.desc(), Thread.id.desc())


def _recent_like_threads(
    session: Session, account: Account, patterns: list[_Pattern], limit: int, offset: int
) -> list[ThreadRow] | None:
    """The page, if the account's newest RECENT_WINDOW threads hold all of it (None if not).

    Those threads come first in the order of all threads, so the matching ones among them
    come first among all matching threads: a full page of them is the page. Walked newest
    first, each thread's messages tested until one matches, it stops at the page's end; for
    a common word that is a few dozen threads, where gathering every match (PostgreSQL,
    100,000 messages, `launch` in 25,000: 670 ms) and then their threads costs it all."""
    live = (Thread.account_id == account.id, Thread.deleted_at.is_(None))
    edge = session.execute(
        select(Thread.last_message_ts, Thread.id)
        .where(*live)
        .order_by(*_NEWEST_THREADS)
        .offset(RECENT_WINDOW - 1)
        .limit(1)
    ).first()
    hit = exists().where(
        Message.thread_id == Thread.id,
        Message.account_id == account.id,
        Message.is_draft.is_(False),
        Message.deleted_at.is_(None),
        _like_row_match(Message, patterns),
    )
    stmt = select(Thread).where(*live, hit).order_by(*_NEWEST_THREADS)
    if edge is not None:  # else the account has fewer threads: the window is all of them
        stmt = stmt.where(
            or_(
                Thread.last_message_ts > edge.last_message_ts,
                and_(Thread.last_message_ts == edge.last_message_ts, Thread.id >= edge.id),
            )
        )
    rows = thread_rows.page_rows(session, stmt, limit, offset)
    return rows if len(rows) == limit or edge is None else None


def count_threads(
    session: Session, account: Account, q: str, cap: int, *, backend: str | None = None
) -> int:
    """How many threads `search_threads` would find, counting at most `cap` of them (in
    SQL: no row is loaded)."""
    found = _matching_messages(session, account, q, backend)
    if found is None:
        return 0
    matching, _, params = found
    ids = _threads_with_hits(select(Thread.id), account, matching).limit(cap).subquery()
    return session.scalar(select(func.count()).select_from(ids), params) or 0


def _threads_with_hits(stmt: Select[Any], account: Account, matching: Select[Any]) -> Select[Any]:
    with_hits = select(Message.thread_id).where(Message.id.in_(matching))
    return stmt.where(
        Thread.account_id == account.id,
        Thread.deleted_at.is_(None),
        Thread.id.in_(with_hits),
    )
