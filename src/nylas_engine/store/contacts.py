"""Contact queries (docs/protocol.md §13). Every query is filtered on the account.

The list filters look inside the JSON lists (emails, phone numbers, addresses, groups), which
SQL cannot do portably; `ContactFilter.matches` applies them in Python to the account's
contacts, which `needs_scan` tells the caller to do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, Text, cast, func, select
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


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _candidates(account: Account, f: ContactFilter) -> Select[Any]:
    """`contacts(account, f)` narrowed in SQL to rows whose stored JSON contains each wanted
    value as text (case-insensitively): a superset of the matches, which `matches` then
    decides exactly. Only plain ASCII values narrow (JSON text escapes the rest), and only
    the values compared as they are (not phone numbers, compared by digits)."""
    stmt = contacts(account, f)
    wanted = [
        (Contact.emails, f.email),
        (Contact.physical_addresses, f.street_address),
        (Contact.physical_addresses, f.postal_code),
        (Contact.physical_addresses, f.state),
        (Contact.physical_addresses, f.country),
        (Contact.groups, f.group),
    ]
    for column, value in wanted:
        text = (value or "").strip()
        if text and text.isascii() and text.isprintable() and not set(text) & {'"', "\\"}:
            pattern = f"%{_escape_like(text.lower())}%"
            stmt = stmt.where(func.lower(cast(column, Text)).like(pattern, escape="\\"))
    return stmt


def scan(session: Session, account: Account, f: ContactFilter) -> list[Contact]:
    """Every contact matching `f`."""
    return [c for c in session.scalars(_candidates(account, f)) if f.matches(c)]


def scan_page(
    session: Session, account: Account, f: ContactFilter, limit: int, offset: int
) -> list[Contact]:
    """One page of the contacts matching `f`: candidates are read in batches, and no
    further than the page's end."""
    found: list[Contact] = []
    end = offset + limit
    if limit == 0:
        return found
    result = session.scalars(_candidates(account, f).execution_options(yield_per=200))
    try:
        for contact in result:
            if f.matches(contact):
                found.append(contact)
                if len(found) >= end:
                    break
    finally:
        result.close()
    return found[offset:end]


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
