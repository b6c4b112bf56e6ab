"""What the sync records about an account for the API and the operator: its state, its last
error and its progress, and which accounts it runs for.

Written as plain UPDATEs: sync bookkeeping is not an API change, so it makes no delta.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nylas_engine.store.models import Account


def set_sync_state(session: Session, account_id: int, state: str, error: str | None = None) -> None:
    session.execute(
        update(Account).where(Account.id == account_id).values(sync_state=state, sync_error=error)
    )


def save_progress(session: Session, account_id: int, progress: dict[str, Any]) -> None:
    session.execute(update(Account).where(Account.id == account_id).values(sync_progress=progress))


_SYNCED = (  # the accounts the sync runs for: live, with an IMAP server, not cancelled
    Account.deleted_at.is_(None),
    Account.imap_host.is_not(None),
    Account.billing_state != "cancelled",
)


def imap_account_ids(session: Session) -> list[int]:
    """Accounts the sync should run for: live, with an IMAP server, not cancelled."""
    rows: Any = session.scalars(select(Account.id).where(*_SYNCED))
    return list(rows)


def imap_account_count(session: Session) -> int:
    """How many accounts `imap_account_ids` lists."""
    return int(session.scalar(select(func.count()).select_from(Account).where(*_SYNCED)) or 0)
