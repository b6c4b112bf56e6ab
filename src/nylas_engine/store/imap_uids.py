"""The `ImapUid` rows: which server UID of which folder holds which message, and what the
store does when UIDs come and go (the sync's queries; sync/ speaks IMAP, this module SQL).

A message's categories are always exactly the folders it has a UID in (`reset_folders`), and
on Gmail the labels those UIDs carry (X-GM-LABELS, `store.gmail_labels`); a synced message
left in no folder at the end of a full pass is deleted (`delete_orphans`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from nylas_engine.search.index import remove_message
from nylas_engine.store.bulk import insert_rows
from nylas_engine.store.gmail_labels import LabelMap, label_map
from nylas_engine.store.mail import refresh_thread
from nylas_engine.store.models import (
    Account,
    Category,
    ImapUid,
    Message,
    Transaction,
    message_categories,
    now,
)


def in_folder(session: Session, category_id: int, uids: list[int] | None = None) -> list[ImapUid]:
    """The folder's UID rows (only those of `uids` if given)."""
    stmt = select(ImapUid).where(ImapUid.category_id == category_id)
    if uids is not None:
        stmt = stmt.where(ImapUid.uid.in_(uids))
    return list(session.scalars(stmt))


def count_in_folder(session: Session, category_id: int) -> int:
    count = session.scalar(select(func.count()).where(ImapUid.category_id == category_id))
    return int(count or 0)


def flags_in_folder(session: Session, category_id: int) -> dict[int, list[str]]:
    """{uid: flags as last seen} of one folder."""
    rows = session.execute(
        select(ImapUid.uid, ImapUid.flags).where(ImapUid.category_id == category_id)
    )
    return {int(uid): list(flags or []) for uid, flags in rows}


def count_for_account(session: Session, account_id: int) -> int:
    count = session.scalar(select(func.count(ImapUid.id)).where(ImapUid.account_id == account_id))
    return int(count or 0)


def counts_by_folder(session: Session, category_ids: list[int]) -> dict[int, int]:
    rows = session.execute(
        select(ImapUid.category_id, func.count(ImapUid.id))
        .where(ImapUid.category_id.in_(category_ids))
        .group_by(ImapUid.category_id)
    )
    return {int(category_id): int(count) for category_id, count in rows}


def of_message(session: Session, message_id: int) -> list[ImapUid]:
    return list(session.scalars(select(ImapUid).where(ImapUid.message_id == message_id)))


def is_in_folder(session: Session, message_id: int, category_id: int) -> bool:
    found = session.scalar(
        select(ImapUid.id).where(
            ImapUid.message_id == message_id, ImapUid.category_id == category_id
        )
    )
    return found is not None


def latest_change(session: Session, account_id: int) -> int:
    """The id of the account's newest delta-log row (0 if none)."""
    latest = session.scalar(
        select(func.max(Transaction.id)).where(Transaction.account_id == account_id)
    )
    return int(latest or 0)


def changed_since(
    session: Session, account_id: int, after: int | None, also: Collection[int]
) -> list[tuple[ImapUid, Message]]:
    """The UIDs (with their messages) of the messages changed since delta-log row `after`
    (all if None), and of the messages whose ids are in `also`."""
    stmt = (
        select(ImapUid, Message)
        .join(Message, Message.id == ImapUid.message_id)
        .where(ImapUid.account_id == account_id)
    )
    if after is not None:
        changed = (
            select(Transaction.object_public_id)
            .where(
                Transaction.account_id == account_id,
                Transaction.id > after,
                Transaction.object_type == "message",
            )
            .distinct()
        )
        stmt = stmt.where(or_(Message.public_id.in_(changed), Message.id.in_(also)))
    return [(row, message) for row, message in session.execute(stmt)]


def add_rows(session: Session, rows: list[dict[str, Any]]) -> None:
    """Record new UIDs (Core: no per-row ORM work on the bulk path)."""
    insert_rows(session.connection(), ImapUid.__table__, rows)


def remove(session: Session, row_ids: Iterable[int]) -> None:
    for row_id in row_ids:
        if (row := session.get(ImapUid, row_id)) is not None:
            session.delete(row)


def known_message_ids(
    session: Session, account: Account, message_ids: Iterable[str | None]
) -> set[str]:
    """Which of these Message-IDs the account already holds (one query per batch, so the
    common case, a message never seen before, costs no lookup of its own)."""
    wanted = list({m for m in message_ids if m})
    if not wanted:
        return set()
    rows = session.scalars(
        select(Message.message_id_header).where(
            Message.account_id == account.id, Message.message_id_header.in_(wanted)
        )
    )
    return {r for r in rows if r}


def by_gm_msgid(session: Session, account: Account, msgids: Iterable[int]) -> dict[int, Message]:
    """{X-GM-MSGID: live message} of those Gmail message ids the account holds a UID of:
    Gmail's identity of a message, the same in every folder (sync/gmail.py)."""
    wanted = sorted(set(msgids))
    found: dict[int, Message] = {}
    for start in range(0, len(wanted), 400):
        rows = session.execute(
            select(ImapUid.gm_msgid, Message)
            .join(Message, Message.id == ImapUid.message_id)
            .where(
                ImapUid.account_id == account.id,
                ImapUid.gm_msgid.in_(wanted[start : start + 400]),
                Message.deleted_at.is_(None),
            )
        )
        for msgid, message in rows:
            if msgid is not None:
                found.setdefault(msgid, message)
    return found


def labels_in_folder(session: Session, category_id: int) -> dict[int, list[str] | None]:
    """{uid: X-GM-LABELS as last reported, None if never} of a Gmail folder's UIDs."""
    rows = session.execute(
        select(ImapUid.uid, ImapUid.labels).where(ImapUid.category_id == category_id)
    )
    return {uid: list(labels) if labels is not None else None for uid, labels in rows}


def has_unlabelled(session: Session, category_id: int) -> bool:
    """Whether a Gmail folder has UIDs synced without their X-GM-LABELS."""
    found = session.scalar(
        select(ImapUid.id)
        .where(ImapUid.category_id == category_id, ImapUid.labels.is_(None))
        .limit(1)
    )
    return found is not None


def find_copy(
    session: Session, account: Account, message_id: str | None, sha256: str
) -> Message | None:
    """A live message that is this one: same Message-ID and bytes (whose hash is `sha256`:
    a copy in another folder, or a draft the engine appended), or same Message-ID and on no
    folder at all (stored by the engine itself, e.g. sent through the API)."""
    if not message_id:
        return None
    candidates = list(
        session.scalars(
            select(Message).where(
                Message.account_id == account.id,
                Message.message_id_header == message_id,
                Message.deleted_at.is_(None),
            )
        )
    )
    if not candidates:
        return None
    for message in candidates:
        if message.raw_sha256 == sha256:
            return message
    for message in candidates:
        if message.is_draft:
            continue
        if session.scalar(select(ImapUid.id).where(ImapUid.message_id == message.id)) is None:
            return message
    return None


def detach(session: Session, rows: list[ImapUid]) -> int:
    """Remove UIDs; each message keeps the folders it is still in. A message left in no
    folder stays until the end of the pass (`delete_orphans`): it may have moved to a folder
    not synced yet, where it is linked again under the same id. Returns how many changed."""
    if not rows:
        return 0
    message_ids = {row.message_id for row in rows}
    for row in rows:
        session.delete(row)
    session.flush()
    return reset_folders(session, message_ids)


def reset_folders(session: Session, message_ids: Iterable[int]) -> int:
    """Set each message's folders to exactly those the engine knows a UID of it in, and on
    Gmail the labels those UIDs carry (the server's word, over any change made through the
    API). Returns how many changed."""
    changed = 0
    labels: LabelMap | None = None
    for message_id in message_ids:
        message = session.get(Message, message_id)
        if message is None or message.deleted_at is not None:
            continue
        rows = session.execute(
            select(Category, ImapUid.labels)
            .join(ImapUid, ImapUid.category_id == Category.id)
            .where(ImapUid.message_id == message_id)
            .order_by(ImapUid.id)
        ).all()
        folders = list(dict.fromkeys(category for category, _ in rows))
        if any(row_labels is not None for _, row_labels in rows):
            if labels is None:
                labels = label_map(session, message.account_id)
            ids = {c.id for c in folders}
            for _, row_labels in rows:
                ids |= labels.categories(row_labels)
            extra = ids - {c.id for c in folders}
            folders += [c for c in (session.get(Category, i) for i in sorted(extra)) if c]
        if {c.id for c in folders} != {c.id for c in message.categories}:
            message.categories = folders
            changed += 1 if folders else 0  # one in no folder is counted if deleted
    session.flush()
    return changed


def delete_orphans(session: Session, account_id: int) -> int:
    """Delete the synced messages no folder holds any more (after a full pass)."""
    orphans = list(
        session.scalars(
            select(Message).where(
                Message.account_id == account_id,
                Message.deleted_at.is_(None),
                Message.is_draft.is_(False),
                ~exists().where(ImapUid.message_id == Message.id),
                ~exists().where(message_categories.c.message_id == Message.id),
            )
        )
    )
    for message in orphans:
        message.deleted_at = now()
        remove_message(session, message.id)
        thread = message.thread
        if thread is not None:
            refresh_thread(thread)
            if all(m.deleted_at is not None for m in thread.messages):
                thread.deleted_at = now()
    session.flush()
    return len(orphans)
