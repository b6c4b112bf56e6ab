"""Deliver one MIME message through the account's SMTP server (stdlib smtplib, blocking).

The message is read from a file line by line and written to the DATA stream as it is read
(dot-stuffed), so a large attachment never sits in memory whole. Every failure leaves as a
`SendError` carrying the HTTP status of docs/protocol.md §2.3; refused recipients are collected so
the caller can tell a partial failure (some accepted) from a rejection (none accepted).
"""

from __future__ import annotations

import logging
import os
import smtplib
import ssl
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from nylas_engine.send import errors
from nylas_engine.send.errors import SendError
from nylas_engine.store import credentials
from nylas_engine.store.credentials import CredentialsError, MailCredentials
from nylas_engine.store.models import Account
from nylas_engine.sync.dial import PinnedSMTP, PinnedSMTPSSL
from nylas_engine.sync.hosts import HostRefused, MailHostPolicy
from nylas_engine.sync.imap import SyncError

log = logging.getLogger("nylas_engine.send")

TIMEOUT = 60.0
# An account without stored credentials may name an environment variable holding its SMTP
# password in metadata["smtp_password_env"]. Only variables with this prefix are read, so an
# account setting can never make the engine hand out other secrets.
PASSWORD_ENV_PREFIX = "NYLAS_SMTP_PASSWORD"
_BATCH = 64 * 1024


@dataclass
class SmtpServer:
    host: str
    port: int
    security: str = "plain"  # tls | starttls | plain
    username: str | None = None
    password: str | None = None
    # Set for an account whose hosts a caller chose: the host's addresses are checked
    # against it at each connection (sync/hosts.py).
    policy: MailHostPolicy | None = None
    # An OAuth 2.0 account's credentials: AUTH XOAUTH2/OAUTHBEARER instead of a password.
    oauth: MailCredentials | None = None


def server_for(
    account: Account, data_dir: Path | None = None, policy: MailHostPolicy | None = None
) -> SmtpServer:
    """The account's SMTP settings and login; a 400 saying how to configure them when it
    has none (nothing can be sent, and no retry will change that).

    The password is the account's stored one (decrypted with the engine's key in
    `data_dir`); accounts without stored credentials may name an environment variable.
    `policy` is applied to the host when the account's hosts are checked ones.
    """
    if not account.smtp_host:
        raise errors.not_configured(account.email_address)
    security = (account.smtp_security or account.security or "plain").lower()
    port = account.smtp_port or {"tls": 465, "starttls": 587}.get(security, 25)
    username, password = account.smtp_username, None
    stored = _stored_credentials(account, data_dir)
    checked = policy if account.hosts_checked else None
    if stored is not None and stored.oauth is not None:
        user = username or account.imap_username or account.email_address
        return SmtpServer(account.smtp_host, port, security, user, None, checked, stored)
    if stored is not None:
        username, password = username or account.imap_username, stored.smtp
    else:
        password = _password_from_env(account)
    return SmtpServer(account.smtp_host, port, security, username, password, checked)


def _stored_credentials(account: Account, data_dir: Path | None) -> MailCredentials | None:
    if data_dir is None:
        return None
    try:
        return credentials.load(data_dir, account)
    except CredentialsError as exc:
        raise SendError(
            503, "The account's stored SMTP password cannot be read with this engine's key."
        ) from exc


def _password_from_env(account: Account) -> str | None:
    name = (account.metadata_ or {}).get("smtp_password_env")
    if not isinstance(name, str) or not name.startswith(PASSWORD_ENV_PREFIX):
        return None
    return os.environ.get(name)


def deliver(
    server: SmtpServer,
    sender: str,
    recipients: list[str],
    message: BinaryIO,
    before_data: Callable[[], None] | None = None,
) -> dict[str, tuple[int, bytes]]:
    """Send `message` (CRLF lines) to `recipients`; returns the refused ones.

    Raises SendError when nothing was delivered. A non-empty result means the message went
    to the other recipients (the caller reports a partial failure). `before_data` is called
    right before the DATA command, from which point the message may go out; a SendError
    after it that is not the server's own refusal (a lost connection, a timeout) has
    `outcome_unknown` set: the server may have taken the message.
    """
    data = _DataStarted(before_data)
    try:
        with _connect(server) as smtp:
            _login(smtp, server)
            return _transaction(smtp, sender, recipients, message, data)
    except SendError:
        raise
    except smtplib.SMTPResponseException as exc:
        raise errors.from_reply(exc.smtp_code, exc.smtp_error) from exc
    except smtplib.SMTPServerDisconnected as exc:
        raise data.mark(errors.disconnected(str(exc))) from exc
    except (ssl.SSLError, ssl.CertificateError) as exc:
        raise data.mark(errors.unreachable(f"TLS failure: {exc}")) from exc
    except (OSError, smtplib.SMTPException) as exc:
        raise data.mark(errors.unreachable(str(exc) or type(exc).__name__)) from exc


class _DataStarted:
    """Whether DATA has been sent (and the caller told just before)."""

    def __init__(self, before_data: Callable[[], None] | None) -> None:
        self.before_data = before_data
        self.started = False

    def start(self) -> None:
        if self.before_data is not None:
            self.before_data()
        self.started = True

    def mark(self, error: SendError) -> SendError:
        error.outcome_unknown = self.started
        return error


def _addresses(server: SmtpServer) -> tuple[str, ...]:
    """Where to connect: the host itself, or its addresses the policy allows now."""
    if server.policy is None:
        return (server.host,)
    try:
        return server.policy.addresses(server.host, server.port, "SMTP")
    except (HostRefused, SyncError) as exc:
        raise errors.unreachable(str(exc)) from None


def _connect(server: SmtpServer) -> smtplib.SMTP:
    context = ssl.create_default_context()
    addresses = _addresses(server)
    smtp: smtplib.SMTP
    if server.security == "tls":
        smtp = PinnedSMTPSSL(
            server.host, server.port, addresses=addresses, timeout=TIMEOUT, context=context
        )
    else:
        smtp = PinnedSMTP(server.host, server.port, addresses=addresses, timeout=TIMEOUT)
    try:
        smtp.ehlo_or_helo_if_needed()
        if server.security == "starttls":
            if not smtp.has_extn("starttls"):
                raise SendError(
                    403, "The SMTP server does not support STARTTLS, which is required."
                )
            smtp.starttls(context=context)
            smtp.ehlo()
    except BaseException:
        smtp.close()
        raise
    return smtp


def _login(smtp: smtplib.SMTP, server: SmtpServer) -> None:
    """Log in when we have a password and the server offers AUTH (a relay may not); with an
    OAuth token always (oauth/sasl.py)."""
    if server.oauth is not None and server.username:
        _oauth_login(smtp, server.username, server.oauth)
        return
    if not server.username or server.password is None or not smtp.has_extn("auth"):
        return
    try:
        smtp.login(server.username, server.password)
    except smtplib.SMTPAuthenticationError as exc:
        raise errors.auth_failed(exc.smtp_code, exc.smtp_error) from exc


def _oauth_login(smtp: smtplib.SMTP, user: str, oauth: MailCredentials) -> None:
    from nylas_engine.oauth import sasl
    from nylas_engine.sync.imap import AuthFailed, SyncError, token_source

    try:
        sasl.smtp_login(smtp, user, token_source(oauth, "SMTP"))
    except smtplib.SMTPAuthenticationError as exc:
        raise errors.auth_failed(exc.smtp_code, exc.smtp_error) from exc
    except AuthFailed as exc:
        raise SendError(403, "The account's OAuth authorization was revoked or expired.") from exc
    except SyncError as exc:
        raise errors.unreachable(str(exc)) from exc


def _transaction(
    smtp: smtplib.SMTP,
    sender: str,
    recipients: list[str],
    message: BinaryIO,
    data: _DataStarted,
) -> dict[str, tuple[int, bytes]]:
    options = ["BODY=8BITMIME"] if smtp.has_extn("8bitmime") else []
    code, reply = smtp.mail(sender, options)
    if code != 250:
        raise errors.from_reply(code, reply)
    refused: dict[str, tuple[int, bytes]] = {}
    for recipient in recipients:
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            refused[recipient] = (code, reply)
    if len(refused) == len(recipients):
        _reset(smtp)
        raise errors.all_refused(refused)
    data.start()
    code, reply = smtp.docmd("DATA")
    if code != 354:
        raise errors.from_reply(code, reply)
    for chunk in _dot_stuffed(message):
        smtp.send(chunk)
    smtp.send(b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        raise errors.from_reply(code, reply)
    return refused


def _reset(smtp: smtplib.SMTP) -> None:
    try:
        smtp.rset()
    except (smtplib.SMTPException, OSError):
        log.debug("RSET failed after all recipients were refused", exc_info=True)


def _dot_stuffed(message: BinaryIO) -> Iterator[bytes]:
    """The DATA stream: CRLF line ends, a leading '.' doubled, ending with CRLF."""
    batch: list[bytes] = []
    size = 0
    last = b"\r\n"
    for line in message:
        if line.startswith(b"."):
            line = b"." + line
        if line.endswith(b"\r\n"):
            pass
        elif line.endswith((b"\n", b"\r")):
            line = line[:-1] + b"\r\n"
        batch.append(line)
        size += len(line)
        last = line
        if size >= _BATCH:
            yield b"".join(batch)
            batch, size = [], 0
    if not last.endswith(b"\r\n"):
        batch.append(b"\r\n")
    if batch:
        yield b"".join(batch)
