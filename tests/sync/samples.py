"""Real-world shaped messages for the sync tests (bytes, as a server would store them)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid

BASE_DATE = datetime(2024, 5, 1, 9, 0, tzinfo=timezone.utc)
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000100e221bc330000000049454e44ae426082"
)


def plain(
    subject: str,
    to: str,
    *,
    sender: str = "Ann Sender <ann@example.org>",
    body: str | None = None,
    minutes: int = 0,
    message_id: str | None = None,
    in_reply_to: str | None = None,
) -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(BASE_DATE + timedelta(minutes=minutes))
    msg["Message-ID"] = message_id or make_msgid(domain="example.org")
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = in_reply_to
    msg.set_content(body if body is not None else f"Body of {subject}.\n")
    return bytes(msg)


def alternative(subject: str, to: str, minutes: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Bob Html <bob@example.org>"
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = format_datetime(BASE_DATE + timedelta(minutes=minutes))
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("Plain version of the newsletter.\n")
    msg.add_alternative("<html><body><h1>Newsletter</h1><p>HTML version</p></body></html>", "html")
    return bytes(msg)


def with_attachment_and_inline_image(subject: str, to: str, minutes: int = 0) -> bytes:
    msg = EmailMessage()
    msg["From"] = "Carol Files <carol@example.org>"
    msg["To"] = to
    msg["Cc"] = "Dan <dan@example.org>"
    msg["Subject"] = subject
    msg["Date"] = format_datetime(BASE_DATE + timedelta(minutes=minutes))
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("See the report attached.\n")
    msg.add_alternative(
        '<html><body><p>Logo:</p><img src="cid:logo@example.org"></body></html>', "html"
    )
    msg.get_payload()[1].add_related(PNG, "image", "png", cid="<logo@example.org>")
    msg.add_attachment(
        b"%PDF-1.4\n% a tiny pdf\n", maintype="application", subtype="pdf", filename="report.pdf"
    )
    return bytes(msg)


def latin1(to: str, minutes: int = 0) -> bytes:
    """ISO-8859-1 body and an RFC 2047 encoded subject ("Café crème")."""
    return (
        "From: =?iso-8859-1?q?Fran=E7ois?= <francois@example.fr>\r\n"
        f"To: {to}\r\n"
        "Subject: =?iso-8859-1?q?Caf=E9_cr=E8me?=\r\n"
        f"Date: {format_datetime(BASE_DATE + timedelta(minutes=minutes))}\r\n"
        "Message-ID: <latin1-creme@example.fr>\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: 8bit\r\n"
        "\r\n"
    ).encode("ascii") + "Voilà, un café très crème.\r\n".encode("iso-8859-1")


def malformed(to: str) -> bytes:
    """No Message-ID, a date nobody can parse, an address list with junk in it."""
    return (
        "From: broken sender <<broken@@example.org\r\n"
        f"To: {to}, ,, undisclosed-recipients:;\r\n"
        "Subject: Malformed headers\r\n"
        "Date: the day after tomorrow\r\n"
        "Content-Type: text/plain; charset=x-unknown-charset\r\n"
        "\r\n"
        "Still readable body.\r\n"
    ).encode("ascii")
