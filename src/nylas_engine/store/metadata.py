"""Metadata rows (`MetadataEntry`): what the `metadata_*` filters search, one row per key.

Messages, drafts, events and calendars keep their metadata in a JSON column, which is what
reads and deltas return. Their rows follow that column: `install` hooks the session's flush,
so every writer (API, sync, import) keeps them in step without knowing they exist, in the
same transaction. An account's metadata belongs to the app that set it through
/a/{client_id}/accounts: it lives only in rows carrying that `app_id`, so one app never sees
or matches another's (and none can touch the operator's `Account.metadata_`).

A filter is an `id IN (rows matching the term)` per term, over rows indexed by
(account_id, key, value): portable SQL that SQLite and PostgreSQL both answer from the index,
whatever the objects' other filters.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, delete, event, func, insert, inspect, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nylas_engine.metadata import MetadataFilter, fits
from nylas_engine.store.models import Account, App, Calendar, Event, Message, MetadataEntry

# The owner column of the rows that follow each model's JSON column.
_OWNERS: dict[type, InstrumentedAttribute[int | None]] = {
    Message: MetadataEntry.message_id,
    Event: MetadataEntry.event_id,
    Calendar: MetadataEntry.calendar_id,
}


def _rows(account_id: int, mapping: Any, **owner: int) -> list[dict[str, Any]]:
    if not isinstance(mapping, dict):
        return []
    return [
        {"account_id": account_id, "key": key, "value": value, **owner}
        for key, value in mapping.items()
        if fits(key, value)
    ]


# ------------------------------------------------------------------------- following writes


def _after_flush(session: Session, _ctx: Any) -> None:
    connection = session.connection()
    for obj in list(session.new) + list(session.dirty):
        owner = _OWNERS.get(type(obj))
        if owner is None:
            continue
        state: Any = inspect(obj)
        if obj in session.new:
            mapping = state.dict.get("metadata_")
            if not mapping:
                continue
        elif state.attrs["metadata_"].history.has_changes():
            mapping = obj.metadata_
            connection.execute(delete(MetadataEntry).where(owner == obj.id))
        else:
            continue
        rows = _rows(obj.account_id, mapping, **{owner.key: obj.id})
        if rows:
            connection.execute(insert(MetadataEntry), rows)


def install(target: Any) -> None:
    """Attach the hook to a sessionmaker (or Session class)."""
    event.listen(target, "after_flush", _after_flush)


# ------------------------------------------------------------------------- filters


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _row_terms(f: MetadataFilter) -> list[ColumnElement[bool]]:
    """One condition on a row per filter term."""
    terms = [MetadataEntry.key == key for key in f.keys]
    terms += [MetadataEntry.value == value for value in f.values]
    terms += [and_(MetadataEntry.key == k, MetadataEntry.value == v) for k, v in f.pairs]
    for text in f.searches:
        pattern = f"%{_escape_like(text.lower())}%"
        terms.append(
            or_(
                func.lower(MetadataEntry.key).like(pattern, escape="\\"),
                func.lower(MetadataEntry.value).like(pattern, escape="\\"),
            )
        )
    return terms


def conditions(
    object_id: Any, owner: Any, account_id: int, f: MetadataFilter | None
) -> list[ColumnElement[bool]]:
    """One condition per filter term: `object_id` (the outer query's object, e.g.
    `Message.id`) is among the owners (`owner`, e.g. `MetadataEntry.message_id`) of a
    matching row of this account. An uncorrelated IN: the rows are found once, through the
    (account_id, key, value) index, rather than probed once per object (half the time on
    SQLite for a page of 50,000 messages)."""
    if not f:
        return []
    return [
        object_id.in_(select(owner).where(MetadataEntry.account_id == account_id, term))
        for term in _row_terms(f)
    ]


def message_conditions(account: Account, f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    return conditions(Message.id, MetadataEntry.message_id, account.id, f)


def event_conditions(account: Account, f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    return conditions(Event.id, MetadataEntry.event_id, account.id, f)


def calendar_conditions(account: Account, f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    return conditions(Calendar.id, MetadataEntry.calendar_id, account.id, f)


def app_account_conditions(app: App, f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    """For a query over accounts: their metadata as `app` set it."""
    if not f:
        return []
    return [
        Account.id.in_(select(MetadataEntry.account_id).where(MetadataEntry.app_id == app.id, c))
        for c in _row_terms(f)
    ]


# ------------------------------------------------------------------------- app-level accounts


def app_metadata(session: Session, app: App, accounts: list[Account]) -> dict[int, dict[str, str]]:
    """The metadata `app` set on each account (by account id; absent means none)."""
    found: dict[int, dict[str, str]] = {}
    if not accounts:
        return found
    rows = session.execute(
        select(MetadataEntry.account_id, MetadataEntry.key, MetadataEntry.value)
        .where(
            MetadataEntry.app_id == app.id,
            MetadataEntry.account_id.in_([a.id for a in accounts]),
        )
        .order_by(MetadataEntry.id)
    )
    for account_id, key, value in rows:
        found.setdefault(account_id, {})[key] = value
    return found


def set_app_metadata(session: Session, app: App, account: Account, mapping: dict[str, str]) -> None:
    """Replace the metadata `app` keeps on `account` (`mapping` already checked)."""
    session.execute(
        delete(MetadataEntry).where(
            MetadataEntry.app_id == app.id, MetadataEntry.account_id == account.id
        )
    )
    rows = _rows(account.id, mapping, app_id=app.id)
    if rows:
        session.execute(insert(MetadataEntry), rows)
