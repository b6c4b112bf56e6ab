"""FETCHing a batch of new messages, in the engine or in a worker process.

A long first sync hands each batch's UIDs to the worker processes of a `PreparePool`: each
worker FETCHes its slice over an IMAP connection of its own (kept open for the next slice),
parses the messages and puts them in the blob store, and sends back only what the store
needs. The engine then spends its time storing, not reading bytes off the socket and passing
them on. `fetch_here` does the same over the engine's own connection, for a single batch or
when worker processes are not available.

A worker checks the folder's UIDVALIDITY against the one the engine synced with: if it
changed in between, the UIDs name other messages, and the batch fails rather than store them.

A worker told which batch comes next (`ahead`) sends that batch's FETCH as soon as it has
read the current one, and parses the current one while the server's reply travels: the next
call finds the reply waiting instead of asking and waiting a round trip (on a server 80 ms
away, 1.3 s of a 10,000-message first sync). A reply nobody asks for by the next call (the
sync stopped, or asked for something else) is read and dropped there.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from nylas_engine.mime.parse import ParsedMessage
from nylas_engine.store.credentials import MailCredentials
from nylas_engine.store.prepare import prepare_batch
from nylas_engine.sync import gmail
from nylas_engine.sync.folder_reads import Command, examine
from nylas_engine.sync.imap import (
    NETWORK_ERRORS,
    ServerSettings,
    ServerUnreachable,
    close_quietly,
    connect_imap,
    flag_names,
    modseq_value,
    parenthesized,
)


@dataclass(frozen=True)
class FolderAccess:
    """What a worker needs to open the folder the engine is syncing."""

    settings: ServerSettings
    credentials: MailCredentials
    folder: str
    uidvalidity: int
    items: tuple[str, ...]


@dataclass
class Fetched:
    """One message of a batch: its UID, flags and MODSEQ as FETCH gave them, and the
    message prepared for `ingest_messages` (`raw` is empty once it is in the blob store)."""

    uid: int
    flags: list[str]
    modseq: int | None
    raw: bytes
    parsed: ParsedMessage
    gmail: gmail.GmailItems | None = None  # Gmail's items, when asked (sync/gmail.py)


def fetch_here(client: IMAPClient, uids: Sequence[int], items: Sequence[str]) -> list[Fetched]:
    """FETCH `uids` over the engine's own connection (the folder selected) and parse them
    here; their bytes go to the blob store when they are ingested."""
    return fetched_here(client, uids, items)()


def fetched_here(
    client: IMAPClient, uids: Sequence[int], items: Sequence[str]
) -> Callable[[], list[Fetched]]:
    """`fetch_here` in two steps: FETCH now, parse when the returned function is called (so
    the connection is free for what comes next, and the parse can wait)."""
    present = _fetch(client, uids, items)
    raws = [raw for _, raw, _ in present]
    return lambda: _records(present, prepare_batch(raws), keep_raw=True)


def fetch_in_worker(
    uids: list[int], access: FolderAccess, blob_root: Path, ahead: list[int] | None = None
) -> list[Fetched]:
    """`fetch_here` in a worker process: over its own connection, the bytes written to the
    blob store here and not sent back. `ahead`: the UIDs the next call will ask for, FETCHed
    now and read then."""
    present = _reply_ahead(access, uids)
    if present is None:
        # Where the folder is still to be opened, the FETCH goes out right behind the
        # EXAMINE (one round trip for both, at each folder after the first).
        fetch = ("UID", "FETCH", _uid_list(uids), parenthesized(access.items))
        client, lines = _connection(access, fetch)
        try:
            if lines is not None:
                with contextlib.suppress(_Unreadable):  # else FETCHed again below
                    present = _in_order(_fetch_reply("OK", lines), uids)
            if present is None:
                present = _fetch(client, uids, access.items)
        except NETWORK_ERRORS as exc:
            _drop(access)
            raise ServerUnreachable(f"lost the IMAP server while fetching: {exc}") from None
    if ahead:
        _ask_ahead(access, ahead)
    parsed = prepare_batch([raw for _, raw, _ in present], blob_root)
    return _records(present, parsed, keep_raw=False)


def open_in_worker(access: FolderAccess) -> None:
    """Log in and open `access`'s folder in a worker before its first batch comes (see
    `PreparePool.start`): the connection's round trips pass while the engine fetches and
    stores the folder's first batch itself."""
    _reply_ahead(access, [])  # a FETCH still sent ahead is read and dropped
    _connection(access)


@dataclass
class _Ahead:
    """A FETCH sent on a worker's connection and not read yet."""

    client: IMAPClient
    access: FolderAccess
    uids: list[int]
    tag: Any
    sent: float


# By connection (the account's settings, as `_OPEN`): at most one FETCH sent ahead. A reply
# older than AHEAD_SECONDS when asked for is not used (its flags may have changed since).
_AHEAD: dict[ServerSettings, _Ahead] = {}
AHEAD_SECONDS = 30.0


def _ask_ahead(access: FolderAccess, uids: list[int]) -> None:
    """Send the FETCH of `uids` on the connection open on `access`'s folder; nothing if it
    cannot be sent (the next call then FETCHes as usual, on a new connection if need be)."""
    open_now = _OPEN.get(access.settings)
    if open_now is None or open_now[1] != access.folder:
        return
    client = open_now[0]
    try:
        tag = client._imap._command("UID", "FETCH", _uid_list(uids), parenthesized(access.items))
    except Exception:  # noqa: BLE001 - a broken connection: the next call opens another
        _drop(access)
        return
    _AHEAD[access.settings] = _Ahead(client, access, list(uids), tag, time.monotonic())


def _reply_ahead(
    access: FolderAccess, uids: list[int]
) -> list[tuple[int, bytes, dict[bytes, Any]]] | None:
    """What `_fetch(uids)` returns, from the reply of the FETCH sent ahead when that FETCH
    was for exactly this call; else None (a reply sent ahead for anything else is read and
    dropped, so the connection is free for what comes next)."""
    pending = _AHEAD.pop(access.settings, None)
    if pending is None:
        return None
    open_now = _OPEN.get(access.settings)
    if open_now is None or open_now[0] is not pending.client:
        return None
    try:
        typ, data = pending.client._imap._command_complete("FETCH", pending.tag)
        kind, lines = pending.client._imap._untagged_response(typ, data, "FETCH")
    except Exception:  # noqa: BLE001 - the connection is in no known state: a new one
        _drop(access)
        return None
    fresh = time.monotonic() - pending.sent <= AHEAD_SECONDS
    if pending.access != access or pending.uids != list(uids) or not fresh:
        return None
    try:
        return _in_order(_fetch_reply(kind, lines), uids)
    except _Unreadable:  # FETCHed again, read by imapclient's general parser
        return None


def _records(
    present: list[tuple[int, bytes, dict[bytes, Any]]],
    parsed: list[ParsedMessage],
    *,
    keep_raw: bool,
) -> list[Fetched]:
    return [
        Fetched(
            uid,
            flag_names(data.get(b"FLAGS", ())),
            modseq_value(data.get(b"MODSEQ")),
            raw if keep_raw else b"",
            message,
            gmail.items_of(data),
        )
        for (uid, raw, data), message in zip(present, parsed, strict=True)
    ]


def _fetch(
    client: IMAPClient, uids: Sequence[int], items: Sequence[str]
) -> list[tuple[int, bytes, dict[bytes, Any]]]:
    """(uid, bytes, FETCH data) of the UIDs still there, in the order asked (a missing UID
    was expunged since the search; other FETCH replies the server adds are ignored)."""
    try:
        fetched = _fetch_raw(client, uids, items)
    except _Unreadable:  # a reply of another shape: imapclient's general parser reads it
        fetched = client.fetch(list(uids), list(items))
    return _in_order(fetched, uids)


def _in_order(
    fetched: dict[int, dict[bytes, Any]], uids: Sequence[int]
) -> list[tuple[int, bytes, dict[bytes, Any]]]:
    present = []
    for uid in uids:
        data = fetched.get(uid, {})
        if b"BODY[]" in data:
            present.append((uid, data.pop(b"BODY[]"), data))
    return present


class _Unreadable(Exception):
    pass


_FETCH_ITEM = re.compile(rb"(UID) (\d+)|(FLAGS) \(([^()]*)\)|(MODSEQ) \((\d+)\)")


def _fetch_raw(
    client: IMAPClient, uids: Sequence[int], items: Sequence[str]
) -> dict[int, dict[bytes, Any]]:
    """`client.fetch(uids, items)` for the items a sync fetches (BODY.PEEK[], FLAGS, MODSEQ),
    in the shape imapclient gives, read straight from imaplib's reply: the message bytes
    come as IMAP literals, and what is around them is a few small items a regular
    expression reads. imapclient tokenizes every reply byte by byte in Python, which cost
    the sync more CPU than anything but the MIME parse. Raises `_Unreadable` for a reply
    it does not expect (before anything is returned, so the caller can FETCH again)."""
    kind, lines = client._imap.uid("FETCH", _uid_list(uids), parenthesized(items))
    return _fetch_reply(kind, lines)


def _uid_list(uids: Sequence[int]) -> str:
    return ",".join(map(str, uids))


def _fetch_reply(kind: str, lines: list[Any]) -> dict[int, dict[bytes, Any]]:
    """The reply of a sync's FETCH as `_fetch_raw` reads it (`_Unreadable` if it is not of
    the shape expected)."""
    if kind != "OK":
        raise _Unreadable(kind)
    records: list[dict[bytes, Any]] = []
    current: dict[bytes, Any] | None = None
    for line in lines:
        if line is None:  # imaplib's stand-in for no reply lines: every UID asked is gone
            continue
        if isinstance(line, tuple):  # (b'7 (UID 12 FLAGS (\\Seen) BODY[] {1234}', bytes)
            head, literal = line
            if not isinstance(head, bytes) or not head.rstrip().endswith(b"}"):
                raise _Unreadable(repr(head)[:100])
            if b"BODY[] {" not in head:
                raise _Unreadable(head[:100])
            current = _fetch_items(head)
            current[b"BODY[]"] = literal
            records.append(current)
        elif isinstance(line, bytes) and line[:1] in (b")", b" ") and current is not None:
            current.update(_fetch_items(line))  # the items after the literal
        elif isinstance(line, bytes) and b"BODY[]" not in line:
            current = None  # a reply without the message (a flag change made elsewhere)
        else:
            raise _Unreadable(repr(line)[:100])  # the body as a quoted string or NIL
    fetched: dict[int, dict[bytes, Any]] = {}
    for data in records:
        uid = data.pop(b"UID", None)
        if uid is None:
            raise _Unreadable("a FETCH reply without its UID")
        fetched[uid] = data
    return fetched


def _fetch_items(text: bytes) -> dict[bytes, Any]:
    found: dict[bytes, Any] = gmail.read_items(text) if b"X-GM-" in text else {}
    for uid_key, uid, flags_key, flags, modseq_key, modseq in _FETCH_ITEM.findall(text):
        if uid_key:
            found[b"UID"] = int(uid)
        elif flags_key:
            found[b"FLAGS"] = tuple(flags.split())
        elif modseq_key:
            found[b"MODSEQ"] = (int(modseq),)
    return found


# A worker's open connection: the account's settings, and the folder it has open. One at a
# time: when a sync moves on to its next folder, the same connection opens that one (a new
# connection would cost a TCP and TLS handshake and a login each time).
_OPEN: dict[ServerSettings, tuple[IMAPClient, str]] = {}


def _connection(
    access: FolderAccess, behind: Command | None = None
) -> tuple[IMAPClient, list[Any] | None]:
    """The worker's connection with `access`'s folder open (logged in and opened if need
    be), and where it had to open it with `behind` sent right after the EXAMINE
    (`folder_reads.examine`), that command's reply lines (else None)."""
    open_now = _OPEN.get(access.settings)
    if open_now is not None and open_now[1] == access.folder:
        return open_now[0], None
    for other in list(_OPEN):  # another account's, or a folder this one is done with
        if other != access.settings:
            _drop_key(other)
    info = None
    lines: list[Any] | None = None
    if open_now is not None:
        try:
            info, lines = examine(open_now[0], access.folder, behind)
            client = open_now[0]
        except Exception:  # noqa: BLE001 - stale, or refused (which leaves no folder open)
            _drop_key(access.settings)  # a new connection below tries again, or says why
    if info is None:
        client = connect_imap(access.settings, access.credentials)
        try:
            info, lines = examine(client, access.folder, behind)
        except BaseException as exc:
            close_quietly(client)
            if isinstance(exc, NETWORK_ERRORS):
                raise ServerUnreachable(f"cannot open {access.folder!r}: {exc}") from None
            raise
    _OPEN[access.settings] = (client, access.folder)
    validity = int(info[b"UIDVALIDITY"])
    if validity != access.uidvalidity:
        _drop(access)
        raise ServerUnreachable(
            f"UIDVALIDITY of {access.folder!r} changed during the sync; it starts over"
        )
    return client, lines


def _drop(access: FolderAccess) -> None:
    _drop_key(access.settings)


def _drop_key(key: ServerSettings) -> None:
    _AHEAD.pop(key, None)
    found = _OPEN.pop(key, None)
    if found is not None:
        close_quietly(found[0])
