"""What webhook delivery reads and records (the CRUD is in `store.auth`).

A webhook covers the accounts its app holds tokens for (`/a/{client_id}/accounts`). For each
of them a `WebhookCursor` says how far notifications have gone in the account's delta log and
which sync state was last announced. A cursor starts where the webhook began (`start_cursors`)
or, for an account linked later, where its link to the app began: a webhook never hears of
what came before it.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, or_, select
from sqlalchemy.orm import Session

from nylas_engine.store.credentials import Vault
from nylas_engine.store.models import (
    AccessToken,
    Account,
    App,
    Message,
    Thread,
    Transaction,
    Webhook,
    WebhookCursor,
)


def keep_secret(app: App, secret: str, vault: Vault) -> None:
    """Remember the client secret (sealed) the first time it is shown to us, to sign the
    app's notifications: apps created before webhooks were delivered have only its hash."""
    if app.sealed_secret is None:
        app.sealed_secret = vault.seal_text(secret)


@dataclass(frozen=True)
class Linked:
    """One account a webhook covers, and where its notifications stand."""

    account_id: int
    public_id: str
    sync_state: str
    linked_at: int  # when the app got its first token for the account
    cursor: int | None  # None: not started yet
    announced_state: str | None


def linked_accounts(session: Session, webhook: Webhook) -> list[Linked]:
    first_token = (
        select(AccessToken.account_id, func.min(AccessToken.created_at).label("linked_at"))
        .where(AccessToken.app_id == webhook.app_id)
        .group_by(AccessToken.account_id)
        .subquery()
    )
    rows = session.execute(
        select(
            Account.id,
            Account.public_id,
            Account.sync_state,
            first_token.c.linked_at,
            WebhookCursor.transaction_id,
            WebhookCursor.sync_state,
        )
        .join(first_token, first_token.c.account_id == Account.id)
        .outerjoin(
            WebhookCursor,
            and_(WebhookCursor.account_id == Account.id, WebhookCursor.webhook_id == webhook.id),
        )
        .where(Account.deleted_at.is_(None))
        .order_by(Account.id)
    )
    return [Linked(*row) for row in rows]


def start_cursors(session: Session, webhook: Webhook) -> None:
    """A new (or reactivated) webhook starts at the end of each linked account's delta log:
    it hears of what happens from now on. Accounts linked later start where their link began
    (`next_batch`)."""
    session.execute(delete(WebhookCursor).where(WebhookCursor.webhook_id == webhook.id))
    for account in linked_accounts(session, webhook):
        session.add(
            WebhookCursor(
                webhook_id=webhook.id,
                account_id=account.account_id,
                transaction_id=last_transaction(session, account.account_id),
                sync_state=account.sync_state,
            )
        )
    session.flush()


def granted_scopes(session: Session, webhook: Webhook) -> dict[int, str]:
    """{account id: the scopes of every token the webhook's app holds for it, joined}: a
    webhook tells the app only what its tokens may read."""
    joined: dict[int, list[str]] = {}
    rows = session.execute(
        select(AccessToken.account_id, AccessToken.scopes).where(
            AccessToken.app_id == webhook.app_id
        )
    )
    for account_id, scopes in rows:
        joined.setdefault(account_id, []).append(scopes)
    return {account_id: ",".join(scopes) for account_id, scopes in joined.items()}


def last_transaction(session: Session, account_id: int, *, before: int | None = None) -> int:
    """The account's last delta-log row (0: none), or its last written before the timestamp
    `before`."""
    stmt = select(func.max(Transaction.id)).where(Transaction.account_id == account_id)
    if before is not None:
        stmt = stmt.where(Transaction.created_at < before)
    return int(session.scalar(stmt) or 0)


def transactions_after(
    session: Session, cursors: dict[int, int], limit: int
) -> list[tuple[Transaction, str]]:
    """The oldest `limit` delta-log rows past each account's cursor ({account id: cursor}),
    in log order, with their account's public id."""
    if not cursors:
        return []
    after = [
        and_(Transaction.account_id == account_id, Transaction.id > cursor)
        for account_id, cursor in cursors.items()
    ]
    rows = session.execute(
        select(Transaction, Account.public_id)
        .join(Account, Account.id == Transaction.account_id)
        .where(or_(*after))
        .order_by(Transaction.id)
        .limit(limit)
    )
    return [(txn, public_id) for txn, public_id in rows.tuples()]


def message_attributes(
    session: Session, account_ids: set[int], public_ids: set[str]
) -> dict[str, dict[str, object]]:
    """{message public id: {"thread_id", "received_date"}} for notifications about messages."""
    if not public_ids:
        return {}
    rows = session.execute(
        select(Message.public_id, Thread.public_id, Message.date)
        .join(Thread, Thread.id == Message.thread_id)
        .where(Message.account_id.in_(account_ids), Message.public_id.in_(public_ids))
    )
    return {
        public_id: {"thread_id": thread_id, "received_date": date}
        for public_id, thread_id, date in rows
    }


def save_cursors(session: Session, webhook_id: int, moves: dict[int, tuple[int, str]]) -> None:
    """Record how far delivery went: {account id: (delta-log row, announced sync state)}.
    Nothing is written for a webhook deleted meanwhile."""
    if session.get(Webhook, webhook_id) is None:
        return
    existing = {
        cursor.account_id: cursor
        for cursor in session.scalars(
            select(WebhookCursor).where(
                WebhookCursor.webhook_id == webhook_id, WebhookCursor.account_id.in_(moves)
            )
        )
    }
    for account_id, (transaction_id, sync_state) in moves.items():
        cursor = existing.get(account_id)
        if cursor is None:
            session.add(
                WebhookCursor(
                    webhook_id=webhook_id,
                    account_id=account_id,
                    transaction_id=transaction_id,
                    sync_state=sync_state,
                )
            )
        else:
            cursor.transaction_id = max(cursor.transaction_id, transaction_id)
            cursor.sync_state = sync_state
