"""FETCHing a batch of new messages, in the engine or in a worker process.

A long first sync hands each batch's UIDs to the worker processes of a `PreparePool`: each
worker FETCHes its slice over an IMAP connection of its own (kept open for the next slice),
parses the messages and puts them in the blob store, and sends back only what the store
needs. The engine then spends its time storing, not reading bytes off the socket and passing
them on. `fetch_here` does the same over the engine's own connection, for a single batch or
when worker processes are not available.

A worker checks the folder's UIDVALIDITY against the one the engine synced with: if it
changed in between, the UIDs name other messages, and the batch fails rather than store them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imapclient import IMAPClient

from nylas_engine.mime.parse import ParsedMessage
from nylas_engine.store.credentials import MailCredentials
from nylas_engine.store.prepare import prepare_batch
from nylas_engine.sync import gmail
from nylas_engine.sync.imap import (
    NETWORK_ERRORS,
    ServerSettings,
    ServerUnreachable,
    close_quietly,
    connect_imap,
    flag_names,
    modseq_value,
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


def fetch_in_worker(uids: list[int], access: FolderAccess, blob_root: Path) -> list[Fetched]:
    """`fetch_here` in a worker process: over its own connection, the bytes written to the
    blob store here and not sent back."""
    client = _connection(access)
    try:
        present = _fetch(client, uids, access.items)
    except NETWORK_ERRORS as exc:
        _drop(access)
        raise ServerUnreachable(f"lost the IMAP server while fetching: {exc}") from None
    parsed = prepare_batch([raw for _, raw, _ in present], blob_root)
    return _records(present, parsed, keep_raw=False)


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
    imap = client._imap
    kind, lines = imap.uid("FETCH", ",".join(map(str, uids)), "(" + " ".join(items) + ")")
    if kind != "OK":
        raise _Unreadable(kind)
    records: list[dict[bytes, Any]] = []
    current: dict[bytes, Any] | None = None
    for line in lines:
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


def _connection(access: FolderAccess) -> IMAPClient:
    open_now = _OPEN.get(access.settings)
    if open_now is not None and open_now[1] == access.folder:
        return open_now[0]
    for other in list(_OPEN):  # another account's, or a folder this one is done with
        if other != access.settings:
            _drop_key(other)
    info = None
    if open_now is not None:
        try:
            info = open_now[0].select_folder(access.folder, readonly=True)
            client = open_now[0]
        except Exception:  # noqa: BLE001 - stale, or refused (which leaves no folder open)
            _drop_key(access.settings)  # a new connection below tries again, or says why
    if info is None:
        client = connect_imap(access.settings, access.credentials)
        try:
            info = client.select_folder(access.folder, readonly=True)
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
    return client


def _drop(access: FolderAccess) -> None:
    _drop_key(access.settings)


def _drop_key(key: ServerSettings) -> None:
    found = _OPEN.pop(key, None)
    if found is not None:
        close_quietly(found[0])
