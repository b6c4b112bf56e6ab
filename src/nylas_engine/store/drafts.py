"""Drafts (docs/protocol.md §8): validation of draft JSON, create, update, delete, version checks.

A draft is a `Message` with `is_draft`; it always has a thread (a new one unless it replies)
and sits in the Drafts folder or label. Sending (send/outbox.py) turns the same row into a
sent message, so a draft's id survives the send.

Every write that names a draft `version` (update, delete, send) claims that version with a
compare-and-set in the database, `UPDATE ... SET version = version + 1 WHERE id = :id AND
version = :v`, and goes on only when that changed one row. Of N concurrent writers holding
the same version exactly one wins; the others get 409, however their requests interleave
(reading the version and checking it in Python would let several pass).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Select, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from nylas_engine.errors import Conflict, InvalidRequest, NotFound
from nylas_engine.ids import check_id, is_valid_public_id, new_public_id
from nylas_engine.metadata import optional_metadata
from nylas_engine.mime.html_text import html_to_text
from nylas_engine.mime.parse import make_snippet
from nylas_engine.store import messages as msgs
from nylas_engine.store import threads
from nylas_engine.store.files import files_for_ids
from nylas_engine.store.mail import category_by_role, refresh_thread
from nylas_engine.store.messages import MailFilters
from nylas_engine.store.models import Account, Attachment, File, Message, Thread, now

Participants = list[dict[str, str]]


@dataclass
class DraftInput:
    """The validated fields of a draft body; None means "not given"."""

    to: Participants | None = None
    cc: Participants | None = None
    bcc: Participants | None = None
    from_: Participants | None = None
    reply_to: Participants | None = None
    subject: str | None = None
    body: str | None = None
    files: list[File] | None = None
    thread: Thread | None = None
    reply_to_message: Message | None = None
    metadata: dict[str, str] | None = None
    tracking: dict[str, Any] | None = None
    given: set[str] = field(default_factory=set)


# ------------------------------------------------------------------------------ validation


def _participants(data: dict[str, Any], key: str, label: str | None = None) -> Participants | None:
    value = data.get(key)
    if value is None:
        return None
    label = label or key
    if not isinstance(value, list):
        raise InvalidRequest(f"Invalid {label} field")
    people: Participants = []
    for item in value:
        if not isinstance(item, dict) or not isinstance(item.get("email"), str):
            raise InvalidRequest(f"Invalid {label} field")
        name = item.get("name")
        if name is not None and not isinstance(name, str):
            raise InvalidRequest(f"Invalid {label} field")
        people.append({"name": name or "", "email": item["email"].strip()})
    return people


def _string(data: dict[str, Any], key: str) -> str | None:
    value = data.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidRequest(f'"{key}" should be a string')
    return value


def optional_object(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    value = data.get(key)
    if value is not None and not isinstance(value, dict):
        raise InvalidRequest(f'"{key}" should be an object')
    return value


def parse_input(
    session: Session, account: Account, data: dict[str, Any], *, new: bool
) -> DraftInput:
    """Check a POST /drafts (new=True) or PUT /drafts/{id} body; unknown keys are ignored
    (SDKs send whole objects back, docs/protocol.md §18 item 6)."""
    inp = DraftInput(
        to=_participants(data, "to"),
        cc=_participants(data, "cc"),
        bcc=_participants(data, "bcc"),
        reply_to=_participants(data, "reply_to"),
        subject=_string(data, "subject"),
        body=_string(data, "body"),
        metadata=optional_metadata(data),
        tracking=optional_object(data, "tracking"),
    )
    # The old engine read the sender from `from` on create and `from_addr` on update.
    sender_key = "from" if data.get("from") is not None else "from_addr"
    inp.from_ = _participants(data, sender_key, "from_addr") or None  # [] is no sender
    if inp.from_ is not None and len(inp.from_) > 1:
        raise InvalidRequest("from_addr field can have at most one item")
    if inp.reply_to is not None and len(inp.reply_to) > 1:
        raise InvalidRequest("reply_to field can have at most one item")

    file_ids = data.get("file_ids")
    if file_ids is not None:
        if not isinstance(file_ids, list):
            raise InvalidRequest(f"{file_ids!r} is not a list of block ids")
        inp.files = files_for_ids(session, account, file_ids)
    if new:
        inp.thread, inp.reply_to_message = _reply_target(session, account, data)
    return inp


def _reply_target(
    session: Session, account: Account, data: dict[str, Any]
) -> tuple[Thread | None, Message | None]:
    thread_id = data.get("thread_id")
    message_id = data.get("reply_to_message_id")
    thread = message = None
    if thread_id is not None:
        if not isinstance(thread_id, str) or not is_valid_public_id(thread_id):
            raise InvalidRequest(f"Invalid thread public id {thread_id}")
        thread = threads.find_thread(session, account, thread_id)
        if thread is None:
            raise InvalidRequest(f"Invalid thread public id {thread_id}")
    if message_id is not None:
        if not isinstance(message_id, str) or not is_valid_public_id(message_id):
            raise InvalidRequest(f"Invalid message public id {message_id}")
        message = msgs.find_message(session, account, message_id)
        if message is None or message.is_draft:
            raise InvalidRequest(f"Invalid message public id {message_id}")
        if thread is not None and message.thread_id != thread.id:
            raise InvalidRequest(f"Message {message_id} is not in thread {thread_id}")
    return thread, message


# ------------------------------------------------------------------------------ queries


def list_drafts(account: Account, f: MailFilters) -> Select[Any]:
    """Live drafts matching the /messages filters (except `from`), newest first."""
    return msgs.list_messages(account, replace(f, from_=None), drafts=True)


def find_draft(session: Session, account: Account, public_id: str) -> Message:
    """The message with this id, draft or not (GET /drafts/{id}); 404 otherwise."""
    message = msgs.find_message(session, account, check_id(public_id))
    if message is None:
        raise NotFound(f"Couldn't find draft {public_id}")
    return message


def draft_for_write(session: Session, account: Account, public_id: str, version: Any) -> Message:
    """An unsent draft at exactly `version` (update, delete, send), in the old engine's
    order of checks: version given, version an integer, draft exists, is a draft, matches.

    The version is then claimed (see the module docstring): the draft is at `version + 1`
    in this transaction, and no other writer holding `version` can get past this point."""
    check_id(public_id)
    if version is None:
        raise InvalidRequest("Must specify draft version")
    if isinstance(version, bool) or not isinstance(version, (int, str)):
        raise InvalidRequest("Invalid draft version")
    try:
        number = int(version)
    except ValueError:
        raise InvalidRequest("Invalid draft version") from None
    draft = find_draft(session, account, public_id)
    if not draft.is_draft:
        raise InvalidRequest(f"Message {public_id} is not a draft")
    if draft.version != number or not _compare_and_set(session, draft, number, number + 1):
        current = session.scalar(select(Message.version).where(Message.id == draft.id))
        raise Conflict(f"Draft {public_id}.{number} has already been updated to version {current}")
    return draft


def release_version(session: Session, draft: Message) -> None:
    """Give back a version claimed by `draft_for_write` in a transaction already committed
    (a send that delivered nothing): the draft is at its old version again, unless some
    other writer has moved it on since."""
    claimed = draft.version
    _compare_and_set(session, draft, claimed, claimed - 1)


def _compare_and_set(session: Session, draft: Message, expected: int, new: int) -> bool:
    """`draft.version := new` in the database if it is `expected` there; True when it was.
    (Out of range numbers can match nothing; they are not sent to the database.)"""
    if not -(2**31) <= expected < 2**31 - 1:
        return False
    result = session.execute(
        update(Message)
        .where(
            Message.id == draft.id,
            Message.version == expected,
            Message.is_draft.is_(True),
            Message.deleted_at.is_(None),
        )
        .values(version=new)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return False
    set_committed_value(draft, "version", new)
    return True


# ------------------------------------------------------------------------------ writes


def default_sender(account: Account) -> Participants:
    return [{"name": account.name or "", "email": account.email_address}]


def build_draft(session: Session, account: Account, inp: DraftInput) -> Message:
    """A new draft row from validated input, not yet added to the session (sending
    directly uses it without ever storing a draft)."""
    target = inp.reply_to_message
    thread = inp.thread or (target.thread if target is not None else None)
    if target is None and thread is not None:
        sent_or_received = [m for m in thread.messages if not m.is_draft and m.deleted_at is None]
        target = sent_or_received[-1] if sent_or_received else None
    subject = inp.subject
    if subject is None:
        subject = (target.subject if target is not None else None) or (
            thread.subject if thread is not None else ""
        )
    drafts_folder = category_by_role(session, account, "drafts")
    message = Message(
        public_id=new_public_id(),
        account_id=account.id,
        subject=subject or "",
        from_=inp.from_ or default_sender(account),
        to=inp.to or [],
        cc=inp.cc or [],
        bcc=inp.bcc or [],
        reply_to=inp.reply_to or [],
        body=inp.body or "",
        date=now(),
        unread=False,
        starred=False,
        is_draft=True,
        version=0,
        reply_to_message_id=inp.reply_to_message.id if inp.reply_to_message else None,
        metadata_=inp.metadata or {},
        tracking=inp.tracking,
        categories=[drafts_folder] if drafts_folder is not None else [],
    )
    if target is not None and target.message_id_header:
        message.in_reply_to = target.message_id_header
        message.references = [*(target.references or []), target.message_id_header]
    message.snippet = snippet(message.body)
    _set_files(message, inp.files or [])
    # Its id is known before it is stored (a send describes the message before recording it).
    message.thread = thread or Thread(
        public_id=new_public_id(), account_id=account.id, subject=message.subject
    )
    return message


def create_draft(session: Session, account: Account, inp: DraftInput) -> Message:
    draft = build_draft(session, account, inp)
    session.add(draft)
    refresh_thread(draft.thread)  # type: ignore[arg-type]
    session.flush()
    return draft


def update_draft(draft: Message, inp: DraftInput) -> Message:
    """Apply an update: absent, null or empty-string fields keep their values; `file_ids`
    replaces the attachments; date now. (`draft_for_write` has already raised the version.)"""
    for name in ("to", "cc", "bcc", "from_", "reply_to"):
        value = getattr(inp, name)
        if value is not None:
            setattr(draft, name, value)
    if inp.subject:
        draft.subject = inp.subject
    if inp.body:
        draft.body = inp.body
    if inp.metadata is not None:
        draft.metadata_ = inp.metadata
    if inp.tracking is not None:
        draft.tracking = inp.tracking
    live_files = [a.file for a in draft.attachments if a.file.deleted_at is None]
    _set_files(draft, inp.files if inp.files is not None else live_files)
    draft.date = now()
    draft.snippet = snippet(draft.body)
    if draft.thread is not None:
        refresh_thread(draft.thread)
    return draft


def delete_draft(draft: Message) -> None:
    """Soft delete; the thread goes too when nothing else is left in it."""
    draft.deleted_at = now()
    thread = draft.thread
    if thread is None:
        return
    if any(m.deleted_at is None for m in thread.messages):
        refresh_thread(thread)
    else:
        thread.deleted_at = now()


def snippet(body: str) -> str:
    return make_snippet(html_to_text(body or ""))


def _set_files(message: Message, files: list[File]) -> None:
    """Attach exactly `files`; one the body refers to as `cid:<file id>` is inline."""
    existing = {a.file.public_id: a for a in message.attachments}
    kept: list[Attachment] = []
    for file in files:
        attachment = existing.get(file.public_id) or Attachment(file=file)
        if f"cid:{file.public_id}" in (message.body or ""):
            attachment.disposition, attachment.content_id = "inline", file.public_id
        else:
            attachment.disposition, attachment.content_id = "attachment", None
        kept.append(attachment)
    message.attachments = kept
