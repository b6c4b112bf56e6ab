"""Put mail into a test account the way the engine's own import does: real RFC 822 bytes
through `ingest_message`, written to the engine's database and blob store."""

from __future__ import annotations

import itertools
from datetime import datetime, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

from sqlalchemy import select

_seq = itertools.count()
BASE_TS = 1_700_000_000


def build_mime(
    *,
    subject: str,
    from_: str,
    to: list[str] | str,
    cc: list[str] | None = None,
    bcc: list[str] | None = None,
    date: int,
    body: str = "Hello there",
    files: list[tuple[str, str, bytes]] | None = None,
    in_reply_to: str | None = None,
    message_id: str | None = None,
) -> tuple[bytes, str]:
    """(raw bytes, Message-Id) of a small message; `files` are (name, type, bytes)."""
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = from_
    msg["To"] = ", ".join(to) if isinstance(to, list) else to
    if cc:
        msg["Cc"] = ", ".join(cc)
    if bcc:
        msg["Bcc"] = ", ".join(bcc)
    msg["Date"] = format_datetime(datetime.fromtimestamp(date, timezone.utc))
    message_id = message_id or make_msgid(idstring=f"t{next(_seq)}", domain="test.example")
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body)
    for name, ctype, data in files or []:
        maintype, subtype = ctype.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes(), message_id


class Mailbox:
    """Adds messages to one account of a test engine; returns public ids."""

    def __init__(self, engine: Any, account: dict[str, Any]) -> None:
        self.engine = engine
        self.account_id = account["id"]
        self.email = account["email_address"]

    def _blobs(self) -> Any:
        from nylas_engine.store.blobs import BlobStore

        return BlobStore(self.engine.data_dir / "blobs")

    def add(
        self,
        subject: str = "Hello",
        *,
        from_: str = "Alice <alice@example.org>",
        to: list[str] | str | None = None,
        cc: list[str] | None = None,
        bcc: list[str] | None = None,
        date: int | None = None,
        body: str = "Hello there",
        files: list[tuple[str, str, bytes]] | None = None,
        reply_to: dict[str, Any] | None = None,
        folder: str | None = None,
        labels: list[str] | None = None,
        unread: bool = True,
        starred: bool = False,
        draft: bool = False,
    ) -> dict[str, Any]:
        """One message; `reply_to` is an earlier result of `add` to thread under.
        `folder`/`labels` name categories by role or display name (created if missing)."""
        from nylas_engine.store.mail import get_or_create_category, ingest_message
        from nylas_engine.store.models import Account

        date = date if date is not None else BASE_TS + next(_seq) * 60
        raw, msgid = build_mime(
            subject=subject,
            from_=from_,
            to=to if to is not None else [self.email],
            cc=cc,
            bcc=bcc,
            date=date,
            body=body,
            files=files,
            in_reply_to=reply_to["message_id_header"] if reply_to else None,
        )
        with self.engine.db.session() as session:
            account = session.scalar(select(Account).where(Account.public_id == self.account_id))
            names = labels if labels is not None else [folder] if folder else None
            categories = None
            if names is not None:
                categories = [
                    get_or_create_category(session, account, name, _role(name)) for name in names
                ]
            message = ingest_message(
                session,
                self._blobs(),
                account,
                raw,
                categories=categories,
                unread=unread,
                starred=starred,
                is_draft=draft,
            )
            return {
                "id": message.public_id,
                "thread_id": message.thread.public_id,
                "message_id_header": msgid,
                "raw": raw,
                "raw_sha256": message.raw_sha256,
                "date": date,
            }


ROLES = {"inbox", "sent", "drafts", "trash", "spam", "archive", "all", "important"}


def _role(name: str) -> str | None:
    return name if name in ROLES else None


def category_id(api: Any, kind: str, name: str) -> str:
    """The public id of the account's folder/label whose role or display name is `name`."""
    for item in api.get(f"/{kind}s").json():
        if name in (item["name"], item["display_name"]):
            return str(item["id"])
    raise LookupError(name)
