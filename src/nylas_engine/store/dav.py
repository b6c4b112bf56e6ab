"""What the engine knows of an account's CalDAV/CardDAV servers (nylas_engine/dav/).

`DavAccount` holds the endpoints and, sealed, a password of their own (none: the mail
password). Each calendar or address book on the server is a `DavCollection` with the
sync token (RFC 6578) or CTag of its last complete sync; each object in it a `DavObject`
(href, ETag, the server's text as last seen, and the event or contact it became).

Restart safety: a collection's token is written only after every change it covers is
stored, and objects are keyed by (collection, href), so a sync cut short is simply run
again: what was applied is found by href and updated in place, never added twice.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    cast,
    delete,
    false,
    func,
    select,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from nylas_engine.store.models import Base, Contact, Event, now


class DavAccount(Base):
    __tablename__ = "dav_accounts"
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    caldav_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    carddav_url: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    username: Mapped[str | None] = mapped_column(String(255), nullable=True)
    sealed_password: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    # The calendar server sends invitations itself (RFC 6638 `calendar-auto-schedule`).
    auto_schedule: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[int] = mapped_column(BigInteger, default=now)


class DavCollection(Base):
    __tablename__ = "dav_collections"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # calendar | addressbook
    href: Mapped[str] = mapped_column(String(2048))  # absolute URL
    display_name: Mapped[str] = mapped_column(String(255), default="")
    sync_token: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    ctag: Mapped[str | None] = mapped_column(String(1024), nullable=True)
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    calendar_id: Mapped[int | None] = mapped_column(
        ForeignKey("calendars.id", ondelete="SET NULL"), nullable=True
    )
    __table_args__ = (UniqueConstraint("account_id", "href", name="uq_dav_collection_href"),)


class DavObject(Base):
    __tablename__ = "dav_objects"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id", ondelete="CASCADE"))
    collection_id: Mapped[int] = mapped_column(ForeignKey("dav_collections.id", ondelete="CASCADE"))
    href: Mapped[str] = mapped_column(String(2048))  # absolute URL
    etag: Mapped[str | None] = mapped_column(String(255), nullable=True)  # None: PUT not done
    uid: Mapped[str | None] = mapped_column(String(998), nullable=True)
    raw: Mapped[str | None] = mapped_column(Text, nullable=True)
    event_id: Mapped[int | None] = mapped_column(
        ForeignKey("events.id", ondelete="SET NULL"), nullable=True
    )
    contact_id: Mapped[int | None] = mapped_column(
        ForeignKey("contacts.id", ondelete="SET NULL"), nullable=True
    )
    __table_args__ = (
        UniqueConstraint("collection_id", "href", name="uq_dav_object_href"),
        Index("ix_dav_objects_event", "event_id"),  # migration 0018
        Index("ix_dav_objects_contact", "contact_id"),
    )


# ------------------------------------------------------------------------------ queries


def dav_account(session: Session, account_id: int) -> DavAccount | None:
    return session.get(DavAccount, account_id)


def dav_account_ids(session: Session) -> list[int]:
    from nylas_engine.store.models import Account

    rows = session.scalars(
        select(DavAccount.account_id)
        .join(Account, Account.id == DavAccount.account_id)
        .where(Account.deleted_at.is_(None), Account.billing_state != "cancelled")
    )
    return list(rows)


def set_dav_account(session: Session, account_id: int, **fields: Any) -> DavAccount:
    found = session.get(DavAccount, account_id)
    if found is None:
        found = DavAccount(account_id=account_id)
        session.add(found)
    for name, value in fields.items():
        setattr(found, name, value)
    session.flush()
    return found


def collections(session: Session, account_id: int, kind: str | None = None) -> list[DavCollection]:
    stmt = select(DavCollection).where(DavCollection.account_id == account_id)
    if kind is not None:
        stmt = stmt.where(DavCollection.kind == kind)
    return list(session.scalars(stmt.order_by(DavCollection.id)))


def collection_of_calendar(session: Session, calendar_id: int) -> DavCollection | None:
    found: DavCollection | None = session.scalar(
        select(DavCollection).where(DavCollection.calendar_id == calendar_id)
    )
    return found


def server_schedules(session: Session, calendar_id: int) -> bool:
    """Whether the calendar lives on a server that sends its invitations (RFC 6638)."""
    found = session.scalar(
        select(DavAccount.auto_schedule)
        .join(DavCollection, DavCollection.account_id == DavAccount.account_id)
        .where(DavCollection.calendar_id == calendar_id)
    )
    return bool(found)


def objects(session: Session, collection_id: int) -> dict[str, DavObject]:
    rows = session.scalars(select(DavObject).where(DavObject.collection_id == collection_id))
    return {row.href: row for row in rows}


def objects_at(session: Session, collection_id: int, hrefs: list[str]) -> dict[str, DavObject]:
    """The collection's objects at `hrefs` (a multiget batch's), by href."""
    rows = session.scalars(
        select(DavObject).where(DavObject.collection_id == collection_id, DavObject.href.in_(hrefs))
    )
    return {row.href: row for row in rows}


def etags(session: Session, collection_id: int) -> dict[str, str | None]:
    """href -> ETag of every object of the collection, without loading the objects."""
    rows = session.execute(
        select(DavObject.href, DavObject.etag).where(DavObject.collection_id == collection_id)
    )
    return {href: etag for href, etag in rows}


def object_by_href(session: Session, collection_id: int, href: str) -> DavObject | None:
    found: DavObject | None = session.scalar(
        select(DavObject).where(DavObject.collection_id == collection_id, DavObject.href == href)
    )
    return found


def object_of_event(session: Session, event_id: int) -> DavObject | None:
    found: DavObject | None = session.scalar(
        select(DavObject).where(DavObject.event_id == event_id)
    )
    return found


def object_of_contact(session: Session, contact_id: int) -> DavObject | None:
    found: DavObject | None = session.scalar(
        select(DavObject).where(DavObject.contact_id == contact_id)
    )
    return found


def forget_object(session: Session, obj: DavObject) -> None:
    session.execute(delete(DavObject).where(DavObject.id == obj.id))


def live_overrides(session: Session, master_id: int) -> list[Event]:
    """The changed occurrences of a series that are not deleted."""
    return list(
        session.scalars(
            select(Event).where(Event.master_event_id == master_id, Event.deleted_at.is_(None))
        )
    )


def live_series(session: Session, event_id: int) -> list[Event]:
    """An event and, for a series, its changed occurrences; those not deleted."""
    return list(
        session.scalars(
            select(Event).where(
                (Event.id == event_id) | (Event.master_event_id == event_id),
                Event.deleted_at.is_(None),
            )
        )
    )


def contacts_by_id(session: Session, ids: list[int]) -> list[Contact]:
    return list(session.scalars(select(Contact).where(Contact.id.in_(ids)))) if ids else []


def unlinked_raws(
    session: Session, collection_id: int | None = None, account_id: int | None = None
) -> list[str]:
    """The stored text of a collection's (or an account's address books') objects that are
    no contact or event: group cards, mostly (dav/groups.py)."""
    stmt = select(DavObject.raw).where(
        DavObject.contact_id.is_(None), DavObject.event_id.is_(None), DavObject.raw.is_not(None)
    )
    if collection_id is not None:
        stmt = stmt.where(DavObject.collection_id == collection_id)
    if account_id is not None:
        stmt = stmt.join(DavCollection, DavObject.collection_id == DavCollection.id).where(
            DavObject.account_id == account_id, DavCollection.kind == "addressbook"
        )
    return [raw for raw in session.scalars(stmt) if raw is not None]


def contact_groups(session: Session, account_id: int) -> list[list[dict[str, Any]]]:
    """The `groups` of the account's live contacts that have any."""
    rows = session.scalars(
        select(Contact.groups).where(
            Contact.account_id == account_id,
            Contact.deleted_at.is_(None),
            func.coalesce(cast(Contact.groups, Text), "[]").not_in(["[]", "null"]),
        )
    )
    return [list(groups) for groups in rows if groups]
