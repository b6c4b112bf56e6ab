"""Sending (docs/protocol.md §9): a saved draft, a draft given inline, or the client's own MIME.

Each mode checks its input, renders the message into the blob store, hands it to the SMTP
server, and only then records it as sent (Sent folder or label, its thread, the raw bytes
for `Accept: message/rfc822`, the search index). Nothing of the message is written to the
database before the SMTP server has accepted it, so a failed send leaves no trace; and the
request's transaction is committed before the SMTP server is contacted, so no lock or
connection is held while it talks. (A saved draft's version is claimed in that commit, see
store/drafts.py, so two sends of one draft version can't both go out; a send that
delivers nothing gives the version back.)

Once the SMTP server has accepted the message, the send has happened whatever fails next:
the `SendWitness` (the route's) is told first, so it can keep the reply it will give for
an Idempotency-Key, and if recording the message then fails the send still succeeds,
`recorded` False (the route answers with what it was told).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any, Protocol

from sqlalchemy.orm import Session

from nylas_engine.context import EngineContext
from nylas_engine.errors import InvalidRequest, MessageRejected
from nylas_engine.ids import new_public_id
from nylas_engine.search.index import index_message
from nylas_engine.send import build, errors, smtp
from nylas_engine.send.errors import SendError
from nylas_engine.store import drafts
from nylas_engine.store.mail import category_by_role, ingest_message, refresh_thread
from nylas_engine.store.models import Account, Category, Message, now
from nylas_engine.sync.hosts import policy_for

log = logging.getLogger("nylas_engine.send")


class SendWitness(Protocol):
    """Who must know how far a send got (the request's Idempotency-Key, if any)."""

    def starting(self, message_id: str) -> None:
        """DATA is about to start: from now on the message may go out. Must be durable
        (committed) when it returns."""

    def not_sent(self) -> None:
        """The SMTP server refused the message after `starting`: nothing went out."""

    def accepted(self, message: Message, partial: SendError | None) -> None:
        """The SMTP server took the message (`message` as sent, not yet recorded)."""


class _Unwitnessed:
    def starting(self, message_id: str) -> None:
        pass

    def not_sent(self) -> None:
        pass

    def accepted(self, message: Message, partial: SendError | None) -> None:
        pass


NO_WITNESS: SendWitness = _Unwitnessed()


@dataclass
class Sent:
    message: Message
    partial: SendError | None = None  # some recipients refused (the reply is 200 + this body)
    recorded: bool = True  # False: sent, but storing it as sent failed (logged)


def send_saved_draft(
    session: Session,
    ctx: EngineContext,
    account: Account,
    body: dict[str, Any],
    witness: SendWitness = NO_WITNESS,
) -> Sent:
    draft_id = body.get("draft_id")
    if not isinstance(draft_id, str):
        raise InvalidRequest(f"Invalid draft id: {draft_id}")
    draft = drafts.draft_for_write(session, account, draft_id, body.get("version"))
    tracking = drafts.optional_object(body, "tracking")
    recipients = _recipients(draft.to, draft.cc, draft.bcc)
    server = server_for(ctx, account)
    categories = _sent_categories(session, account)
    session.commit()  # the version claim; nothing is held while SMTP talks
    try:
        sent = _deliver_message(ctx, account, draft, recipients, server, witness)
    except BaseException:
        drafts.release_version(session, draft)
        session.commit()
        raise
    if tracking is not None:
        draft.tracking = tracking
    return _record(session, account, sent, categories, witness)


def send_inline(
    session: Session,
    ctx: EngineContext,
    account: Account,
    body: dict[str, Any],
    witness: SendWitness = NO_WITNESS,
) -> Sent:
    if not body:
        raise InvalidRequest("Invalid request body: nothing to send")
    # Nothing may reach the database before delivery: the draft is built but not added.
    with session.no_autoflush:
        inp = drafts.parse_input(session, account, body, new=True)
        message = drafts.build_draft(session, account, inp)
        recipients = _recipients(message.to, message.cc, message.bcc)
        server = server_for(ctx, account)
        categories = _sent_categories(session, account)
    session.commit()  # ends the reads; nothing is held while SMTP talks
    sent = _deliver_message(ctx, account, message, recipients, server, witness)
    return _record(session, account, sent, categories, witness, add=True)


def _deliver_message(
    ctx: EngineContext,
    account: Account,
    message: Message,
    recipients: list[str],
    server: smtp.SmtpServer,
    witness: SendWitness,
) -> Sent:
    sent_at = now()
    message_id = message.message_id_header or build.new_message_id(
        _domain(account), message.public_id
    )
    files = [a for a in message.attachments if a.file.deleted_at is None]
    outgoing = build.Outgoing(
        from_=message.from_ or drafts.default_sender(account),
        to=message.to,
        cc=message.cc,
        reply_to=message.reply_to,
        subject=message.subject,
        body=message.body,
        message_id=message_id,
        date=sent_at,
        in_reply_to=message.in_reply_to,
        references=list(message.references or []),
        files=[
            build.FilePart(a.file.sha256, a.file.filename, a.file.content_type, a.content_id)
            for a in files
        ],
    )
    raw_sha, size = build.write(outgoing, ctx.blobs)
    sender = outgoing.from_[0]["email"]
    partial = _deliver(ctx, server, sender, recipients, raw_sha, message_id, witness)
    message.is_draft = False
    message.is_sent = True
    if message.subject:  # as the recipients see it: line breaks folded (build.one_line)
        message.subject = build.one_line(message.subject)
    message.unread = False
    message.date = sent_at
    message.message_id_header = message_id
    message.raw_sha256, message.size = raw_sha, size
    return Sent(message, partial)


def _record(
    session: Session,
    account: Account,
    sent: Sent,
    categories: list[Category],
    witness: SendWitness,
    *,
    add: bool = False,
) -> Sent:
    """File a delivered message: Sent folder (or sent label), thread aggregates, search,
    committed here. The witness hears of the delivery first; a failure from here on is
    logged and the send reported as done but not recorded (it did go out)."""
    message = sent.message
    with session.no_autoflush:
        message.categories = categories
        witness.accepted(message, sent.partial)

    def write() -> Message:
        if add:
            session.add(message)
        if message.thread is not None:
            refresh_thread(message.thread)
        session.flush()
        index_message(session, message)
        return message

    sent.recorded = _stored(session, message.message_id_header, write) is not None
    return sent


def _stored(
    session: Session, message_id: str | None, write: Callable[[], Message]
) -> Message | None:
    """`write()`'s message, committed; None when that fails (logged, rolled back): the
    message has gone out all the same, so this is no reason to fail the send."""
    try:
        message = write()
        session.commit()
    except Exception:
        session.rollback()
        log.exception("Message %s was sent but could not be recorded", message_id)
        return None
    return message


def send_raw(
    session: Session,
    ctx: EngineContext,
    account: Account,
    raw: bytes,
    witness: SendWitness = NO_WITNESS,
) -> Sent:
    """Mode 3: the client's MIME, sent as given apart from Message-Id, User-Agent and Bcc."""
    if not raw.strip():
        raise InvalidRequest("Invalid request body: an empty message")
    prepared = build.prepare_raw(
        raw,
        build.new_message_id(_domain(account)),
        default_from=drafts.default_sender(account)[0],
    )
    recipients = _recipients(prepared.to, prepared.cc, prepared.bcc)
    server = server_for(ctx, account)
    categories = _sent_categories(session, account)
    session.commit()  # ends the reads; nothing is held while SMTP talks
    raw_sha, _size = ctx.blobs.put_bytes(prepared.data)
    sender = prepared.sender[0]["email"] if prepared.sender else account.email_address
    partial = _deliver(ctx, server, sender, recipients, raw_sha, prepared.message_id, witness)
    # What is known before it is stored: a stand-in the witness can describe.
    known = Message(
        public_id=new_public_id(),
        account_id=account.id,
        subject=prepared.subject,
        from_=prepared.sender,
        to=prepared.to,
        cc=prepared.cc,
        bcc=prepared.bcc,
        date=now(),
        unread=False,
        is_sent=True,
        message_id_header=prepared.message_id,
        categories=categories,
    )
    witness.accepted(known, partial)

    def write() -> Message:
        message = ingest_message(
            session,
            ctx.blobs,
            account,
            prepared.data,
            categories=categories,
            unread=False,
            is_sent=True,
            public_id=known.public_id,
        )
        message.bcc = prepared.bcc
        message.date = now()
        if message.thread is not None:
            refresh_thread(message.thread)
        session.flush()
        index_message(session, message)
        return message

    stored = _stored(session, prepared.message_id, write)
    if stored is None:
        return Sent(known, partial, recorded=False)
    return Sent(stored, partial)


# ------------------------------------------------------------------------------ helpers


def _deliver(
    ctx: EngineContext,
    server: smtp.SmtpServer,
    sender: str,
    recipients: list[str],
    raw_sha: str,
    message_id: str,
    witness: SendWitness = NO_WITNESS,
) -> SendError | None:
    """Hand the stored message to SMTP; a SendError when nothing went out (or, after DATA
    began, when the server's answer was lost: then the witness is not told "not sent")."""
    try:
        with ctx.blobs.open(raw_sha) as message:
            refused = smtp.deliver(
                server, sender, recipients, message, lambda: witness.starting(message_id)
            )
    except SendError as exc:
        if not exc.outcome_unknown:
            witness.not_sent()
        raise
    return errors.partly_refused(refused) if refused else None


def server_for(ctx: EngineContext, account: Account) -> smtp.SmtpServer:
    policy = policy_for(ctx.settings.auth_mode, ctx.settings.allow_mail_hosts)
    return smtp.server_for(account, ctx.settings.data_dir, policy)


def _recipients(*groups: list[dict[str, Any]]) -> list[str]:
    """Every to/cc/bcc address, checked (400) and de-duplicated, in order."""
    found: list[str] = []
    for group in groups:
        for person in group or []:
            address = (person.get("email") or "").strip()
            _, parsed = parseaddr(address)
            if not parsed or parsed != address or " " in address or not build.is_address(address):
                raise InvalidRequest(f"Invalid recipient address {address}")
            if not address.isascii():
                raise MessageRejected(f"Recipient address can't be encoded: {address}")
            if address.lower() not in (a.lower() for a in found):
                found.append(address)
    if not found:
        raise InvalidRequest("No recipients specified")
    return found


def check_recipients(*groups: list[dict[str, Any]]) -> list[str]:
    """The recipients as a send checks them (400/402), for a send scheduled for later."""
    return _recipients(*groups)


def _sent_categories(session: Session, account: Account) -> list[Category]:
    roles = ["sent"] if account.organization_unit != "label" else ["sent", "all"]
    found = [category_by_role(session, account, role) for role in roles]
    return [c for c in found if c is not None]


def _domain(account: Account) -> str | None:
    return (account.email_address or "").rpartition("@")[2] or None
