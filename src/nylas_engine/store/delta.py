"""Delta queries (docs/protocol.md §15): cursors, pages of the transaction log, and the objects
they name.

A cursor is a `Transaction.public_id` ("0" is the start of the log). Internally a page starts
after a *position*, the integer id of that transaction, so paging is an indexed range scan on
(account_id, id). A page collapses repeated (object, command) pairs to their latest
transaction and pairs every create/modify with the object's current row, loaded in one query
per object type; transactions whose object is gone are skipped.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.interfaces import LoaderOption

from nylas_engine.store.models import (
    Account,
    Attachment,
    Calendar,
    Category,
    Contact,
    Event,
    File,
    Message,
    Thread,
    Transaction,
)

START = "0"

# The types a client may name in include_types / exclude_types (docs/protocol.md §15).
FILTERABLE_TYPES = frozenset(
    ("contact", "message", "event", "file", "thread", "calendar", "draft", "folder", "label")
)


@dataclass(frozen=True)
class Source:
    """Where the current state of one object type lives."""

    model: Any
    condition: ColumnElement[bool]
    options: tuple[LoaderOption, ...] = ()


_SOURCES: dict[str, Source] = {
    "message": Source(Message, Message.is_draft.is_(False), (selectinload(Message.events),)),
    "draft": Source(Message, Message.is_draft.is_(True)),
    "thread": Source(Thread, true()),
    # file_json reads each attachment's message: load them with the files, not one by one.
    "file": Source(
        File, true(), (selectinload(File.attachments).selectinload(Attachment.message),)
    ),
    "folder": Source(Category, Category.type == "folder"),
    "label": Source(Category, Category.type == "label"),
    "contact": Source(Contact, true()),
    "calendar": Source(Calendar, true()),
    # An event lives as long as its calendar does.
    "event": Source(Event, Event.calendar.has(Calendar.deleted_at.is_(None))),
}


@dataclass(frozen=True)
class TypeFilter:
    """Which object types a page shows: `include` (None = all) minus `exclude`."""

    include: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()


@dataclass
class Page:
    """Deltas as (transaction, current object or None for a delete), in transaction order.

    `end` is the position to continue from: the last delta's transaction, or, when every
    scanned transaction named a vanished object, the last one scanned (so they are not
    scanned again). It equals the start position when the log had nothing new.
    """

    items: list[tuple[Transaction, Any]] = field(default_factory=list)
    end: int = 0
    end_cursor: str | None = None  # None: nothing was scanned, the page ends where it began


def position_of(session: Session, account: Account, cursor: str) -> int | None:
    """The transaction id a cursor stands for (0 for "0"); None if it is not this account's."""
    if cursor == START:
        return 0
    found: int | None = session.scalar(
        select(Transaction.id).where(
            Transaction.account_id == account.id, Transaction.public_id == cursor
        )
    )
    return found


def latest_cursor(session: Session, account: Account) -> str:
    """The cursor of the account's newest transaction, or "0" for an empty log."""
    cursor: str | None = session.scalar(
        select(Transaction.public_id)
        .where(Transaction.account_id == account.id)
        .order_by(Transaction.id.desc())
        .limit(1)
    )
    return cursor or START


def cursor_before(session: Session, account: Account, timestamp: int) -> str:
    """The cursor of the last transaction created before `timestamp` (unix seconds), or "0"."""
    # Any time outside a 64-bit column is before or after every transaction alike.
    timestamp = max(-(2**63), min(timestamp, 2**63 - 1))
    cursor: str | None = session.scalar(
        select(Transaction.public_id)
        .where(Transaction.account_id == account.id, Transaction.created_at < timestamp)
        .order_by(Transaction.id.desc())
        .limit(1)
    )
    return cursor or START


def transactions_after(
    session: Session, account: Account, position: int, types: TypeFilter, limit: int
) -> list[Transaction]:
    stmt = select(Transaction).where(
        Transaction.account_id == account.id, Transaction.id > position
    )
    if types.include is not None:
        stmt = stmt.where(Transaction.object_type.in_(sorted(types.include)))
    if types.exclude:
        stmt = stmt.where(Transaction.object_type.not_in(sorted(types.exclude)))
    return list(session.scalars(stmt.order_by(Transaction.id).limit(limit)))


def current_objects(
    session: Session, account: Account, object_type: str, public_ids: Iterable[str]
) -> dict[str, Any]:
    """Live (not deleted) objects of one type by public id, in a single query."""
    wanted = set(public_ids)
    if not wanted:
        return {}
    if object_type == "account":
        live = account.deleted_at is None and account.public_id in wanted
        return {account.public_id: account} if live else {}
    source = _SOURCES.get(object_type)
    if source is None:
        return {}
    model = source.model
    stmt = select(model).where(
        model.account_id == account.id,
        model.public_id.in_(sorted(wanted)),
        model.deleted_at.is_(None),
        source.condition,
    )
    if source.options:
        stmt = stmt.options(*source.options)
    return {obj.public_id: obj for obj in session.scalars(stmt).unique()}


def _collapse(transactions: list[Transaction]) -> list[Transaction]:
    """The latest transaction of each (type, object, command), in transaction order."""
    latest: dict[tuple[str, str, str], Transaction] = {}
    for trx in transactions:
        latest[(trx.object_type, trx.object_public_id, trx.command)] = trx
    return sorted(latest.values(), key=lambda t: t.id)


def page_after(
    session: Session, account: Account, position: int, types: TypeFilter, limit: int
) -> Page:
    """The next page of deltas after `position`, scanning `limit` transactions at a time.

    A scan in which every object has vanished yields nothing, so scanning goes on until a
    scan yields deltas or the log ends."""
    page = Page(end=position)
    while True:
        transactions = transactions_after(session, account, page.end, types, limit)
        if not transactions:
            return page
        kept = _collapse(transactions)
        wanted: dict[str, set[str]] = defaultdict(set)
        for trx in kept:
            if trx.command != "delete":
                wanted[trx.object_type].add(trx.object_public_id)
        objects = {
            type_: current_objects(session, account, type_, ids) for type_, ids in wanted.items()
        }
        for trx in kept:
            if trx.command == "delete":
                page.items.append((trx, None))
            elif (obj := objects[trx.object_type].get(trx.object_public_id)) is not None:
                page.items.append((trx, obj))
        last = page.items[-1][0] if page.items else transactions[-1]
        page.end, page.end_cursor = last.id, last.public_id
        if page.items:
            return page
