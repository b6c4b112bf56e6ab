"""Sending (wire-api §9): a saved draft, a draft given inline, or the client's own MIME.

Each mode checks its input, renders the message into the blob store, hands it to the SMTP
server, and only then records it as sent (Sent folder or label, its thread, the raw bytes
for `Accept: message/rfc822`, the search index). Nothing is written to the database before
the SMTP server has accepted the message, so a failed send leaves no trace; and what was
read before is committed first, so no connection, transaction or lock is held while the SMTP
server is talking.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from sqlalchemy.orm import Session

from nylas_engine.api.errors import APIError, bad_request
from nylas_engine.context import EngineContext
from nylas_engine.search.index import index_message
from nylas_engine.send import build, errors, smtp
from nylas_engine.send.errors import SendError
from nylas_engine.store import drafts
from nylas_engine.store.mail import category_by_role, ingest_message, refresh_thread
from nylas_engine.store.models import Account, Category, Message, now


@dataclass
class Sent:
    message: Message
    partial: SendError | None = None  # some recipients refused (the reply is 200 + this body)


def send_saved_draft(
    session: Session, ctx: EngineContext, account: Account, body: dict[str, Any]
) -> Sent:
    draft_id = body.get("draft_id")
    if not isinstance(draft_id, str):
        raise bad_request(f"Invalid draft id: {draft_id}")
    draft = drafts.draft_for_write(session, account, draft_id, body.get("version"))
    tracking = drafts.optional_object(body, "tracking")
    sent = _deliver_message(session, ctx, account, draft)
    if tracking is not None:
        draft.tracking = tracking
    _record(session, account, sent.message)
    return sent


def send_inline(
    session: Session, ctx: EngineContext, account: Account, body: dict[str, Any]
) -> Sent:
    if not body:
        raise bad_request("Invalid request body: nothing to send")
    # Nothing may reach the database before delivery: the draft is built but not added.
    with session.no_autoflush:
        inp = drafts.parse_input(session, account, body, new=True)
        message = drafts.build_draft(session, account, inp)
        sent = _deliver_message(session, ctx, account, message)
    session.add(message)
    _record(session, account, message)
    return sent


def _deliver_message(
    session: Session, ctx: EngineContext, account: Account, message: Message
) -> Sent:
    recipients = _recipients(message.to, message.cc, message.bcc)
    server = server_for(ctx, account)
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
    partial = _deliver(session, ctx, server, outgoing.from_[0]["email"], recipients, raw_sha)
    message.is_draft = False
    message.is_sent = True
    message.unread = False
    message.date = sent_at
    message.message_id_header = message_id
    message.raw_sha256, message.size = raw_sha, size
    return Sent(message, partial)


def _record(session: Session, account: Account, message: Message) -> None:
    """File a delivered message: Sent folder (or sent label), thread aggregates, search."""
    message.categories = _sent_categories(session, account)
    if message.thread is not None:
        refresh_thread(message.thread)
    session.flush()
    index_message(session, message)


def send_raw(session: Session, ctx: EngineContext, account: Account, raw: bytes) -> Sent:
    """Mode 3: the client's MIME, sent as given apart from Message-Id, User-Agent and Bcc."""
    if not raw.strip():
        raise bad_request("Invalid request body: an empty message")
    prepared = build.prepare_raw(
        raw,
        build.new_message_id(_domain(account)),
        default_from=drafts.default_sender(account)[0],
    )
    recipients = _recipients(prepared.to, prepared.cc, prepared.bcc)
    server = server_for(ctx, account)
    raw_sha, _size = ctx.blobs.put_bytes(prepared.data)
    sender = prepared.sender[0]["email"] if prepared.sender else account.email_address
    partial = _deliver(session, ctx, server, sender, recipients, raw_sha)
    message = ingest_message(
        session,
        ctx.blobs,
        account,
        prepared.data,
        categories=_sent_categories(session, account),
        unread=False,
        is_sent=True,
    )
    message.bcc = prepared.bcc
    message.date = now()
    if message.thread is not None:
        refresh_thread(message.thread)
    session.flush()
    index_message(session, message)
    return Sent(message, partial)


# ------------------------------------------------------------------------------ helpers


def _deliver(
    session: Session,
    ctx: EngineContext,
    server: smtp.SmtpServer,
    sender: str,
    recipients: list[str],
    raw_sha: str,
) -> SendError | None:
    """Hand the stored message to SMTP; an APIError when nothing went out. What the session
    read so far is committed first: it holds no connection, transaction or lock while the
    SMTP server talks (nothing was written yet, see above)."""
    session.commit()
    try:
        with ctx.blobs.open(raw_sha) as message:
            refused = smtp.deliver(server, sender, recipients, message)
    except SendError as exc:
        raise api_error(exc) from exc
    return errors.partly_refused(refused) if refused else None


def server_for(ctx: EngineContext, account: Account) -> smtp.SmtpServer:
    try:
        return smtp.server_for(account, ctx.settings.data_dir)
    except SendError as exc:
        raise api_error(exc) from exc


def api_error(exc: SendError) -> APIError:
    return APIError(
        exc.status, exc.message, "api_error", server_error=exc.server_error, failures=exc.failures
    )


def _recipients(*groups: list[dict[str, Any]]) -> list[str]:
    """Every to/cc/bcc address, checked (400) and de-duplicated, in order."""
    found: list[str] = []
    for group in groups:
        for person in group or []:
            address = (person.get("email") or "").strip()
            _, parsed = parseaddr(address)
            if not parsed or parsed != address or "@" not in address or " " in address:
                raise bad_request(f"Invalid recipient address {address}")
            if not address.isascii():
                raise APIError(402, f"Recipient address can't be encoded: {address}", "api_error")
            if address.lower() not in (a.lower() for a in found):
                found.append(address)
    if not found:
        raise bad_request("No recipients specified")
    return found


def _sent_categories(session: Session, account: Account) -> list[Category]:
    roles = ["sent"] if account.organization_unit != "label" else ["sent", "all"]
    found = [category_by_role(session, account, role) for role in roles]
    return [c for c in found if c is not None]


def _domain(account: Account) -> str | None:
    return (account.email_address or "").rpartition("@")[2] or None
