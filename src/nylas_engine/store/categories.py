"""Folders and labels (docs/protocol.md §11): lookups, the `in` filter, create/rename/delete checks.

An account has one kind of category: labels when its `organization_unit` is `label` (Gmail),
folders otherwise. A category with a non-null `name` (its role: inbox, sent, ...) is standard
and can be neither renamed nor deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, exists, or_, select
from sqlalchemy.orm import Session

from nylas_engine.blank import is_blank
from nylas_engine.errors import InvalidRequest
from nylas_engine.store.models import Account, Category, Message, message_categories, now

MAX_DISPLAY_NAME = 191


def kind_of(account: Account) -> str:
    """`label` for Gmail-style accounts, `folder` for every other one."""
    return "label" if account.organization_unit == "label" else "folder"


# Folder names (lowercased) that carry a role, as mail clients and servers name them: what an
# import or an IMAP server without SPECIAL-USE says Sent or Trash with.
ROLE_NAMES = {
    "inbox": "inbox",
    "sent": "sent",
    "sent items": "sent",
    "sent mail": "sent",
    "sent messages": "sent",
    "drafts": "drafts",
    "draft": "drafts",
    "trash": "trash",
    "deleted items": "trash",
    "deleted messages": "trash",
    "bin": "trash",
    "junk": "spam",
    "junk e-mail": "spam",
    "junk email": "spam",
    "spam": "spam",
    "bulk mail": "spam",
    "archive": "archive",
    "archives": "archive",
    "all mail": "all",
}


def role_for_name(name: str) -> str | None:
    """The role a folder of this name plays (`Sent Items` -> sent), None for other names."""
    return ROLE_NAMES.get(name.strip().lower())


def live_categories(account: Account, kind: str) -> Select[Any]:
    """The account's folders (or labels) in creation order, deleted ones excluded."""
    return (
        select(Category)
        .where(
            Category.account_id == account.id,
            Category.type == kind,
            Category.deleted_at.is_(None),
        )
        .order_by(Category.id)
    )


def find(session: Session, account: Account, kind: str, public_id: str) -> Category | None:
    category: Category | None = session.scalar(
        live_categories(account, kind).where(Category.public_id == public_id)
    )
    return category


def by_role(session: Session, account: Account, role: str) -> Category | None:
    category: Category | None = session.scalar(
        live_categories(account, kind_of(account)).where(Category.name == role)
    )
    return category


def matching_ids(account: Account, value: str) -> Select[Any]:
    """Ids of the categories an `in=` value names: canonical name, display name or id."""
    return select(Category.id).where(
        Category.account_id == account.id,
        Category.deleted_at.is_(None),
        or_(
            Category.name == value,
            Category.display_name == value,
            Category.public_id == value,
        ),
    )


def _display_name(body: dict[str, Any]) -> str:
    value = body.get("display_name")
    if not isinstance(value, str) or is_blank(value):
        raise InvalidRequest('"display_name" must be a valid string')
    if len(value) > MAX_DISPLAY_NAME:
        raise InvalidRequest(f'"display_name" must be at most {MAX_DISPLAY_NAME} characters long')
    return value


def _check_unique(
    session: Session, account: Account, kind: str, name: str, exclude: int | None = None
) -> None:
    stmt = live_categories(account, kind).where(Category.display_name == name)
    if exclude is not None:
        stmt = stmt.where(Category.id != exclude)
    if session.scalar(stmt) is not None:
        raise InvalidRequest(f'{kind.capitalize()} with name "{name}" already exists')


def create(session: Session, account: Account, kind: str, body: dict[str, Any]) -> Category:
    name = _display_name(body)
    _check_unique(session, account, kind, name)
    category = Category(account_id=account.id, type=kind, name=None, display_name=name)
    session.add(category)
    session.flush()
    return category


def rename(
    session: Session, account: Account, category: Category, body: dict[str, Any]
) -> Category:
    name = _display_name(body)
    if category.name is not None:
        raise InvalidRequest(f"Cannot modify a standard {category.type}")
    _check_unique(session, account, category.type, name, exclude=category.id)
    category.display_name = name
    session.flush()
    return category


def holds_messages(session: Session, category: Category) -> bool:
    """True if a live message (or draft) is still filed in the category."""
    stmt = select(
        exists().where(
            message_categories.c.category_id == category.id,
            message_categories.c.message_id == Message.id,
            Message.deleted_at.is_(None),
        )
    )
    return bool(session.scalar(stmt))


def delete(session: Session, category: Category) -> None:
    if category.name is not None:
        raise InvalidRequest(f"Cannot delete a standard {category.type}")
    if category.type == "folder" and holds_messages(session, category):
        raise InvalidRequest(
            f"Folder {category.public_id} cannot be deleted because it contains messages."
        )
    category.deleted_at = now()
    session.flush()
