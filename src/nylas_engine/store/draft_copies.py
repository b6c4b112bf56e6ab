"""Where each draft's server copy stands: the queries of sync/drafts.py.

A draft's copy in the Drafts folder is recorded with a compare-and-set on the draft's
version (`record_copy`), because the APPEND that made it ran with no transaction open: a
draft updated, sent or deleted through the API meanwhile must not be taken for what the
server now holds.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import exists, select, update
from sqlalchemy.orm import Session

from nylas_engine.search.index import remove_message
from nylas_engine.store import drafts
from nylas_engine.store.models import ImapUid, Message


def live_drafts(session: Session, account_id: int) -> list[Message]:
    """The account's drafts not deleted (sent ones are no longer drafts)."""
    return list(
        session.scalars(
            select(Message).where(
                Message.account_id == account_id,
                Message.is_draft.is_(True),
                Message.deleted_at.is_(None),
            )
        )
    )


def record_copy(
    session: Session, draft_id: int, version: int, raw_sha256: str, size: int, header_id: str
) -> bool:
    """The bytes of `version` are now the draft's server copy, if the draft is still a live
    draft at that version; False (nothing written) when it changed or went meanwhile.

    A plain UPDATE: where the draft's server copy lives is not an API change (no delta)."""
    result = session.execute(
        update(Message)
        .where(
            Message.id == draft_id,
            Message.version == version,
            Message.is_draft.is_(True),
            Message.deleted_at.is_(None),
        )
        .values(raw_sha256=raw_sha256, size=size, message_id_header=header_id)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


def is_gone(session: Session, message_id: int) -> bool:
    """Whether the message was deleted or sent: its draft copies on the server go."""
    message = session.get(Message, message_id)
    return message is not None and (message.deleted_at is not None or message.is_sent)


def drop_drafts_gone_from_server(session: Session, message_ids: Iterable[int]) -> int:
    """Delete the drafts among `message_ids` that no folder on the server holds any more.

    Called when the folder sync sees UIDs expunged by another client: the draft was sent or
    discarded there, and must not be appended again. (The engine's own expunges of old
    versions drop their rows itself, so they never come here.) Returns how many went."""
    ids = list(message_ids)
    if not ids:
        return 0
    gone = list(
        session.scalars(
            select(Message).where(
                Message.id.in_(ids),
                Message.is_draft.is_(True),
                Message.deleted_at.is_(None),
                ~exists().where(ImapUid.message_id == Message.id),
            )
        )
    )
    for draft in gone:
        drafts.delete_draft(draft)
        remove_message(session, draft.id)
    session.flush()
    return len(gone)
