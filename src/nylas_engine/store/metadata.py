"""Metadata rows (`MetadataEntry`): what the `metadata_*` filters search, one row per key.

Messages, drafts, events and calendars keep their metadata in a JSON column, which is what
reads and deltas return. Their rows follow that column: `install` hooks the session's flush,
so every writer (API, sync, import) keeps them in step without knowing they exist, in the
same transaction. An account's metadata belongs to the app that set it through
/a/{client_id}/accounts: it lives only in rows carrying that `app_id`, so one app never sees
or matches another's (and none can touch the operator's `Account.metadata_`).

A filter is an EXISTS per term on (account_id, key, value)-indexed rows: portable SQL that
SQLite and PostgreSQL both answer from the index, whatever the objects' other filters.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, delete, event, exists, func, insert, inspect, or_, select
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


def conditions(
    owner: ColumnElement[bool],
    account_id: Any,
    f: MetadataFilter | None,
    *,
    extra: Iterable[ColumnElement[bool]] = (),
) -> list[ColumnElement[bool]]:
    """One EXISTS per filter term: a row of this owner (`owner` is its column in
    MetadataEntry, compared with the outer query's object), in this account, that matches.
    `extra` narrows the rows further (an app, or a join to a thread's messages)."""
    if not f:
        return []
    base = [MetadataEntry.account_id == account_id, *extra]

    def term(*where: ColumnElement[bool]) -> ColumnElement[bool]:
        return exists().where(*base, *where)

    result = [term(owner, MetadataEntry.key == key) for key in f.keys]
    result += [term(owner, MetadataEntry.value == value) for value in f.values]
    result += [
        term(owner, MetadataEntry.key == key, MetadataEntry.value == value)
        for key, value in f.pairs
    ]
    for text in f.searches:
        pattern = f"%{_escape_like(text.lower())}%"
        result.append(
            term(
                owner,
                or_(
                    func.lower(MetadataEntry.key).like(pattern, escape="\\"),
                    func.lower(MetadataEntry.value).like(pattern, escape="\\"),
                ),
            )
        )
    return result


def message_conditions(f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    return conditions(MetadataEntry.message_id == Message.id, Message.account_id, f)


def event_conditions(f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    return conditions(MetadataEntry.event_id == Event.id, Event.account_id, f)


def calendar_conditions(f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    return conditions(MetadataEntry.calendar_id == Calendar.id, Calendar.account_id, f)


def app_account_conditions(app: App, f: MetadataFilter | None) -> list[ColumnElement[bool]]:
    """For a query over accounts: their metadata as `app` set it."""
    return conditions(
        MetadataEntry.account_id == Account.id,
        Account.id,
        f,
        extra=(MetadataEntry.app_id == app.id,),
    )


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
