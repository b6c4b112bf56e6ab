"""Message queries, the mail filters shared with threads (docs/protocol.md §6, §7), and message
updates.

Participants are stored as JSON lists of `{"name", "email"}` objects. An address filter
matches the JSON text against `"email": "<address>"` (lower-cased, LIKE wildcards escaped),
which is portable SQL and exact: the closing quote keeps `a@x.com` from matching `ba@x.com`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Text,
    bindparam,
    case,
    cast,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.orm import Session, contains_eager, selectinload

from nylas_engine.errors import InvalidRequest
from nylas_engine.ids import check_id
from nylas_engine.metadata import MetadataFilter, optional_metadata
from nylas_engine.store import categories as cats
from nylas_engine.store import imap_uids
from nylas_engine.store import metadata as meta
from nylas_engine.store.models import (
    Account,
    Attachment,
    Category,
    File,
    Message,
    Thread,
    message_categories,
)
from nylas_engine.store.stale import apply_once_more_if_stale

ADDRESS_FIELDS = ("from_", "to", "cc", "bcc")
EXCLUSIVE_LABELS = ("all", "trash", "spam")
FIXED_LABELS = ("sent", "drafts")


@dataclass
class MailFilters:
    """The query filters of GET /threads and GET /messages, already validated."""

    subject: str | None = None
    any_email: list[str] | None = None
    to: str | None = None
    from_: str | None = None
    cc: str | None = None
    bcc: str | None = None
    thread_id: str | None = None
    started_before: int | None = None
    started_after: int | None = None
    last_message_before: int | None = None
    last_message_after: int | None = None
    received_before: int | None = None
    received_after: int | None = None
    filename: str | None = None
    in_: str | None = None
    unread: bool | None = None
    starred: bool | None = None
    metadata: MetadataFilter | None = None
    # The ids of the categories `in_` names, when read beforehand (`with_category_ids`).
    in_ids: list[int] | None = None


def with_category_ids(session: Session, account: Account, f: MailFilters) -> MailFilters:
    """`f` with the categories its `in` names read now, so the list query names them by id.

    PostgreSQL can't estimate a join to `categories`: a table that small is never analyzed
    (autovacuum waits for 50 changed rows), and even analyzed, one category's share of all
    categories says nothing of its share of the messages. Taking the inbox for a few
    messages, it read every inbox message to sort their threads instead of walking threads
    newest first (bench/api.py, `/threads?in=inbox&unread=true&limit=50`, 100,000 messages:
    580 ms; with the ids, which the column's statistics know, 0.5 ms)."""
    if f.in_ is None or f.in_ids is not None:
        return f
    return replace(f, in_ids=list(session.scalars(cats.matching_ids(account, f.in_))))


# --------------------------------------------------------------------------- conditions


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def has_address(column: Any, email: str) -> ColumnElement[bool]:
    """The JSON participant list in `column` holds `email` (case-insensitive, exact)."""
    needle = '"email": ' + json.dumps(email.strip().lower())
    return func.lower(cast(column, Text)).like(f"%{_escape_like(needle)}%", escape="\\")


def _any_address(emails: list[str]) -> ColumnElement[bool]:
    return or_(
        *(has_address(getattr(Message, name), email) for email in emails for name in ADDRESS_FIELDS)
    )


def _has_filename(filename: str) -> ColumnElement[bool]:
    return exists().where(
        Attachment.message_id == Message.id,
        Attachment.file_id == File.id,
        File.filename == filename,
    )


def _in_category(account: Account, f: MailFilters) -> ColumnElement[bool]:
    assert f.in_ is not None
    if f.in_ids is None:
        named: Any = cats.matching_ids(account, f.in_)
    else:  # written into the statement: a generic plan would not know which category
        named = bindparam("in_ids", f.in_ids, expanding=True, literal_execute=True)
    return exists().where(
        message_categories.c.message_id == Message.id,
        message_categories.c.category_id.in_(named),
    )


def message_conditions(account: Account, f: MailFilters) -> list[ColumnElement[bool]]:
    """Conditions on one message for the message-level filters (each stands alone)."""
    conds: list[ColumnElement[bool]] = []
    if f.subject is not None:
        conds.append(Message.subject == f.subject)
    if f.any_email:
        conds.append(_any_address(f.any_email))
    for name in ADDRESS_FIELDS:
        if (email := getattr(f, name)) is not None:
            conds.append(has_address(getattr(Message, name), email))
    if f.filename is not None:
        conds.append(_has_filename(f.filename))
    if f.in_ is not None:
        conds.append(_in_category(account, f))
    conds += meta.message_conditions(account, f.metadata)
    return conds


def thread_time_conditions(f: MailFilters) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if f.thread_id is not None:
        conds.append(Thread.public_id == f.thread_id)
    if f.started_before is not None:
        conds.append(Thread.first_message_ts < f.started_before)
    if f.started_after is not None:
        conds.append(Thread.first_message_ts > f.started_after)
    if f.last_message_before is not None:
        conds.append(Thread.last_message_ts < f.last_message_before)
    if f.last_message_after is not None:
        conds.append(Thread.last_message_ts > f.last_message_after)
    return conds


# --------------------------------------------------------------------------- queries


def list_messages(account: Account, f: MailFilters, *, drafts: bool = False) -> Select[Any]:
    """Messages (or, with `drafts`, drafts) of live threads matching `f`, newest first."""
    stmt = (
        select(Message)
        .outerjoin(Thread, Thread.id == Message.thread_id)
        .options(contains_eager(Message.thread), selectinload(Message.events))
        .where(
            Message.account_id == account.id,
            Message.is_draft.is_(drafts),
            Message.deleted_at.is_(None),
            Thread.deleted_at.is_(None),
            *message_conditions(account, f),
            *thread_time_conditions(f),
        )
        .order_by(Message.date.desc(), Message.id.desc())
    )
    if f.unread is not None:
        stmt = stmt.where(Message.unread.is_(f.unread))
    if f.starred is not None:
        stmt = stmt.where(Message.starred.is_(f.starred))
    if f.received_before is not None:
        stmt = stmt.where(Message.date <= f.received_before)
    if f.received_after is not None:
        stmt = stmt.where(Message.date > f.received_after)
    return stmt


def find_message(session: Session, account: Account, public_id: str) -> Message | None:
    """Any live message or draft of the account."""
    message: Message | None = session.scalar(
        select(Message).where(
            Message.account_id == account.id,
            Message.public_id == public_id,
            Message.deleted_at.is_(None),
        )
    )
    return message


def messages_by_ids(account: Account, public_ids: list[str]) -> Select[Any]:
    """The account's live messages and drafts among `public_ids`, in that order (the
    comma-separated GET /messages/{id},{id}); ids it doesn't own are simply not there."""
    order = case({public_id: i for i, public_id in enumerate(public_ids)}, value=Message.public_id)
    return (
        select(Message)
        .options(selectinload(Message.events))
        .where(
            Message.account_id == account.id,
            Message.public_id.in_(public_ids),
            Message.deleted_at.is_(None),
        )
        .order_by(order)
    )


# --------------------------------------------------------------------------- updates


def pop_flags(body: dict[str, Any]) -> tuple[bool | None, bool | None]:
    """(unread, starred) from an update body; each must be a JSON boolean when present."""
    values = []
    for key in ("unread", "starred"):
        value = body.pop(key, None)
        if value is not None and not isinstance(value, bool):
            raise InvalidRequest(f'"{key}" must be true or false')
        values.append(value)
    return values[0], values[1]


def pop_folder(session: Session, account: Account, body: dict[str, Any]) -> Category | None:
    """The folder named by `folder_id` (or the legacy `folder`), if either key is present."""
    if "folder_id" not in body and "folder" not in body:
        return None
    value = body.pop("folder_id", None)
    legacy = body.pop("folder", None)
    value = value if value is not None else legacy
    if value is None:
        raise InvalidRequest("Removing all folders is not allowed.")
    if not isinstance(value, str):
        raise InvalidRequest(f"Invalid id: {value}")
    folder = cats.find(session, account, "folder", check_id(value))
    if folder is None:
        raise InvalidRequest(f"The folder {value} does not exist")
    return folder


def pop_labels(session: Session, account: Account, body: dict[str, Any]) -> set[Category] | None:
    """The complete label set named by `label_ids` (or the legacy `labels`), if present."""
    if "label_ids" not in body and "labels" not in body:
        return None
    value = body.pop("label_ids", None)
    legacy = body.pop("labels", None)
    value = value if value else legacy
    if value is not None and not isinstance(value, list):
        raise InvalidRequest('"labels" must be a list')
    if not value:
        raise InvalidRequest("Removing all labels is not allowed.")
    labels: set[Category] = set()
    for item in value:
        if not isinstance(item, str):
            raise InvalidRequest(f"Invalid id: {item}")
        label = cats.find(session, account, "label", check_id(item))
        if label is None:
            raise InvalidRequest(f"The label {item} does not exist")
        labels.add(label)
    return labels


def set_flags(message: Message, unread: bool | None, starred: bool | None) -> None:
    if unread is not None and message.unread != unread:
        message.unread = unread
    if starred is not None and message.starred != starred:
        message.starred = starred


def move_to_folder(message: Message, folder: Category) -> None:
    if [c.id for c in message.categories] != [folder.id]:
        message.categories = [folder]


def live_categories(message: Message) -> set[Category]:
    return {c for c in message.categories if c.deleted_at is None}


def check_label_change(added: set[Category], removed: set[Category]) -> None:
    """Gmail's rules: sent/drafts are fixed; exactly one of all/trash/spam remains."""
    for category in (*added, *removed):
        if category.name in FIXED_LABELS:
            raise InvalidRequest(f'The "{category.name}" label cannot be changed')
    adding = {c.name for c in added} & set(EXCLUSIVE_LABELS)
    if len(adding) > 1:
        raise InvalidRequest('Only one of "all", "trash" or "spam" can be added')
    if set(EXCLUSIVE_LABELS) <= {c.name for c in removed}:
        raise InvalidRequest('"all", "trash" and "spam" cannot all be removed')


def change_labels(
    session: Session,
    account: Account,
    message: Message,
    added: set[Category],
    removed: set[Category],
) -> None:
    """Apply a checked label change to one message the way Gmail would.

    Removing all/trash/spam alone moves nothing on Gmail, so those stay until a rival is
    added. Adding trash or spam takes the message out of inbox and all mail; adding inbox
    brings it back into all mail.
    """
    labels = {c.id: c for c in message.categories}
    for category in added:
        labels[category.id] = category
    for category in removed:
        if category.name not in EXCLUSIVE_LABELS:
            labels.pop(category.id, None)
    added_roles = {c.name for c in added}
    discard: set[str] = set()
    if "all" in added_roles:
        discard |= {"trash", "spam"}
    if "trash" in added_roles:
        discard |= {"all", "spam", "inbox"}
    if "spam" in added_roles:
        discard |= {"all", "trash", "inbox"}
    if "inbox" in added_roles:
        discard |= {"trash", "spam"}
        if all(c.name != "all" for c in labels.values()):
            all_mail = cats.by_role(session, account, "all")
            if all_mail is not None:
                labels[all_mail.id] = all_mail
    kept = [c for c in labels.values() if c.name not in discard]
    if {c.id for c in kept} != {c.id for c in message.categories}:
        message.categories = kept


def _left_the_server(session: Session, account: Account, message: Message) -> bool:
    """Synced from IMAP, in no folder and with no copy the engine knows of: the sync saw it
    leave its last folder, and the pass that tells where it went has not run yet."""
    if not account.imap_host or message.is_draft or message.categories:
        return False
    return not imap_uids.of_message(session, message.id)


def update_message(
    session: Session, account: Account, message: Message, body: dict[str, Any]
) -> Message:
    """PUT /messages/{id}: flags, folder or labels, and (hosted v2) metadata, which replaces
    the message's whole mapping; keys of the other kind and unknown keys are ignored
    (docs/protocol.md §7)."""
    body = dict(body)
    unread, starred = pop_flags(body)
    metadata = optional_metadata(body)
    labels = folder = None
    if cats.kind_of(account) == "label":
        labels = pop_labels(session, account, body)
    else:
        folder = pop_folder(session, account, body)

    def apply() -> None:
        # A synced message the sync saw leave every folder on the server has nowhere to be
        # moved from: the next full pass links it where the server put it, or deletes it.
        # Its folders stay as the server left them (the server wins, as in any conflict).
        moving = not _left_the_server(session, account, message)
        if labels is not None and moving:
            current = live_categories(message)
            added, removed = labels - current, current - labels
            check_label_change(added, removed)
            change_labels(session, account, message, added, removed)
        if folder is not None and moving:
            move_to_folder(message, folder)
        set_flags(message, unread, starred)
        if metadata is not None and metadata != message.metadata_:
            message.metadata_ = metadata
        session.flush()

    apply_once_more_if_stale(session, apply, lambda: [message])
    return message
