"""A local mail sink: the SMTP server `nylas-engine demo` gives its accounts.

It listens on a loopback port and takes every message it is handed. Each recipient that is
one of its local accounts gets a copy in its inbox, stored by `ingest_message` like any
received mail (so an emailed invitation becomes an event, and an RSVP reply records the
answer on the organizer's event); mail for anyone else is accepted and dropped. The engine
sends to it as to any SMTP server, so a demo account's send takes the whole real path: the
message built, handed over by SMTP, filed in the sender's Sent folder, and received.

The copies are stored before the sink answers 250, so when a send returns its mail is in
the recipients' inboxes already. That cannot wait on the sender: the engine talks SMTP with
no database session or lock held (see send/outbox.py), and the sink stores in a worker
thread, not in its event loop.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable
from typing import Any

from aiosmtpd.controller import Controller

from nylas_engine.context import EngineContext
from nylas_engine.store.mail import category_by_role, ingest_message
from nylas_engine.store.models import Account

log = logging.getLogger("nylas_engine.send")


class LocalMailSink:
    """An SMTP server on `host` delivering to the accounts `accounts` (email -> account id)."""

    def __init__(
        self, ctx: EngineContext, accounts: dict[str, int], host: str = "127.0.0.1"
    ) -> None:
        self.ctx = ctx
        self.accounts = {email.lower(): account_id for email, account_id in accounts.items()}
        self.host = host
        self.port = _free_port(host)
        self._controller = Controller(
            _Handler(self), hostname=host, port=self.port, decode_data=False
        )

    def start(self) -> LocalMailSink:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> LocalMailSink:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def deliver(self, recipients: Iterable[str], raw: bytes) -> list[str]:
        """Store `raw` in the inbox of each recipient that is a local account; returns
        their addresses (the others are dropped)."""
        local = list(dict.fromkeys(r.lower() for r in recipients if r.lower() in self.accounts))
        if not local:
            return []
        with self.ctx.db.session() as session:
            for address in local:
                account = session.get(Account, self.accounts[address])
                if account is None or account.deleted_at is not None:
                    continue
                inbox = category_by_role(session, account, "inbox")
                ingest_message(
                    session,
                    self.ctx.blobs,
                    account,
                    raw,
                    categories=[inbox] if inbox is not None else None,
                    unread=True,
                )
        return local


class _Handler:
    def __init__(self, sink: LocalMailSink) -> None:
        self.sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = bytes(envelope.original_content or envelope.content)
        recipients = list(envelope.rcpt_tos)
        try:
            local = await asyncio.get_running_loop().run_in_executor(
                None, self.sink.deliver, recipients, raw
            )
        except Exception:
            log.exception("The local mail sink could not store a message")
            return "451 4.3.0 Local delivery failed, try again later"
        dropped = len(recipients) - len(local)
        log.info("Local mail sink: %d delivered, %d dropped", len(local), dropped)
        return "250 OK"


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port
