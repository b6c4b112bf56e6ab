"""Opening connections to mail servers: to a checked address, and within a deadline.

`IMAPClient`, `imaplib` and `smtplib` resolve the host name themselves when they connect.
When the engine connects on behalf of an unauthenticated caller (`POST /connect/authorize`),
the name was resolved and the address checked first (sync/hosts.py), and the connection must
go to that very address: a second lookup could answer differently (DNS rebinding). The
classes here connect to the checked `addresses` (the first that answers, as
`socket.create_connection` tries a name's addresses) while TLS still checks the certificate
against the name.

A `Deadline` bounds a whole exchange, not one socket operation: a server that answers one
byte at a time never trips a socket timeout, so every socket opened under a deadline is shut
down when it passes, which ends whatever read is waiting on it.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from typing import Any

from imapclient import IMAPClient, imap4, tls


class Deadline:
    """A point in time after which the watched sockets are shut down (use it as a context)."""

    def __init__(self, seconds: float) -> None:
        self.at = time.monotonic() + seconds
        self._sockets: list[socket.socket] = []
        self._expired = False
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> Deadline:
        self._timer.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._timer.cancel()

    def remaining(self) -> float:
        """Seconds left (a little above 0 once passed, so a timeout stays a timeout)."""
        return max(0.01, self.at - time.monotonic())

    def passed(self) -> bool:
        return time.monotonic() >= self.at

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.append(sock)
            expired = self._expired
        if expired:
            _shut(sock)

    def _expire(self) -> None:
        with self._lock:
            self._expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed, or never connected
        sock.shutdown(socket.SHUT_RDWR)


def _connect(
    addresses: tuple[str, ...],
    port: int,
    timeout: float | None,
    deadline: Deadline | None,
    connect: Callable[[str, int, float | None], socket.socket] | None = None,
) -> socket.socket:
    """A socket to the first of `addresses` that accepts, under `deadline` (each attempt
    gets what is left of it)."""
    failure: OSError = OSError("no address to connect to")
    for address in addresses:
        wait = timeout
        if deadline is not None:
            if deadline.passed():
                raise TimeoutError("the deadline passed")
            wait = min(timeout or deadline.remaining(), deadline.remaining())
        try:
            if connect is None:
                sock = socket.create_connection((address, port), wait)
            else:
                sock = connect(address, port, wait)
        except OSError as exc:
            failure = exc
            continue
        if deadline is not None:
            deadline.watch(sock)
        return sock
    raise failure


class _GreetingCapabilities:
    """imaplib asks for CAPABILITY as soon as it connects, a round trip before anything
    else; most servers (Dovecot, Cyrus, Gmail, Microsoft 365, Fastmail) list them in their
    greeting (`* OK [CAPABILITY ...]`, RFC 3501 7.1), and those are taken instead. The
    greeting's list is taken off the untagged responses, as imaplib's own CAPABILITY
    would: IMAPClient asks again after STARTTLS, and must not find it there."""

    untagged_responses: dict[str, list[Any]]
    capabilities: tuple[str, ...]
    _encoding: str

    def _get_capabilities(self) -> None:
        listed = self.untagged_responses.pop("CAPABILITY", None)
        if listed and isinstance(listed[-1], bytes) and listed[-1].strip():
            self.capabilities = tuple(str(listed[-1], self._encoding).upper().split())
            return
        super()._get_capabilities()  # type: ignore[misc]


class _IMAP4(_GreetingCapabilities, imap4.IMAP4WithTimeout):  # type: ignore[misc]
    def __init__(
        self,
        addresses: tuple[str, ...],
        host: str,
        port: int,
        timeout: float | None,
        deadline: Deadline | None,
    ) -> None:
        self._addresses, self._deadline = addresses, deadline
        super().__init__(host, port, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return _connect(self._addresses, self.port, timeout or self._timeout, self._deadline)


class _IMAP4TLS(_GreetingCapabilities, tls.IMAP4_TLS):  # type: ignore[misc]
    def __init__(
        self,
        addresses: tuple[str, ...],
        host: str,
        port: int,
        context: ssl.SSLContext | None,
        timeout: float | None,
        deadline: Deadline | None,
    ) -> None:
        self._addresses, self._deadline = addresses, deadline
        super().__init__(host, port, context, timeout)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        sock = _connect(self._addresses, self.port, timeout or self._timeout, self._deadline)
        wrapped: socket.socket = tls.wrap_socket(sock, self.ssl_context, self.host)
        if self._deadline is not None:
            self._deadline.watch(wrapped)
        return wrapped


class PinnedIMAPClient(IMAPClient):  # type: ignore[misc]
    """An IMAPClient connected to one of `addresses` (TLS names `host`), its sockets under
    `deadline`.

    It replaces IMAPClient's `_create_IMAP4` (imapclient 3 and 4 name it so) to hand imaplib
    a socket of ours; everything after the connection is IMAPClient's own."""

    def __init__(
        self,
        host: str,
        *,
        addresses: tuple[str, ...],
        deadline: Deadline | None = None,
        **options: Any,
    ) -> None:
        self._addresses, self._deadline = addresses, deadline
        super().__init__(host, **options)
        if not logging.getLogger("imapclient.imaplib").isEnabledFor(logging.DEBUG):
            # IMAPClient turns imaplib's debugging all the way up (level 5) and sends it to
            # that logger: imaplib then formats every line it reads, and the repr of every
            # message a FETCH brings, for a log that drops it. That was a sixth of a first
            # sync's fetching CPU (bench/RESULTS.md, "IMAP sync").
            self._imap.debug = 0

    # The folder this connection has open (None: none, or not known): what `select_folder`
    # opened last, until a close or a refused SELECT (which leaves none open).
    selected_folder: str | None = None

    def select_folder(self, folder: str, readonly: bool = False) -> Any:
        self.selected_folder = None
        info = super().select_folder(folder, readonly)
        self.selected_folder = folder
        return info

    def close_folder(self) -> Any:
        self.selected_folder = None
        return super().close_folder()

    def unselect_folder(self) -> Any:
        self.selected_folder = None
        return super().unselect_folder()

    def _create_IMAP4(self) -> Any:
        timeout = getattr(self._timeout, "connect", None)
        if self.ssl:
            return _IMAP4TLS(
                self._addresses, self.host, self.port, self.ssl_context, timeout, self._deadline
            )
        return _IMAP4(self._addresses, self.host, self.port, timeout, self._deadline)

    def starttls(self, ssl_context: Any = None) -> Any:
        reply = super().starttls(ssl_context)
        if self._deadline is not None:
            self._deadline.watch(self.socket())
        return reply


class _Pinned:
    """smtplib's connection step, to the first of `_addresses` that accepts."""

    _addresses: tuple[str, ...]
    _deadline: Deadline | None

    def __init__(
        self,
        host: str,
        port: int,
        *,
        addresses: tuple[str, ...],
        deadline: Deadline | None = None,
        **kw: Any,
    ) -> None:
        self._addresses, self._deadline = addresses, deadline
        super().__init__(host, port, **kw)  # type: ignore[call-arg]  # smtplib's, next in the MRO

    def _get_socket(self, host: str, port: int, timeout: float | None) -> socket.socket:
        get_socket = super()._get_socket  # type: ignore[misc]
        return _connect(self._addresses, port, timeout, self._deadline, get_socket)

    def starttls(self, *args: Any, **kwargs: Any) -> Any:
        reply = super().starttls(*args, **kwargs)  # type: ignore[misc]
        if self._deadline is not None:
            self._deadline.watch(self.sock)  # type: ignore[attr-defined]
        return reply


class PinnedSMTP(_Pinned, smtplib.SMTP):
    pass


class PinnedSMTPSSL(_Pinned, smtplib.SMTP_SSL):
    pass
