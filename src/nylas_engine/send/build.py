"""Build the RFC 822 bytes of an outgoing message, straight into the blob store.

The structure (headers, text and HTML alternatives, multipart/related for inline images,
multipart/mixed for attachments) is made by the stdlib `EmailMessage`; each file part is
given a one-line placeholder as its payload, and the placeholders are replaced by the file's
base64 text while the result is written, read from the blob store chunk by chunk. So a
message with a large attachment is never held in memory. No `Bcc` header is ever written:
Bcc recipients only appear in the SMTP envelope.
"""

from __future__ import annotations

import base64
import email.utils
import mimetypes
import re
import uuid
from dataclasses import dataclass, field
from email import policy
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

from nylas_engine import __version__
from nylas_engine.errors import InvalidRequest
from nylas_engine.mime.html_text import html_to_text
from nylas_engine.store.blobs import BlobStore

USER_AGENT = f"nylas-engine/{__version__}"
_B64_CHUNK = 57 * 1024  # a multiple of 57 bytes: every base64 line is a full 76 characters


@dataclass
class FilePart:
    sha256: str
    filename: str | None
    content_type: str | None
    content_id: str | None = None  # set for inline parts (`cid:<file id>` in the body)


@dataclass
class Outgoing:
    from_: list[dict[str, Any]]
    to: list[dict[str, Any]]
    cc: list[dict[str, Any]]
    reply_to: list[dict[str, Any]]
    subject: str
    body: str  # HTML
    message_id: str
    date: int
    in_reply_to: str | None = None
    references: list[str] = field(default_factory=list)
    files: list[FilePart] = field(default_factory=list)


def new_message_id(domain: str | None, local: str | None = None) -> str:
    """`<local@domain>`, with the sending account's domain when it has one."""
    return f"<{local or uuid.uuid4().hex}@{domain or 'nylas-engine.local'}>"


def one_line(text: str) -> str:
    """Header text with its line breaks folded into spaces. A header can't hold CR or LF
    (they would start a header of the sender's choosing); in a subject or a name they are
    a slip of the client, which shouldn't stop the mail, so they are folded, not refused."""
    return _LINE_BREAKS.sub(" ", text)


_LINE_BREAKS = re.compile(r"[\r\n]+")


def is_address(text: str) -> bool:
    """Whether `text` is an address the headers can carry (`@example.org` is not)."""
    try:
        Address(addr_spec=text)
    except (ValueError, IndexError, HeaderParseError):
        return False
    return True


def addresses(participants: list[dict[str, Any]]) -> list[Address]:
    found = []
    for p in participants:
        if not p.get("email"):
            continue
        if not is_address(p["email"]):
            raise InvalidRequest(f"Invalid address {p['email']}")
        found.append(Address(display_name=one_line(p.get("name") or ""), addr_spec=p["email"]))
    return found


def write(outgoing: Outgoing, blobs: BlobStore) -> tuple[str, int]:
    """Render `outgoing` into the blob store; returns the blob's (sha256, size)."""
    token = uuid.uuid4().hex
    placeholders = {f"NYLAS-ENGINE-PART-{token}-{i}": f for i, f in enumerate(outgoing.files)}
    skeleton = _skeleton(outgoing, placeholders).as_bytes(policy=policy.SMTP)
    pieces = re.split(rb"(NYLAS-ENGINE-PART-" + token.encode() + rb"-\d+)", skeleton)
    writer = blobs.writer()
    try:
        for piece in pieces:
            part = placeholders.get(piece.decode("ascii", "replace"))
            if part is None:
                writer.write(piece)
            else:
                _write_base64(writer, blobs, part.sha256)
    except BaseException:
        writer.abort()
        raise
    return writer.finish()


def _skeleton(outgoing: Outgoing, placeholders: dict[str, FilePart]) -> EmailMessage:
    msg = EmailMessage(policy=policy.SMTP)
    msg.set_content(html_to_text(outgoing.body) + "\n")
    msg.add_alternative(outgoing.body, subtype="html")
    inline = [_file_leaf(f, k, "inline") for k, f in placeholders.items() if f.content_id]
    attached = [_file_leaf(f, k, "attachment") for k, f in placeholders.items() if not f.content_id]
    if inline:
        msg = _container("related", [msg, *inline])
    if attached:
        msg = _container("mixed", [msg, *attached])
    for part in msg.walk():
        del part["MIME-Version"]
    msg["MIME-Version"] = "1.0"

    msg["Message-Id"] = outgoing.message_id
    msg["Date"] = email.utils.formatdate(outgoing.date, usegmt=True)
    msg["Subject"] = one_line(outgoing.subject or "")
    msg["From"] = addresses(outgoing.from_)
    if outgoing.reply_to:
        msg["Reply-To"] = addresses(outgoing.reply_to)
    if outgoing.to:
        msg["To"] = addresses(outgoing.to)
    if outgoing.cc:
        msg["Cc"] = addresses(outgoing.cc)
    if outgoing.in_reply_to:
        msg["In-Reply-To"] = outgoing.in_reply_to
    if outgoing.references:
        msg["References"] = " ".join(outgoing.references)
    msg["User-Agent"] = USER_AGENT
    return msg


def _container(subtype: str, parts: list[EmailMessage]) -> EmailMessage:
    container = EmailMessage(policy=policy.SMTP)
    container["Content-Type"] = f"multipart/{subtype}"
    for part in parts:
        container.attach(part)
    return container


def _file_leaf(part: FilePart, placeholder: str, disposition: str) -> EmailMessage:
    leaf = EmailMessage(policy=policy.SMTP)
    content_type = part.content_type or mimetypes.guess_type(part.filename or "")[0]
    if not content_type or "/" not in content_type:
        content_type = "application/octet-stream"
    leaf["Content-Type"] = content_type
    leaf["Content-Disposition"] = disposition
    if part.filename:
        leaf.set_param("name", part.filename)
        leaf.set_param("filename", part.filename, header="Content-Disposition")
    leaf["Content-Transfer-Encoding"] = "base64"
    if part.content_id:
        leaf["Content-Id"] = f"<{part.content_id}>"
    leaf.set_payload(placeholder)
    return leaf


def _write_base64(writer: Any, blobs: BlobStore, sha256: str) -> None:
    first = True
    for chunk in blobs.iter_chunks(sha256, _B64_CHUNK):
        encoded = base64.encodebytes(chunk).rstrip(b"\n").replace(b"\n", b"\r\n")
        if not first:
            writer.write(b"\r\n")
        writer.write(encoded)
        first = False


# ---------------------------------------------------------------------------------- raw MIME


@dataclass
class RawMessage:
    """A client's own MIME message, checked and ready to send (Bcc header removed)."""

    data: bytes
    sender: list[dict[str, Any]]
    to: list[dict[str, Any]]
    cc: list[dict[str, Any]]
    bcc: list[dict[str, Any]]
    message_id: str
    subject: str = ""


def prepare_raw(raw: bytes, default_message_id: str, default_from: dict[str, Any]) -> RawMessage:
    """Parse a raw message (docs/protocol.md §9 mode 3): at most one From and one Reply-To; From
    (the account), Message-Id and User-Agent are added when missing; Bcc is taken out."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    for name in ("From", "Reply-To"):
        values = msg.get_all(name) or []
        found = sum(len(_header_addresses(v)) for v in values)
        if len(values) > 1 or found > 1:
            raise InvalidRequest(f"A message can have at most one {name} address")
    bcc = [p for v in msg.get_all("Bcc") or [] for p in _header_addresses(v)]
    del msg["Bcc"]
    if not msg.get_all("From"):
        msg["From"] = addresses([default_from])
    if not msg.get("Message-Id"):
        msg["Message-Id"] = default_message_id
    if not msg.get("User-Agent"):
        msg["User-Agent"] = USER_AGENT
    if not msg.get("Date"):
        msg["Date"] = email.utils.formatdate(usegmt=True)
    return RawMessage(
        data=msg.as_bytes(policy=policy.SMTP),
        sender=[p for v in msg.get_all("From") or [] for p in _header_addresses(v)],
        to=[p for v in msg.get_all("To") or [] for p in _header_addresses(v)],
        cc=[p for v in msg.get_all("Cc") or [] for p in _header_addresses(v)],
        bcc=bcc,
        message_id=str(msg.get("Message-Id")).strip(),
        subject=str(msg.get("Subject") or ""),
    )


def _header_addresses(value: Any) -> list[dict[str, Any]]:
    try:
        found = list(getattr(value, "addresses", ()))
    except Exception:  # a header the parser could not read: fall back to the raw text
        found = []
    if found:
        return [{"name": a.display_name or "", "email": a.addr_spec} for a in found]
    return [
        {"name": name, "email": addr}
        for name, addr in email.utils.getaddresses([str(value)])
        if addr
    ]
