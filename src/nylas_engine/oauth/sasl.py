"""Logging in to IMAP and SMTP with an OAuth 2.0 access token.

Two SASL mechanisms carry the token: Google's and Microsoft's XOAUTH2, and RFC 7628's
OAUTHBEARER (the standard one, which Gmail and Dovecot also accept). The server's
capabilities decide: XOAUTH2 where offered (the big providers), else OAUTHBEARER.

A refused token is retried once with a freshly refreshed one (the cached one may have been
revoked before its expiry); a second refusal is the server's answer (`AuthFailed` above).
"""

from __future__ import annotations

import base64
import smtplib
from collections.abc import Callable, Iterable

from imapclient import IMAPClient

XOAUTH2 = "XOAUTH2"
OAUTHBEARER = "OAUTHBEARER"


def xoauth2(user: str, token: str) -> str:
    """The XOAUTH2 initial response (before base64)."""
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


def oauthbearer(user: str, token: str) -> str:
    """RFC 7628 §3.1: a GS2 header naming the user, then the bearer token."""
    name = user.replace("=", "=3D").replace(",", "=2C")
    return f"n,a={name},\x01auth=Bearer {token}\x01\x01"


def choose(offered: Iterable[str]) -> str:
    """The mechanism to use among the server's (XOAUTH2 first); XOAUTH2 if it lists none."""
    names = {m.upper() for m in offered}
    if XOAUTH2 in names or OAUTHBEARER not in names:
        return XOAUTH2
    return OAUTHBEARER


def _initial(mechanism: str, user: str, token: str) -> str:
    return (xoauth2 if mechanism == XOAUTH2 else oauthbearer)(user, token)


def imap_mechanisms(client: IMAPClient) -> list[str]:
    caps = [c.decode() if isinstance(c, bytes) else str(c) for c in client.capabilities()]
    return [c[5:] for c in caps if c.upper().startswith("AUTH=")]


def imap_login(client: IMAPClient, user: str, token: Callable[[bool], str]) -> None:
    """AUTHENTICATE with the token `token(fresh)` gives, once more with a fresh one if the
    server refuses (imapclient's LoginError escapes the second time)."""
    from imapclient import exceptions as imap_errors

    mechanism = choose(imap_mechanisms(client))
    for fresh in (False, True):
        initial = _initial(mechanism, user, token(fresh))
        try:
            # The server answers a refusal with a challenge holding its error (RFC 7628
            # §3.2.2): the client's reply to that is an empty line ("\x01"), then the NO.
            client._imap.authenticate(mechanism, _Responder(initial))
            client._imap.state = "AUTH"
            return
        except client._imap.error as exc:
            if fresh:
                raise imap_errors.LoginError(str(exc)) from None


class _Responder:
    """imaplib's authentication callback: the initial response first, then "\\x01" to any
    error challenge."""

    def __init__(self, initial: str) -> None:
        self.initial = initial.encode()
        self.sent = False

    def __call__(self, _challenge: bytes) -> bytes:
        if self.sent:
            return b"\x01"
        self.sent = True
        return self.initial


def smtp_login(smtp: smtplib.SMTP, user: str, token: Callable[[bool], str]) -> None:
    """AUTH with the token, once more with a fresh one if refused (the server's
    SMTPAuthenticationError escapes the second time). A server that offers no AUTH (a relay)
    is used without, as with passwords."""
    if not smtp.has_extn("auth"):
        return
    mechanism = choose(smtp.esmtp_features.get("auth", "").split())
    for fresh in (False, True):
        initial = base64.b64encode(_initial(mechanism, user, token(fresh)).encode()).decode()
        code, reply = smtp.docmd("AUTH", f"{mechanism} {initial}")
        if code == 334:  # an error challenge: answer it empty to get the final reply
            code, reply = smtp.docmd("")
        if code in (235, 503):  # 503: already authenticated
            return
        if fresh or code not in (535, 534, 454, 530):
            raise smtplib.SMTPAuthenticationError(code, reply)
