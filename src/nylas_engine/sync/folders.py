"""The account's IMAP folders as categories: roles from SPECIAL-USE, else from well-known names.

A remote folder is matched to a category by its IMAP path (`remote_name`). A new account
already has local standard folders (Inbox, Sent, ...) without a remote path: the first remote
folder with that role claims it, so ids handed out before the first sync stay valid.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from nylas_engine.store.mail import category_kind
from nylas_engine.store.models import Account, Category, now
from nylas_engine.store.roles import role_for_name

SPECIAL_USE_ROLES = {
    b"\\sent": "sent",
    b"\\drafts": "drafts",
    b"\\trash": "trash",
    b"\\junk": "spam",
    b"\\archive": "archive",
    b"\\all": "all",
    b"\\important": "important",  # RFC 8457; Gmail's [Gmail]/Important
}
# Synced first, in this order, so the inbox is usable early; other folders follow by name.
ROLE_ORDER = ["inbox", "sent", "drafts", "archive"]
SKIP_FLAGS = {b"\\noselect", b"\\nonexistent"}


@dataclass(frozen=True)
class RemoteFolder:
    name: str  # the IMAP path, as LIST returned it (imapclient decodes modified UTF-7)
    delimiter: str | None
    role: str | None

    @property
    def display_name(self) -> str:
        if self.role == "inbox":
            return "Inbox"
        if self.delimiter and self.delimiter != "/":
            return self.name.replace(self.delimiter, "/")
        return self.name


def role_for(name: str, flags: Iterable[bytes], delimiter: str | None) -> str | None:
    for flag in flags:
        if role := SPECIAL_USE_ROLES.get(flag.lower()):
            return role
    if name.upper() == "INBOX":
        return "inbox"
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    # "[Gmail]/Sent Mail" style and top-level "Sent" both count; a nested "Work/Sent" does not.
    if leaf == name or name.startswith("[") or name.upper().startswith("INBOX"):
        return role_for_name(leaf)
    return None


def list_remote_folders(client: IMAPClient) -> list[RemoteFolder]:
    """Selectable folders, roles decided, each role given to one folder only, sync order."""
    folders: list[RemoteFolder] = []
    taken: set[str] = set()
    listed = client.list_folders()
    # SPECIAL-USE flags win over names: give out flagged roles first.
    listed.sort(key=lambda item: not any(f.lower() in SPECIAL_USE_ROLES for f in item[0]))
    for flags, delimiter, name in listed:
        if any(f.lower() in SKIP_FLAGS for f in flags):
            continue
        sep = delimiter.decode() if isinstance(delimiter, bytes) else delimiter
        name = name.decode() if isinstance(name, bytes) else str(name)
        role = role_for(name, flags, sep)
        if role in taken:
            role = None
        if role:
            taken.add(role)
        folders.append(RemoteFolder(name, sep, role))

    def order(folder: RemoteFolder) -> tuple[int, str]:
        rank = ROLE_ORDER.index(folder.role) if folder.role in ROLE_ORDER else len(ROLE_ORDER)
        return rank, folder.name.lower()

    return sorted(folders, key=order)


def _live(account: Account) -> Select[Any]:
    return select(Category).where(
        Category.account_id == account.id,
        Category.type == category_kind(account),
        Category.deleted_at.is_(None),
    )


def match_folders(
    session: Session, account: Account, remote: list[RemoteFolder]
) -> tuple[list[tuple[RemoteFolder, Category]], list[Category]]:
    """Pair each remote folder with a category (claiming or creating one).

    Returns the pairs in sync order, and the synced categories whose folder is gone from the
    server (the caller removes them once the other folders are synced, so messages that moved
    are found in their new folder rather than deleted and re-created).
    """
    categories: list[Category] = list(session.scalars(_live(account)))
    # Folders deleted through the API but not yet on the server must not come back.
    pending_delete = set(
        session.scalars(
            select(Category.remote_name).where(
                Category.account_id == account.id,
                Category.deleted_at.is_not(None),
                Category.remote_name.is_not(None),
            )
        )
    )
    remote = [f for f in remote if f.name not in pending_delete]
    by_remote = {c.remote_name: c for c in categories if c.remote_name is not None}
    unclaimed = [c for c in categories if c.remote_name is None]
    pairs: list[tuple[RemoteFolder, Category]] = []
    for folder in remote:
        category = by_remote.pop(folder.name, None)
        if category is None:
            category = _claim(unclaimed, folder)
        if category is None:
            category = Category(account_id=account.id, type=category_kind(account), display_name="")
            session.add(category)
        category.remote_name = folder.name
        if category.display_name != folder.display_name:
            category.display_name = folder.display_name
        if folder.role and category.name != folder.role:
            category.name = folder.role
        pairs.append((folder, category))
    session.flush()
    return pairs, list(by_remote.values())


def _claim(unclaimed: list[Category], folder: RemoteFolder) -> Category | None:
    for category in unclaimed:
        if (folder.role and category.name == folder.role) or (
            category.display_name == folder.display_name and category.name in (None, folder.role)
        ):
            unclaimed.remove(category)
            return category
    return None


def remove_category(session: Session, category: Category) -> None:
    """The folder is gone from the server: soft-delete it (delta reports the deletion)."""
    category.deleted_at = now()
    category.remote_name = None
