"""The categories the sync pairs with server folders: lookups by account, by role and by the
folder state a sync keeps (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from nylas_engine.store.categories import kind_of
from nylas_engine.store.models import Account, Category


def live(session: Session, account: Account) -> list[Category]:
    """The account's live folders (or labels), whether on the server yet or not."""
    return list(
        session.scalars(
            select(Category).where(
                Category.account_id == account.id,
                Category.type == kind_of(account),
                Category.deleted_at.is_(None),
            )
        )
    )


def of_kind(session: Session, account: Account) -> list[Category]:
    """Every folder (or label) of the account, deleted ones included."""
    return list(
        session.scalars(
            select(Category).where(
                Category.account_id == account.id, Category.type == kind_of(account)
            )
        )
    )


def pending_delete_names(session: Session, account: Account) -> set[str]:
    """Server names of folders deleted through the API but not yet on the server."""
    return set(
        session.scalars(
            select(Category.remote_name).where(
                Category.account_id == account.id,
                Category.deleted_at.is_not(None),
                Category.remote_name.is_not(None),
            )
        )
    )


def on_server(session: Session, account_id: int) -> list[Category]:
    """The categories that have a server folder (deleted ones too: their copies may linger)."""
    return list(
        session.scalars(
            select(Category).where(
                Category.account_id == account_id, Category.remote_name.is_not(None)
            )
        )
    )


def sync_marks(
    session: Session, category_ids: list[int]
) -> dict[int, tuple[int | None, int | None]]:
    """{category id: (UIDNEXT, HIGHESTMODSEQ)} as of each folder's last sync."""
    rows = session.scalars(select(Category).where(Category.id.in_(category_ids)))
    return {c.id: (c.uidnext, c.highestmodseq) for c in rows}


def drafts_folder(session: Session, account_id: int) -> Category | None:
    """The account's Drafts folder, if it has one on the server."""
    folder: Category | None = session.scalar(
        select(Category).where(
            Category.account_id == account_id,
            Category.name == "drafts",
            Category.deleted_at.is_(None),
            Category.remote_name.is_not(None),
        )
    )
    return folder
