"""Connecting to an account's mail servers: IMAP login, SMTP check, and what failures mean.

Every failure becomes one of two exceptions, because the sync worker treats them differently:
`AuthFailed` (the server said no: sync_state `invalid`, wait for new credentials) and
`ServerUnreachable` (network, TLS or protocol trouble: sync_state `connerror`, retry later).
Messages name the server and the cause, never the password.
"""

from __future__ import annotations

import contextlib
import smtplib
import socket
import ssl
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors

from nylas_engine.store.credentials import MailCredentials

SECURITY_MODES = ("tls", "starttls", "plain")
TIMEOUT = 30.0
# What a dropped or confused connection raises once logged in (imaplib's errors included).
NETWORK_ERRORS = (OSError, imap_errors.IMAPClientError)


class SyncError(Exception):
    """A problem talking to the mail server; `sync_state` says which kind."""

    sync_state = "connerror"


class AuthFailed(SyncError):
    sync_state = "invalid"


class ServerUnreachable(SyncError):
    sync_state = "connerror"


@dataclass(frozen=True)
class ServerSettings:
    """Where an account's mail lives. `security` applies to IMAP and SMTP alike."""

    email: str
    imap_host: str
    imap_port: int
    imap_username: str
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_username: str | None = None
    security: str = "tls"

    @classmethod
    def from_account(cls, account: Any) -> ServerSettings:
        return cls(
            email=account.email_address,
            imap_host=account.imap_host,
            imap_port=account.imap_port or default_imap_port(account.security),
            imap_username=account.imap_username or account.email_address,
            smtp_host=account.smtp_host,
            smtp_port=account.smtp_port,
            smtp_username=account.smtp_username or account.imap_username or account.email_address,
            security=account.security,
        )


def default_imap_port(security: str) -> int:
    return 993 if security == "tls" else 143


def default_smtp_port(security: str) -> int:
    return {"tls": 465, "starttls": 587}.get(security, 25)


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def connect_imap(
    settings: ServerSettings, credentials: MailCredentials, timeout: float = TIMEOUT
) -> IMAPClient:
    """A logged-in IMAPClient, or `AuthFailed` / `ServerUnreachable`."""
    where = f"IMAP server {settings.imap_host}:{settings.imap_port}"
    try:
        client = IMAPClient(
            settings.imap_host,
            port=settings.imap_port,
            ssl=settings.security == "tls",
            ssl_context=_tls_context(),
            timeout=timeout,
        )
    except (OSError, imap_errors.IMAPClientError) as exc:
        raise ServerUnreachable(f"cannot connect to the {where}: {_describe(exc)}") from None
    try:
        if settings.security == "starttls":
            client.starttls(_tls_context())
        client.login(settings.imap_username, credentials.imap_password)
    except imap_errors.LoginError as exc:
        close_quietly(client)
        raise AuthFailed(
            f"the {where} refused the login for {settings.imap_username}: {_describe(exc)}"
        ) from None
    except (OSError, imap_errors.IMAPClientError) as exc:
        close_quietly(client)
        raise ServerUnreachable(f"lost the {where} while logging in: {_describe(exc)}") from None
    return client


def check_smtp(
    settings: ServerSettings, credentials: MailCredentials, timeout: float = TIMEOUT
) -> None:
    """Connect to the SMTP server and log in if it offers AUTH; raise like `connect_imap`."""
    if not settings.smtp_host:
        return
    port = settings.smtp_port or default_smtp_port(settings.security)
    where = f"SMTP server {settings.smtp_host}:{port}"
    smtp: smtplib.SMTP | None = None
    try:
        if settings.security == "tls":
            smtp = smtplib.SMTP_SSL(
                settings.smtp_host, port, timeout=timeout, context=_tls_context()
            )
        else:
            smtp = smtplib.SMTP(settings.smtp_host, port, timeout=timeout)
        smtp.ehlo()
        if settings.security == "starttls":
            smtp.starttls(context=_tls_context())
            smtp.ehlo()
        if smtp.has_extn("auth"):
            smtp.login(settings.smtp_username or settings.imap_username, credentials.smtp)
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthFailed(f"the {where} refused the login: {_describe(exc)}") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ServerUnreachable(f"cannot use the {where}: {_describe(exc)}") from None
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def verify(settings: ServerSettings, credentials: MailCredentials) -> None:
    """Log in to IMAP (and check SMTP) once, as done before an account is created."""
    client = connect_imap(settings, credentials)
    close_quietly(client)
    check_smtp(settings, credentials)


def close_quietly(client: IMAPClient) -> None:
    try:
        client.logout()
    except Exception:  # closing a broken connection must not raise
        with contextlib.suppress(Exception):
            client.shutdown()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, socket.timeout | TimeoutError):
        return "timed out"
    if isinstance(exc, smtplib.SMTPResponseException):
        error = exc.smtp_error
        text = error.decode(errors="replace") if isinstance(error, bytes) else str(error or "")
        return f"{exc.smtp_code} {text}".strip()
    if isinstance(exc, ssl.SSLError):
        return f"TLS error ({exc.reason or exc})"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, socket.gaierror):
        return f"unknown host ({exc.strerror})"
    text = str(exc)
    if text.startswith(("b'", 'b"')):  # imaplib puts server replies in as bytes reprs
        text = text[2:-1]
    return text or type(exc).__name__
