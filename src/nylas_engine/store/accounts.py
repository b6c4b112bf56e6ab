"""Account queries and the default folders every new account starts with."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nylas_engine.security import hash_password
from nylas_engine.store.models import Account, Calendar, Category, Event

STANDARD_FOLDERS = [
    ("inbox", "Inbox"),
    ("sent", "Sent"),
    ("drafts", "Drafts"),
    ("trash", "Trash"),
    ("spam", "Junk"),
    ("archive", "Archive"),
]
STANDARD_LABELS = [
    ("inbox", "Inbox"),
    ("all", "All Mail"),
    ("sent", "Sent Mail"),
    ("drafts", "Drafts"),
    ("trash", "Trash"),
    ("spam", "Spam"),
    ("important", "Important"),
]


def create_account(
    session: Session,
    email_address: str,
    *,
    name: str = "",
    provider: str = "custom",
    organization_unit: str = "folder",
    password: str | None = None,
    with_standard_folders: bool = True,
    **fields: Any,
) -> Account:
    """A new local account, with its standard folders (or labels) and a primary calendar."""
    account = Account(
        email_address=email_address,
        name=name,
        provider=provider,
        organization_unit=organization_unit,
        password_hash=hash_password(password) if password else None,
        **fields,
    )
    session.add(account)
    session.flush()
    if with_standard_folders:
        kind = "label" if organization_unit == "label" else "folder"
        roles = STANDARD_LABELS if kind == "label" else STANDARD_FOLDERS
        for role, display in roles:
            session.add(Category(account_id=account.id, type=kind, name=role, display_name=display))
        session.add(
            Calendar(
                account_id=account.id,
                name=name or email_address,
                description="Primary calendar",
                is_primary=True,
            )
        )
    session.flush()
    return account


def live_accounts() -> Select[Any]:
    return select(Account).where(Account.deleted_at.is_(None)).order_by(Account.id)


def find_by_public_id(session: Session, public_id: str) -> Account | None:
    account: Account | None = session.scalar(live_accounts().where(Account.public_id == public_id))
    return account


def find_by_email(session: Session, email: str) -> Account | None:
    account: Account | None = session.scalar(live_accounts().where(Account.email_address == email))
    return account


def owner_of_event(session: Session, event_public_id: str) -> Account | None:
    """The live account an event belongs to."""
    account: Account | None = session.scalar(
        live_accounts()
        .join(Event, Event.account_id == Account.id)
        .where(Event.public_id == event_public_id)
    )
    return account
