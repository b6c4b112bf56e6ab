"""Thread summaries: what a thread shows in a list (docs/protocol.md §6), stored as its
messages change so that a page of threads costs one row per thread, whatever their length.

A summary is recomputed from the thread's live messages, by bare columns (never bodies),
whenever something it depends on is written:
* through the unit of work (API writes, sync flag and folder changes, drafts, deletes): the
  `after_flush` hook installed by `install` refreshes every thread whose messages or their
  attachments were created, changed, moved between threads or deleted in that flush;
* by the bulk ingest path's Core INSERTs (store/mail.py), which no flush hook sees: it
  calls `refresh` itself for the threads it wrote to, with the summaries it could make
  without reading messages back (threads the batch started, and threads whose new messages
  all come after or before the ones they had: `grown`, the usual case for new mail).

What is stored follows the thread view exactly: `unread`, `starred` and `has_attachments`
hold over non-draft messages; participants are the non-draft messages' from/to/cc/bcc, first
seen first, by lower-cased address; `snippet` is the newest message's (or, in a thread of
drafts only, the newest draft's). Category ids are kept in first-seen order including
deleted categories; readers leave out those deleted (so deleting a folder changes no row).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any, NamedTuple

from sqlalchemy import Connection, Table, delete, event, inspect, select
from sqlalchemy.orm import Session

from nylas_engine.store.bulk import insert_rows
from nylas_engine.store.models import (
    Attachment,
    Message,
    Thread,
    ThreadSummary,
    message_categories,
)

_CHUNK = 500  # ids per IN (...): well under SQLite's bound-parameter limit
_SUMMARY: Table = ThreadSummary.__table__  # type: ignore[assignment]
_MESSAGES: Table = Message.__table__  # type: ignore[assignment]
_ATTACHMENTS: Table = Attachment.__table__  # type: ignore[assignment]
_THREADS: Table = Thread.__table__  # type: ignore[assignment]


def _chunks(ids: Sequence[int]) -> Iterable[Sequence[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]


def _empty(thread_id: int, account_id: int) -> dict[str, Any]:
    return {
        "thread_id": thread_id,
        "account_id": account_id,
        "unread": False,
        "starred": False,
        "has_attachments": False,
        "snippet": "",
        "participants": [],
        "message_ids": [],
        "draft_ids": [],
        "category_ids": [],
    }


class Line(NamedTuple):
    """What a summary reads of one live message."""

    id: int
    thread_id: int
    public_id: str
    is_draft: bool
    unread: bool
    starred: bool
    snippet: str
    from_addr: list[dict[str, str]] | None
    to_addr: list[dict[str, str]] | None
    cc_addr: list[dict[str, str]] | None
    bcc_addr: list[dict[str, str]] | None


def summarize(
    thread_id: int,
    account_id: int,
    messages: Sequence[Line],
    categories: Mapping[int, list[int]],
    attached: set[int],
) -> dict[str, Any]:
    """A summary from messages the caller holds: all the thread's live messages, ordered by
    (date, id), with each one's category ids (ascending) and the ids of those with a file
    attached. The bulk ingest path uses it for the threads it has just made."""
    summary = _empty(thread_id, account_id)
    if messages:
        _fill(summary, list(messages), categories, attached)
    return summary


def grown(
    summary: Mapping[str, Any],
    messages: Sequence[Line],
    categories: Mapping[int, list[int]],
    attached: set[int],
    *,
    older: bool,
) -> dict[str, Any] | None:
    """A thread's summary with new messages added, from its stored `summary` (current) and
    the new messages alone, without reading its other messages back: `messages` ordered by
    (date, id), all after every message the summary holds (or, `older`, all before). What
    `compute` gives then: the two ranges' summaries joined, the earlier one's participants
    and categories first. None where the two don't join that simply (drafts on either
    side, or no mail in the thread yet): compute it then."""
    if not messages or summary["draft_ids"] or not summary["message_ids"]:
        return None
    if any(m.is_draft for m in messages):
        return None
    new = summarize(summary["thread_id"], summary["account_id"], messages, categories, attached)
    first, last = (new, summary) if older else (summary, new)
    participants = list(first["participants"])
    seen = {p["email"] for p in participants}
    participants += [p for p in last["participants"] if p["email"] not in seen]
    new.update(
        unread=bool(first["unread"] or last["unread"]),
        starred=bool(first["starred"] or last["starred"]),
        has_attachments=bool(first["has_attachments"] or last["has_attachments"]),
        snippet=last["snippet"],
        participants=participants,
        message_ids=[*first["message_ids"], *last["message_ids"]],
        category_ids=list(dict.fromkeys([*first["category_ids"], *last["category_ids"]])),
    )
    return new


def compute(connection: Connection, thread_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """{thread id: summary row values} computed from the threads' live messages."""
    ids = sorted(set(thread_ids))
    out: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(ids):
        for thread_id, account_id in connection.execute(
            select(_THREADS.c.id, _THREADS.c.account_id).where(_THREADS.c.id.in_(chunk))
        ):
            out[thread_id] = _empty(thread_id, account_id)
        m = _MESSAGES.c
        rows = list(
            connection.execute(
                select(
                    m.id,
                    m.thread_id,
                    m.public_id,
                    m.is_draft,
                    m.unread,
                    m.starred,
                    m.snippet,
                    m.from_addr,
                    m.to_addr,
                    m.cc_addr,
                    m.bcc_addr,
                )
                .where(m.thread_id.in_(chunk), m.deleted_at.is_(None))
                .order_by(m.thread_id, m.date, m.id)
            )
        )
        message_ids = [row.id for row in rows]
        categories: dict[int, list[int]] = {}
        attached: set[int] = set()
        for part in _chunks(message_ids):
            links = connection.execute(
                select(message_categories.c.message_id, message_categories.c.category_id)
                .where(message_categories.c.message_id.in_(part))
                .order_by(message_categories.c.message_id, message_categories.c.category_id)
            )
            for message_id, category_id in links:
                categories.setdefault(message_id, []).append(category_id)
            attached.update(
                connection.scalars(
                    select(_ATTACHMENTS.c.message_id)
                    .where(
                        _ATTACHMENTS.c.message_id.in_(part),
                        _ATTACHMENTS.c.disposition == "attachment",
                    )
                    .distinct()
                )
            )
        by_thread: dict[int, list[Any]] = {}
        for row in rows:
            by_thread.setdefault(row.thread_id, []).append(row)
        for thread_id, messages in by_thread.items():
            summary = out.get(thread_id)
            if summary is not None:
                _fill(summary, messages, categories, attached)
    return out


def _fill(
    summary: dict[str, Any],
    messages: list[Any],
    categories: Mapping[int, list[int]],
    attached: set[int],
) -> None:
    mail = [m for m in messages if not m.is_draft]
    drafts = [m for m in messages if m.is_draft]
    participants: list[dict[str, str]] = []
    seen: set[str] = set()
    for message in mail:
        for person in chain(
            message.from_addr or [],
            message.to_addr or [],
            message.cc_addr or [],
            message.bcc_addr or [],
        ):
            email = (person.get("email") or "").lower()
            if email and email not in seen:
                seen.add(email)
                participants.append({"name": person.get("name") or "", "email": email})
    category_ids: dict[int, None] = {}
    for message in messages:
        for category_id in categories.get(message.id, ()):
            category_ids.setdefault(category_id, None)
    newest = (mail or drafts)[-1]
    summary.update(
        unread=any(m.unread for m in mail),
        starred=any(m.starred for m in mail),
        has_attachments=any(m.id in attached for m in mail),
        snippet=newest.snippet or "",
        participants=participants,
        message_ids=[m.public_id for m in mail],
        draft_ids=[m.public_id for m in drafts],
        category_ids=list(category_ids),
    )


def refresh(
    connection: Connection,
    thread_ids: Iterable[int],
    known: Mapping[int, dict[str, Any]] | None = None,
) -> None:
    """Recompute and store the summaries of these threads; `known` holds summaries the
    caller made (`summarize`), stored as they are."""
    known = known or {}
    ids = sorted({i for i in thread_ids if i is not None} | set(known))
    summaries = compute(connection, [i for i in ids if i not in known])
    for chunk in _chunks(ids):
        connection.execute(delete(_SUMMARY).where(_SUMMARY.c.thread_id.in_(chunk)))
    insert_rows(connection, _SUMMARY, [*summaries.values(), *known.values()])


def fill_missing(connection: Connection) -> int:
    """Summaries for the threads that have none (after the migration that adds the table, or
    any later one: run by `migrate`, with the code of the running version, so the migration
    itself never depends on this module). Returns how many were made."""
    missing = select(_SUMMARY.c.thread_id).where(_SUMMARY.c.thread_id == _THREADS.c.id)
    ids = list(
        connection.scalars(select(_THREADS.c.id).where(~missing.exists()).order_by(_THREADS.c.id))
    )
    for start in range(0, len(ids), 5000):
        refresh(connection, ids[start : start + 5000])
    return len(ids)


def stored(connection: Connection, thread_ids: Sequence[int]) -> dict[int, dict[str, Any]]:
    """The stored summaries of these threads (those that have one)."""
    found: dict[int, dict[str, Any]] = {}
    for chunk in _chunks(thread_ids):
        for row in connection.execute(select(_SUMMARY).where(_SUMMARY.c.thread_id.in_(chunk))):
            found[row.thread_id] = dict(row._mapping)
    return found


def load(session: Session, thread_ids: Iterable[int]) -> dict[int, dict[str, Any]]:
    """The stored summaries of these threads. A thread without one (written by a path that
    bypassed both hooks) gets one computed on the spot, not stored: a read never writes."""
    ids = sorted(set(thread_ids))
    connection = session.connection()
    found = stored(connection, ids)
    missing = [i for i in ids if i not in found]
    if missing:
        found.update(compute(connection, missing))
    return found


# ------------------------------------------------------------------------- following writes


def _thread_ids_of(obj: Message) -> set[int]:
    ids = {obj.thread_id} if obj.thread_id is not None else set()
    state: Any = inspect(obj)
    ids.update(i for i in state.attrs["thread_id"].history.deleted if i is not None)
    ids.update(t.id for t in state.attrs["thread"].history.deleted if t is not None)
    return ids


def _after_flush(session: Session, _ctx: Any) -> None:
    threads: set[int] = set()
    messages: set[int] = set()
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Message):
            if obj in session.dirty and not session.is_modified(obj):
                continue
            threads |= _thread_ids_of(obj)
        elif isinstance(obj, Attachment) and obj.message_id is not None:
            messages.add(obj.message_id)
        elif isinstance(obj, Thread) and obj in session.new and obj.id is not None:
            threads.add(obj.id)
    if not threads and not messages:
        return
    connection = session.connection()
    for chunk in _chunks(sorted(messages)):
        threads.update(
            t
            for t in connection.scalars(
                select(_MESSAGES.c.thread_id).where(_MESSAGES.c.id.in_(chunk))
            )
            if t is not None
        )
    refresh(connection, threads)


def install(target: Any) -> None:
    """Attach the hook to a sessionmaker (or Session class)."""
    event.listen(target, "after_flush", _after_flush)
