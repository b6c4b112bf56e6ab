"""Thread queries and thread-wide updates (docs/protocol.md §6).

A thread filter on message fields holds when *some* live message of the thread matches it;
every such filter is its own EXISTS, as in the old engine (`from=a&to=b` may match through
two different messages). `unread`/`starred` are existence tests over non-draft messages.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Select, exists, select
from sqlalchemy.orm import Session

from nylas_engine.errors import InvalidRequest
from nylas_engine.store import messages as msgs
from nylas_engine.store.categories import kind_of
from nylas_engine.store.messages import MailFilters
from nylas_engine.store.models import Account, Category, Message, Thread, ThreadSummary
from nylas_engine.store.stale import apply_once_more_if_stale


def _some_message(*conds: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(Message.thread_id == Thread.id, Message.deleted_at.is_(None), *conds)


def _summary(cond: ColumnElement[bool]) -> ColumnElement[bool]:
    return exists().where(ThreadSummary.thread_id == Thread.id, cond)


def list_threads(account: Account, f: MailFilters) -> Select[Any]:
    """Live threads matching `f`, most recent activity first."""
    conds = [_some_message(c) for c in msgs.message_conditions(account, f)]
    if f.unread:  # "some non-draft message is unread" is what the summary stores
        conds.append(_summary(ThreadSummary.unread.is_(True)))
    elif f.unread is not None:
        conds.append(_some_message(Message.is_draft.is_(False), Message.unread.is_(False)))
    if f.starred:
        conds.append(_summary(ThreadSummary.starred.is_(True)))
    elif f.starred is not None:
        conds.append(_some_message(Message.is_draft.is_(False), Message.starred.is_(False)))
    return (
        select(Thread)
        .where(
            Thread.account_id == account.id,
            Thread.deleted_at.is_(None),
            *msgs.thread_time_conditions(f),
            *conds,
        )
        .order_by(Thread.last_message_ts.desc(), Thread.id.desc())
    )


def find_thread(session: Session, account: Account, public_id: str) -> Thread | None:
    thread: Thread | None = session.scalar(
        select(Thread).where(
            Thread.account_id == account.id,
            Thread.public_id == public_id,
            Thread.deleted_at.is_(None),
        )
    )
    return thread


def _is_sent(message: Message) -> bool:
    return message.is_sent or any(c.name == "sent" for c in message.categories)


def update_thread(
    session: Session, account: Account, thread: Thread, body: dict[str, Any]
) -> Thread:
    """PUT /threads/{id}: only unread, starred, folder(_id) or label(s|_ids) are allowed.

    The change applies to every non-draft message; a folder move leaves sent messages
    where they are. A label set is the thread's complete new set: additions and removals
    are worked out against the union of its messages' labels.
    """
    body = dict(body)
    unread, starred = msgs.pop_flags(body)
    folder: Category | None = None
    labels: set[Category] | None = None
    if kind_of(account) == "label":
        labels = msgs.pop_labels(session, account, body)
    else:
        folder = msgs.pop_folder(session, account, body)
    if body:
        raise InvalidRequest(f"Unexpected attribute: {next(iter(body))}")

    def apply() -> None:
        live = [m for m in thread.messages if m.deleted_at is None]
        targets = [m for m in live if not m.is_draft]
        if labels is not None:
            current = set().union(*(msgs.live_categories(m) for m in live))
            added, removed = labels - current, current - labels
            msgs.check_label_change(added, removed)
            for message in targets:
                msgs.change_labels(session, account, message, added, removed)
        if folder is not None:
            for message in targets:
                if not _is_sent(message):
                    msgs.move_to_folder(message, folder)
        for message in targets:
            msgs.set_flags(message, unread, starred)
        session.flush()

    apply_once_more_if_stale(session, apply, lambda: list(thread.messages))
    return thread
