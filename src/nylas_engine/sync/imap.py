"""Connecting to an account's mail servers: IMAP login, SMTP check, and what failures mean.

Every failure to connect becomes one of two exceptions, because the sync worker treats them
differently: `AuthFailed` (the server said no: sync_state `invalid`, wait for new
credentials) and `ServerUnreachable` (network, TLS or protocol trouble: sync_state
`connerror`, retry later). Messages name the server and the cause, never the password.

Once logged in, a failure is one of two kinds. `NETWORK_ERRORS`: the connection broke or
the server's replies make no sense; the connection is done for (`connerror`). `REFUSED`: the
server answered one command with a tagged NO or BAD (a name it rejects, a permission, a
folder gone); the connection is fine and only that operation failed: the caller records it
and goes on (`is_refusal` tells them apart, imaplib's classes nest).
"""

from __future__ import annotations

import bisect
import contextlib
import imaplib
import re
import smtplib
import socket
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imapclient import IMAPClient
from imapclient import exceptions as imap_errors
from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_fetch_response, parse_response

from nylas_engine.oauth import sasl
from nylas_engine.oauth.tokens import TOKENS, GrantRejected, TokenUnavailable
from nylas_engine.store.credentials import MailCredentials
from nylas_engine.sync.dial import Deadline, PinnedIMAPClient, PinnedSMTP, PinnedSMTPSSL

SECURITY_MODES = ("tls", "starttls", "plain")
TIMEOUT = 30.0
# What a dropped or confused connection raises once logged in.
NETWORK_ERRORS = (
    OSError,
    imap_errors.IMAPClientAbortError,  # imaplib's abort: EOF, BYE, an unexpected reply
    imap_errors.ProtocolError,
)
# A command the server answered NO or BAD (imaplib's `error`; its subclass `abort` above is
# a broken connection, so catch NETWORK_ERRORS first or use `is_refusal`).
REFUSED = imap_errors.IMAPClientError


def is_refusal(exc: BaseException) -> bool:
    """True if `exc` is the server refusing one command, the connection still usable."""
    return isinstance(exc, REFUSED) and not isinstance(exc, NETWORK_ERRORS)


class SyncError(Exception):
    """A problem talking to the mail server; `sync_state` says which kind, `server` which
    server ("IMAP" or "SMTP")."""

    sync_state = "connerror"

    def __init__(self, message: str, server: str = "IMAP") -> None:
        super().__init__(message)
        self.server = server


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
    # SMTP's own security where it differs from IMAP's (Microsoft 365: IMAP on 993 with TLS,
    # SMTP on 587 with STARTTLS); None: the same as `security`.
    smtp_security: str | None = None
    # The addresses to connect to instead of looking the host names up again: set once
    # checked (sync/hosts.py). TLS still checks the certificates against the names.
    imap_addresses: tuple[str, ...] = ()
    smtp_addresses: tuple[str, ...] = ()

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
            smtp_security=getattr(account, "smtp_security", None),
        )

    @property
    def smtp_mode(self) -> str:
        return self.smtp_security or self.security


def default_imap_port(security: str) -> int:
    return 993 if security == "tls" else 143


def default_smtp_port(security: str) -> int:
    return {"tls": 465, "starttls": 587}.get(security, 25)


def _tls_context() -> ssl.SSLContext:
    return ssl.create_default_context()


def connect_imap(
    settings: ServerSettings,
    credentials: MailCredentials,
    timeout: float = TIMEOUT,
    deadline: Deadline | None = None,
) -> IMAPClient:
    """A logged-in IMAPClient, or `AuthFailed` / `ServerUnreachable`."""
    where = f"IMAP server {settings.imap_host}:{settings.imap_port}"
    try:
        client = PinnedIMAPClient(
            settings.imap_host,
            addresses=settings.imap_addresses or (settings.imap_host,),
            deadline=deadline,
            port=settings.imap_port,
            ssl=settings.security == "tls",
            ssl_context=_tls_context() if settings.security == "tls" else None,
            timeout=timeout,
        )
    except (OSError, imap_errors.IMAPClientError) as exc:
        raise ServerUnreachable(f"cannot connect to the {where}: {_describe(exc)}") from None
    try:
        if settings.security == "starttls":
            client.starttls(_tls_context())
        if credentials.oauth is not None:
            sasl.imap_login(client, settings.imap_username, token_source(credentials, "IMAP"))
        else:
            client.login(settings.imap_username, credentials.imap_password)
    except SyncError:
        close_quietly(client)
        raise
    except imap_errors.LoginError as exc:
        close_quietly(client)
        raise AuthFailed(
            f"the {where} refused the login for {settings.imap_username}: {_describe(exc)}"
        ) from None
    except (OSError, imap_errors.IMAPClientError) as exc:
        close_quietly(client)
        raise ServerUnreachable(f"lost the {where} while logging in: {_describe(exc)}") from None
    return client


def token_source(credentials: MailCredentials, server: str) -> Any:
    """`fresh -> access token` for an OAuth login: a refresh token the provider refuses is
    `AuthFailed` (new consent needed), an unusable token endpoint `ServerUnreachable`."""
    grant = credentials.oauth
    assert grant is not None

    def token(fresh: bool) -> str:
        if not fresh and credentials.access_token:
            return credentials.access_token
        try:
            return TOKENS.access_token(grant, fresh=fresh)
        except GrantRejected as exc:
            raise AuthFailed(f"{exc}; the account must be connected again", server) from None
        except TokenUnavailable as exc:
            raise ServerUnreachable(str(exc), server) from None

    return token


def enable_extensions(client: IMAPClient) -> tuple[bool, bool]:
    """ENABLE what the sync uses, once per connection: QRESYNC (RFC 7162, which implies
    CONDSTORE) where offered, else CONDSTORE. Returns (condstore, qresync).

    With QRESYNC on, the server reports expunges as `VANISHED <uids>` instead of
    `<seq> EXPUNGE`, also in IDLE."""
    caps = set(client.capabilities())
    condstore = b"CONDSTORE" in caps
    wanted = [c for c in (b"QRESYNC", b"CONDSTORE") if c in caps]
    if not wanted or b"ENABLE" not in caps:
        return condstore, False  # CONDSTORE also works without ENABLE (RFC 7162 §3.1)
    enabled = {c.upper() for c in client.enable(*wanted)}
    return condstore, b"QRESYNC" in enabled


# RFC 5465: the server reports changes in the selected folder as usual, and in every other
# folder of the account as an unsolicited STATUS, also during IDLE.
NOTIFY_EVENTS = "(MessageNew MessageExpunge FlagChange)"
# Untagged responses that mean "something changed" (NOTIFY's STATUS, the selected folder's).
CHANGE_RESPONSES = ("STATUS", "EXISTS", "EXPUNGE", "FETCH", "VANISHED")


def enable_notify(client: IMAPClient) -> bool:
    """`NOTIFY SET` for new mail, expunges and flag changes in the selected folder and all
    personal folders, where the server offers NOTIFY (RFC 5465). True if it took."""
    if b"NOTIFY" not in set(client.capabilities()):
        return False
    imaplib.Commands.setdefault("NOTIFY", ("AUTH", "SELECTED"))  # imaplib does not know it
    try:
        typ, _ = client._imap._simple_command(
            "NOTIFY", "SET", f"(selected {NOTIFY_EVENTS})", f"(personal {NOTIFY_EVENTS})"
        )
    except NETWORK_ERRORS:
        raise
    except REFUSED:
        return False
    return bool(typ == "OK")


def pending_changes(client: IMAPClient, *, clear: bool = False) -> bool:
    """True if the server reported a change (NOTIFY's STATUS of another folder, or new,
    expunged or changed messages in the selected one) that no command has consumed yet:
    it arrived while the connection was busy with something else. `clear` forgets them."""
    untagged = client._imap.untagged_responses
    found = any(untagged.get(name) for name in CHANGE_RESPONSES)
    if clear:
        for name in CHANGE_RESPONSES:
            untagged.pop(name, None)
    return found


def status_and_notices(
    client: IMAPClient, folder: str, items: Iterable[str]
) -> tuple[dict[bytes, int], set[str]]:
    """`STATUS folder (items)`: its items, and the names of the other folders the server
    reported a STATUS of meanwhile (unsolicited, under NOTIFY: they changed).
    imapclient's `folder_status` keeps only the last STATUS reply and drops the others."""
    data = client._command_and_check(
        "status", client._normalise_folder(folder), parenthesized(items)
    )
    replies = _status_replies(client, data)
    if not replies:
        return {}, set()
    return replies[-1][1], {name for name, _ in replies[:-1]}  # this command's reply is last


Listed = list[tuple[tuple[bytes, ...], bytes | str | None, str]]  # LIST's (flags, delimiter, name)


def list_status(
    client: IMAPClient, items: Iterable[str], *, special_use: bool = False
) -> tuple[Listed, dict[str, dict[bytes, int]]] | None:
    """`LIST "" "*" RETURN (STATUS (items))` (RFC 5819): every folder's flags, delimiter and
    name, and the STATUS of each, in one round trip. With `special_use` the flags include
    the SPECIAL-USE ones (RFC 6154 §2; Dovecot leaves them out of a LIST that asks for
    anything else unless asked), so the listing can stand in for a plain LIST. A folder
    reported twice (NOTIFY's unsolicited STATUS too) keeps its last report. None if the
    server lacks LIST-STATUS (or SPECIAL-USE, when asked for)."""
    capabilities = set(client.capabilities())
    if b"LIST-STATUS" not in capabilities or (special_use and b"SPECIAL-USE" not in capabilities):
        return None
    imap = client._imap
    imap.untagged_responses.pop("STATUS", None)  # older ones are the check's to see anyway
    returns = f"STATUS {parenthesized(items)}"
    if special_use:
        returns = f"SPECIAL-USE {returns}"
    typ, data = imap._simple_command("LIST", '""', '"*"', "RETURN", f"({returns})")
    client._checkok("list", typ, data)
    typ, data = imap._untagged_response(typ, data, "LIST")
    listed: Listed = [
        (tuple(flags), delimiter, str(name))
        for flags, delimiter, name in client._proc_folder_list(data)
    ]
    statuses = dict(_status_replies(client, imap.untagged_responses.pop("STATUS", [])))
    return listed, statuses


def _status_replies(client: IMAPClient, data: list[Any]) -> list[tuple[str, dict[bytes, int]]]:
    """The STATUS responses' data (`name (ITEM n ...)`), parsed, in order."""
    data = [line for line in data if line not in (b"", None)]
    replies = parse_response(data) if data else ()
    found: list[tuple[str, dict[bytes, int]]] = []
    for at in range(0, len(replies) - 1, 2):
        name = replies[at]
        if isinstance(name, bytes | str):
            name = name.decode() if isinstance(name, bytes) else name
            text = decode_utf7(name) if client.folder_encode else name
        else:  # a folder named like a number comes back as an int
            text = str(name)
        values = replies[at + 1]
        pairs = {bytes(values[i]).upper(): int(values[i + 1]) for i in range(0, len(values) - 1, 2)}
        found.append((text, pairs))
    return found


class UidSet:
    """A set of UIDs as an IMAP sequence set such as `1:5,9` describes it, kept as ranges:
    a server may report a huge range in VANISHED (RFC 7162 lets it include UIDs that never
    existed), which must not become a huge Python set."""

    _PART = re.compile(r"^(\d+)(?::(\d+))?$")

    def __init__(self, ranges: Iterable[tuple[int, int]] = ()) -> None:
        merged: list[tuple[int, int]] = []
        for low, high in sorted(ranges):
            if merged and low <= merged[-1][1] + 1:
                merged[-1] = (merged[-1][0], max(merged[-1][1], high))
            else:
                merged.append((low, high))
        self._lows = [low for low, _ in merged]
        self._highs = [high for _, high in merged]

    @classmethod
    def parse(cls, texts: Iterable[bytes | str | None]) -> UidSet:
        """From the data of VANISHED responses: `1:5,9` or `(EARLIER) 1:5,9` (ranges may be
        written high:low). ValueError if a response is not a UID set."""
        ranges = []
        for text in texts:
            if text is None:
                continue
            words = (text.decode("ascii") if isinstance(text, bytes) else text).split()
            if words and words[0].upper() == "(EARLIER)":
                words = words[1:]
            if len(words) != 1:
                raise ValueError(f"not a UID set: {text!r}")
            for part in words[0].split(","):
                found = cls._PART.match(part)
                if found is None:
                    raise ValueError(f"not a UID set: {text!r}")
                first = int(found.group(1))
                last = int(found.group(2) or first)
                ranges.append((min(first, last), max(first, last)))
        return cls(ranges)

    def __contains__(self, uid: object) -> bool:
        if not isinstance(uid, int):
            return False
        at = bisect.bisect_right(self._lows, uid) - 1
        return at >= 0 and uid <= self._highs[at]

    def __bool__(self) -> bool:
        return bool(self._lows)


# The longest sequence set one command carries: RFC 7162 asks clients to keep command lines
# under 8192 octets, as some servers refuse longer ones.
SEQUENCE_SET_CHARS = 7000


def sequence_sets(uids: Iterable[int], limit: int = SEQUENCE_SET_CHARS) -> list[str]:
    """`uids` as IMAP sequence sets (`1:500,502`), each at most `limit` characters: a
    folder's UIDs, mostly runs without gaps, fit in one command instead of one per few
    thousand UIDs listed one by one (each command a round trip to the server)."""
    runs: list[list[int]] = []
    for uid in sorted(set(uids)):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    sets: list[str] = []
    parts: list[str] = []
    length = 0
    for low, high in runs:
        part = str(low) if low == high else f"{low}:{high}"
        if parts and length + 1 + len(part) > limit:
            sets.append(",".join(parts))
            parts, length = [], 0
        length += len(part) + (1 if parts else 0)
        parts.append(part)
    if parts:
        sets.append(",".join(parts))
    return sets


def parenthesized(items: Iterable[str]) -> str:
    """Items as an IMAP parenthesized list: `(UID RFC822.SIZE)`."""
    return f"({' '.join(items)})"


def fetch_set(
    client: IMAPClient, uid_set: str, items: list[str], modifiers: list[str] | None = None
) -> dict[int, dict[bytes, Any]]:
    """`client.fetch` of the UIDs in the sequence set `uid_set` (from `sequence_sets`),
    which imapclient's own takes only as a list of UIDs: the replies of UIDs outside the set
    (unsolicited ones, about other messages) are dropped as it drops them."""
    imap = client._imap
    args = ["UID", "FETCH", uid_set, parenthesized(items)]
    if modifiers:
        args.append(parenthesized(modifiers))
    typ, data = imap._command_complete("FETCH", imap._command(*args))
    client._checkok("fetch", typ, data)
    typ, data = imap._untagged_response(typ, data, "FETCH")
    replies = parse_fetch_response(data, client.normalise_times, True)
    if "*" in uid_set:  # to the last UID there is: every reply is one asked for
        return dict(replies)
    wanted = UidSet.parse([uid_set])
    return {uid: reply for uid, reply in replies.items() if uid in wanted}


def check_smtp(
    settings: ServerSettings,
    credentials: MailCredentials,
    timeout: float = TIMEOUT,
    deadline: Deadline | None = None,
) -> None:
    """Connect to the SMTP server and log in if it offers AUTH; raise like `connect_imap`."""
    if not settings.smtp_host:
        return
    mode = settings.smtp_mode
    port = settings.smtp_port or default_smtp_port(mode)
    where = f"SMTP server {settings.smtp_host}:{port}"
    addresses = settings.smtp_addresses or (settings.smtp_host,)
    smtp: smtplib.SMTP | None = None
    try:
        if mode == "tls":
            smtp = PinnedSMTPSSL(
                settings.smtp_host,
                port,
                addresses=addresses,
                deadline=deadline,
                timeout=timeout,
                context=_tls_context(),
            )
        else:
            smtp = PinnedSMTP(
                settings.smtp_host, port, addresses=addresses, deadline=deadline, timeout=timeout
            )
        smtp.ehlo()
        if mode == "starttls":
            smtp.starttls(context=_tls_context())
            smtp.ehlo()
        user = settings.smtp_username or settings.imap_username
        if credentials.oauth is not None:
            sasl.smtp_login(smtp, user, token_source(credentials, "SMTP"))
        elif smtp.has_extn("auth"):
            smtp.login(user, credentials.smtp)
    except smtplib.SMTPAuthenticationError as exc:
        raise AuthFailed(f"the {where} refused the login: {_describe(exc)}", "SMTP") from None
    except (OSError, smtplib.SMTPException) as exc:
        raise ServerUnreachable(f"cannot use the {where}: {_describe(exc)}", "SMTP") from None
    finally:
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()


def verify(
    settings: ServerSettings, credentials: MailCredentials, deadline: Deadline | None = None
) -> set[bytes]:
    """Log in to IMAP (and check SMTP) once, as done before an account is created. Returns
    the IMAP server's capabilities (as it lists them once logged in).

    Under a `deadline` every socket is cut off when it passes; else each socket operation
    may take `TIMEOUT`."""
    timeout = deadline.remaining() if deadline is not None else TIMEOUT
    client = connect_imap(settings, credentials, timeout, deadline)
    try:
        capabilities = {bytes(c).upper() for c in client.capabilities()}
    except (OSError, imap_errors.IMAPClientError) as exc:
        raise ServerUnreachable(
            f"lost the IMAP server {settings.imap_host}: {_describe(exc)}"
        ) from None
    finally:
        close_quietly(client)
    check_smtp(settings, credentials, timeout, deadline)
    return capabilities


def flag_names(flags: Iterable[bytes | str]) -> list[str]:
    """Flags as sorted strings, without \\Recent (session state, not a message property)."""
    names = (f.decode() if isinstance(f, bytes) else str(f) for f in flags)
    return sorted(n for n in names if n.lower() != "\\recent")


def modseq_value(value: Any) -> int | None:
    """A FETCH reply's MODSEQ item (imapclient gives a 1-tuple) as an int, None if absent."""
    if isinstance(value, tuple):
        value = value[0] if value else None
    return int(value) if value else None


def expunge_uids(client: IMAPClient, uids: list[int]) -> None:
    """Remove these UIDs from the selected folder: \\Deleted, then UID EXPUNGE of just them
    where the server has UIDPLUS, else a plain EXPUNGE (which also removes whatever another
    client had marked \\Deleted there)."""
    client.delete_messages(uids)
    if b"UIDPLUS" in set(client.capabilities()):
        client.uid_expunge(uids)
    else:
        client.expunge()


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
