"""What the test IMAP servers (dovecot.py, cyrus.py) share: how tests reach them as another
mail client (IMAP APPEND, LMTP delivery) and the engine's settings for a mailbox there."""

from __future__ import annotations

import smtplib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from imapclient import IMAPClient

PASSWORD = "secret"
# The folders every test mailbox has, with their SPECIAL-USE flag (RFC 6154).
SPECIAL_FOLDERS = {
    "Drafts": "\\Drafts",
    "Sent": "\\Sent",
    "Trash": "\\Trash",
    "Junk": "\\Junk",
    "Archive": "\\Archive",
}
Server = TypeVar("Server", bound="LocalImapServer")


class LocalImapServer:
    """A server on loopback ports of its own (`imap_port`, `lmtp_port`), files in `dir`."""

    host = "127.0.0.1"
    imap_port: int
    lmtp_port: int
    dir: Path
    LOG = "server.log"  # in `dir`

    def start(self: Server) -> Server:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def log(self) -> str:
        path = self.dir / self.LOG
        return path.read_text(errors="replace") if path.exists() else ""

    def __enter__(self: Server) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def server_settings(self, email: str) -> Any:
        """The engine's `ServerSettings` for a mailbox here (IMAP without TLS, no SMTP)."""
        from nylas_engine.sync.imap import ServerSettings

        return ServerSettings(
            email=email,
            imap_host=self.host,
            imap_port=self.imap_port,
            imap_username=email,
            smtp_host=None,
            smtp_port=None,
            smtp_username=email,
            security="plain",
        )

    def client(self, user: str, password: str = PASSWORD) -> IMAPClient:
        """A logged-in imapclient connection (the "other mail client" in tests)."""
        imap = IMAPClient(self.host, port=self.imap_port, ssl=False, timeout=30)
        imap.login(user, password)
        return imap

    def append(
        self,
        user: str,
        messages: Iterable[bytes],
        folder: str = "INBOX",
        flags: Iterable[bytes | str] = (),
        password: str = PASSWORD,
        date: datetime | None = None,
    ) -> list[int]:
        """APPEND raw messages to `folder`; returns their UIDs (UIDPLUS)."""
        uids = []
        with self.client(user, password) as imap:
            for raw in messages:
                reply = imap.append(folder, raw, flags=tuple(flags), msg_time=date)
                # b'[APPENDUID <uidvalidity> <uid>] Append completed.'
                uids.append(int(reply.split(b"]")[0].split()[-1]))
            imap.logout()
        return uids

    def deliver(self, recipient: str, raw: bytes, sender: str = "sender@example.org") -> None:
        """Deliver a message into `recipient`'s INBOX over LMTP, as a mail server would."""
        with smtplib.LMTP(self.host, self.lmtp_port, timeout=30) as lmtp:
            refused = lmtp.sendmail(sender, [recipient], raw)
        if refused:
            raise RuntimeError(f"LMTP refused {recipient}: {refused}")
