"""Contact queries (docs/protocol.md §13). Every query is filtered on the account.

The list filters look inside the JSON lists (emails, phone numbers, addresses, groups), which
SQL cannot do portably; `ContactFilter.matches` applies them in Python to the account's
contacts, which `needs_scan` tells the caller to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nylas_engine.store.blobs import BlobStore
from nylas_engine.store.models import Account, Contact, now


@dataclass
class ContactFilter:
    email: str | None = None  # any of the contact's emails, case-insensitive
    phone_number: str | None = None  # same digits (formatting ignored)
    street_address: str | None = None  # the address fields: case-insensitive, exact
    postal_code: str | None = None
    state: str | None = None
    country: str | None = None
    source: str | None = None
    group: str | None = None  # a group id

    @property
    def needs_scan(self) -> bool:
        return any(
            v is not None
            for v in (
                self.email,
                self.phone_number,
                self.street_address,
                self.postal_code,
                self.state,
                self.country,
                self.group,
            )
        )

    def matches(self, contact: Contact) -> bool:
        if self.email is not None and _fold(self.email) not in {
            _fold(e.get("email")) for e in contact.emails or []
        }:
            return False
        if self.phone_number is not None and _digits(self.phone_number) not in {
            _digits(p.get("number")) for p in contact.phone_numbers or []
        }:
            return False
        for key in ("street_address", "postal_code", "state", "country"):
            wanted = getattr(self, key)
            if wanted is not None and _fold(wanted) not in {
                _fold(a.get(key)) for a in contact.physical_addresses or []
            }:
                return False
        return self.group is None or self.group in {g.get("id") for g in contact.groups or []}


def _fold(value: Any) -> str:
    return str(value or "").strip().casefold()


def _digits(value: Any) -> str:
    return re.sub(r"\D", "", str(value or ""))


def contacts(account: Account, f: ContactFilter | None = None) -> Select[Any]:
    """The account's live contacts in creation order (SQL-side filters only)."""
    stmt = select(Contact).where(Contact.account_id == account.id, Contact.deleted_at.is_(None))
    if f is not None and f.source is not None:
        stmt = stmt.where(Contact.source == f.source)
    return stmt.order_by(Contact.id)


def scan(session: Session, account: Account, f: ContactFilter) -> list[Contact]:
    return [c for c in session.scalars(contacts(account, f)) if f.matches(c)]


def find_contact(session: Session, account: Account, public_id: str) -> Contact | None:
    found: Contact | None = session.scalar(contacts(account).where(Contact.public_id == public_id))
    return found


def create_contact(session: Session, account: Account, fields: dict[str, Any]) -> Contact:
    contact = Contact(account_id=account.id, **fields)
    session.add(contact)
    session.flush()
    return contact


def update_contact(contact: Contact, fields: dict[str, Any]) -> None:
    for name, value in fields.items():
        setattr(contact, name, value)


def delete_contact(contact: Contact) -> None:
    contact.deleted_at = now()


def set_picture(blobs: BlobStore, contact: Contact, data: bytes, content_type: str) -> None:
    """Keep the image in the blob store under its SHA-256; the contact points at it."""
    contact.picture_sha256, _size = blobs.put_bytes(data)
    contact.picture_content_type = content_type


def clear_picture(contact: Contact) -> None:
    contact.picture_sha256 = None
    contact.picture_content_type = None
