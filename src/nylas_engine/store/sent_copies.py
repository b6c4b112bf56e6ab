"""Messages sent through the API that no server folder holds yet: the write-back appends them
to the Sent folder once a server that files its own copy has had its chance."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sqlalchemy import Select, exists, select
from sqlalchemy.orm import Session

from nylas_engine.store.models import Account, Category, ImapUid, Message, message_categories


def _unfiled(account: Account, skip: Collection[int]) -> Select[int, int, str | None]:
    return (
        select(Message.id, Message.created_at, Category.remote_name)
        .join(message_categories, message_categories.c.message_id == Message.id)
        .join(Category, Category.id == message_categories.c.category_id)
        .where(
            Message.account_id == account.id,
            Message.is_sent.is_(True),
            Message.is_draft.is_(False),
            Message.deleted_at.is_(None),
            Message.raw_sha256.is_not(None),
            Message.created_at >= account.created_at,
            Category.name == "sent",
            Category.remote_name.is_not(None),
            ~exists().where(ImapUid.message_id == Message.id),
            Message.id.not_in(skip),
        )
    )


def unfiled(session: Session, account: Account, skip: Collection[int]) -> list[Any]:
    """(id, created_at, remote_name) of each sent message on no server folder yet, those in
    `skip` (already appended or given up on) left out."""
    return list(session.execute(_unfiled(account, skip)).all())


def unfiled_before(
    session: Session, account: Account, skip: Collection[int], created_before: int
) -> list[Any]:
    """(id, created_at, remote_name, raw_sha256, date) of those created before the time."""
    stmt = (
        _unfiled(account, skip)
        .add_columns(Message.raw_sha256, Message.date)
        .where(Message.created_at <= created_before)
    )
    return list(session.execute(stmt).all())
