"""A real SMTP server for send tests: aiosmtpd in a thread on a free loopback port.

`SmtpListener()` accepts and records every message; the `mode` variants answer the way real
providers fail, so the engine's error mapping (docs/protocol.md §2.3) is tested against real SMTP
replies:

* "ok": accept everything;
* "reject_rcpt": 550 5.1.1 for every recipient;
* "reject_some": 550 5.1.1 for recipients whose address contains "bad", accept the others;
* "too_large": 552 5.3.4 after DATA;
* "throttle": 421 4.7.0 to MAIL FROM;
* "disconnect": drop the connection when the message data arrives.

`auth=(user, password)` makes the server require AUTH (LOGIN/PLAIN over plain text) and
answer 535 to any other credentials.

`oauth="<introspection URL>"` makes it require AUTH XOAUTH2 or OAUTHBEARER instead, as Gmail
and Microsoft 365 do: the bearer token is checked at that OAuth 2.0 introspection endpoint
(RFC 7662) and must be active for the user named; `oauth_users` records who logged in;
`oauth_mechanisms` limits the mechanisms offered.

`hold="MAIL"` or `hold="DATA"` makes the first transaction stop there: `held` is set when it
arrives, and the reply waits until `release` is set (a test kills the sender meanwhile). A
message held at DATA has been received and is counted in `messages`: a server that took
the message but whose "250" never reached the sender.
"""

from __future__ import annotations

import asyncio
import base64
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any

import httpx
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from nylas.testing import free_port


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes
    at: float = field(default_factory=time.time)  # when the message data arrived

    @property
    def message(self) -> EmailMessage:
        parsed: EmailMessage = BytesParser(policy=policy.default).parsebytes(self.data)
        return parsed


class _Handler:
    def __init__(self, listener: SmtpListener) -> None:
        self.listener = listener

    async def _bearer(self, server: Any, args: list[str], parse: Any) -> AuthResult:
        url = self.listener.oauth
        if url is None or len(args) != 2:
            return AuthResult(success=False)
        try:
            user, token = parse(base64.b64decode(args[1]).decode())
        except (ValueError, UnicodeDecodeError):
            return AuthResult(success=False)
        async with httpx.AsyncClient(timeout=10) as client:
            found = (await client.post(url, data={"token": token})).json()
        if found.get("active") is not True or found.get("email") != user:
            return AuthResult(success=False)
        self.listener.oauth_users.append(user)
        return AuthResult(success=True, auth_data=user)

    async def auth_XOAUTH2(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802
        return await self._bearer(server, args, _xoauth2_fields)

    async def auth_OAUTHBEARER(self, server: Any, args: list[str]) -> AuthResult:  # noqa: N802
        return await self._bearer(server, args, _oauthbearer_fields)

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.listener.mode == "throttle":
            return "421 4.7.0 Try again later, closing connection."
        await self.listener.wait_if_held("MAIL")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        mode = self.listener.mode
        if mode == "reject_rcpt" or (mode == "reject_some" and "bad" in address):
            return "550 5.1.1 The email account that you tried to reach does not exist."
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mode = self.listener.mode
        if mode == "too_large":
            return "552 5.3.4 Message size exceeds fixed limit"
        if mode == "disconnect":
            server.transport.abort()
            return "250 never seen"
        data = envelope.original_content or envelope.content
        self.listener.messages.append(
            Received(envelope.mail_from, list(envelope.rcpt_tos), bytes(data))
        )
        await self.listener.wait_if_held("DATA")
        return "250 Message accepted for delivery"


def _xoauth2_fields(text: str) -> tuple[str, str]:
    """`user=U^Aauth=Bearer T^A^A` -> (U, T)."""
    parts = dict(p.split("=", 1) for p in text.split("\x01") if p)
    return parts["user"], parts["auth"].removeprefix("Bearer ")


def _oauthbearer_fields(text: str) -> tuple[str, str]:
    """RFC 7628: `n,a=U,^Aauth=Bearer T^A^A` -> (U, T)."""
    header, _, rest = text.partition("\x01")
    user = header.split(",")[1].removeprefix("a=").replace("=2C", ",").replace("=3D", "=")
    parts = dict(p.split("=", 1) for p in rest.split("\x01") if p)
    return user, parts["auth"].removeprefix("Bearer ")


class SmtpListener:
    def __init__(
        self,
        mode: str = "ok",
        *,
        auth: tuple[str, str] | None = None,
        hold: str | None = None,
        oauth: str | None = None,
        oauth_mechanisms: tuple[str, ...] = ("XOAUTH2", "OAUTHBEARER"),
    ) -> None:
        self.mode = mode
        self.auth = auth
        self.oauth = oauth
        self.oauth_users: list[str] = []
        self.hold = hold
        self.held = threading.Event()
        self.release = threading.Event()
        self.host = "127.0.0.1"
        self.port = free_port()
        self.messages: list[Received] = []
        kwargs: dict[str, Any] = {}
        if oauth is not None:
            kwargs.update(
                auth_required=True,
                auth_require_tls=False,
                auth_exclude_mechanism=[
                    m
                    for m in ("LOGIN", "PLAIN", "XOAUTH2", "OAUTHBEARER")
                    if m not in oauth_mechanisms
                ],
            )
        elif auth is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=False
            )
        self.controller = Controller(
            _Handler(self), hostname=self.host, port=self.port, decode_data=False, **kwargs
        )

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        ok = (
            isinstance(data, LoginPassword)
            and self.auth is not None
            and (data.login.decode(), data.password.decode()) == self.auth
        )
        return AuthResult(success=ok, handled=False)

    async def wait_if_held(self, stage: str) -> None:
        if self.hold != stage or self.held.is_set():
            return
        self.held.set()
        while not self.release.is_set():
            await asyncio.sleep(0.02)

    def account_fields(self) -> dict[str, Any]:
        """What `engine.new_account(**...)` needs to send through this listener."""
        return {"smtp_host": self.host, "smtp_port": self.port}

    def start(self) -> SmtpListener:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.controller.stop()

    def __enter__(self) -> SmtpListener:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
