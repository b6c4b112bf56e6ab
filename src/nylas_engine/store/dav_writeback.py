"""API writes waiting to be pushed to an account's CalDAV/CardDAV server.

Every flush that creates or changes an event, contact or calendar of an account with DAV
endpoints queues a `DavPending` row in the same transaction (`install` hooks the session),
so a change is never committed without its push being owed, whatever writes it (a route,
an import, a script). The DAV sync itself marks its sessions (`SYNC_MARK`): what it writes
came from the server and is not pushed back. A pending row is removed in the transaction
that records the push's outcome; a crash before that pushes again, which the ETag check
(`If-Match`) makes harmless.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    String,
    delete,
    event,
    insert,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from nylas_engine.store.dav import DavAccount
from nylas_engine.store.models import Base, Calendar, Contact, Event, now

SYNC_MARK = "dav_sync"  # session.info key: the session writes what the server said


class DavPending(Base):
    __tablename__ = "dav_pending"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    object_type: Mapped[str] = mapped_column(String(16))  # event | contact | calendar
    object_id: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)
    __table_args__ = (Index("ix_dav_pending_account", "account_id", "id"),)  # migration 0018


_TYPES: dict[type, str] = {Event: "event", Contact: "contact", Calendar: "calendar"}


def _after_flush(session: Session, _ctx: Any) -> None:
    if session.info.get(SYNC_MARK):
        return
    changed = [
        (obj.account_id, _TYPES[type(obj)], obj.id)
        for obj in list(session.new) + list(session.dirty)
        if type(obj) in _TYPES and (obj in session.new or session.is_modified(obj))
    ]
    if not changed:
        return
    accounts = {account_id for account_id, _, _ in changed}
    with_dav = set(
        session.execute(
            select(DavAccount.account_id).where(DavAccount.account_id.in_(accounts))
        ).scalars()
    )
    rows = [
        {"account_id": a, "object_type": t, "object_id": i, "created_at": now()}
        for a, t, i in changed
        if a in with_dav
    ]
    if rows:
        session.execute(insert(DavPending), rows)


def install(sessions: Any) -> None:
    event.listen(sessions, "after_flush", _after_flush)


def pending(session: Session, account_id: int) -> list[DavPending]:
    return list(
        session.scalars(
            select(DavPending).where(DavPending.account_id == account_id).order_by(DavPending.id)
        )
    )


def has_pending(session: Session, account_id: int) -> bool:
    return (
        session.scalar(select(DavPending.id).where(DavPending.account_id == account_id).limit(1))
        is not None
    )


def done(session: Session, object_type: str, object_id: int, up_to: int) -> None:
    """Drop the queued pushes of one object up to pending row `up_to` (later writes stay)."""
    session.execute(
        delete(DavPending).where(
            DavPending.object_type == object_type,
            DavPending.object_id == object_id,
            DavPending.id <= up_to,
        )
    )
