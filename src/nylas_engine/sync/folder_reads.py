"""What a folder's sync asks the server about the folder, in as few round trips as it can.

* `message_sizes` and `all_sizes`: UIDs with their RFC822.SIZE (the batches are cut by
  size), read with one regular expression (a first sync asks it of every message);
* `changes_since`: under QRESYNC, the flags changed since a MODSEQ and the UIDs expunged
  since then in one `UID FETCH ... (CHANGEDSINCE m VANISHED)`, new mail's sizes with them;
* `examine`: EXAMINE with one of those sent right behind it, before its reply is in
  (pipelining, which RFC 3501 §5.5 allows): one round trip for both where a folder's sync
  would else wait for the EXAMINE and then for the read. On a server 80 ms away that is
  80 ms before a folder's new mail shows, and at every folder of a first sync.

imapclient's `fetch` takes UIDs only as lists and drops VANISHED responses, so these go
through imaplib as `fetch` itself does.
"""

from __future__ import annotations

import re
from typing import Any

from imapclient import IMAPClient
from imapclient.response_parser import parse_fetch_response

from nylas_engine.sync.imap import NETWORK_ERRORS, REFUSED, UidSet, fetch_set, parenthesized

# A first look asks a folder's UIDs and sizes for about this many messages per command: one
# command for most folders, and a reply of bounded size held at once for a huge one (an
# All Mail of 500,000 messages would be ~45 MB of reply lines in one).
SIZES_PER_COMMAND = 50_000

Command = tuple[str, ...]


def sizes_command(uids: str) -> Command:
    return ("UID", "FETCH", uids, "(UID RFC822.SIZE)")


def changes_command(uids: str, modseq: int, items: tuple[str, ...] = ("FLAGS",)) -> Command:
    return ("UID", "FETCH", uids, parenthesized(items), f"(CHANGEDSINCE {modseq} VANISHED)")


def _read(client: IMAPClient, tag: str) -> list[Any]:
    """The untagged FETCH lines of the command sent as `tag` (REFUSED if it failed)."""
    imap = client._imap
    typ, data = imap._command_complete("FETCH", tag)
    client._checkok("fetch", typ, data)
    typ, data = imap._untagged_response(typ, data, "FETCH")
    return list(data)


# ---------------------------------------------------------------------------------- sizes

_SIZE_ITEM = re.compile(rb"(?:^|[ (])(UID|RFC822\.SIZE) (\d+)")


def sizes_of(lines: list[Any]) -> dict[int, int]:
    """{uid: RFC822.SIZE} out of a `(UID RFC822.SIZE)` reply's lines; ValueError if one is
    not the plain line expected (imapclient's parser is then the one to read it)."""
    sizes: dict[int, int] = {}
    for line in lines:
        if line is None:  # imaplib's stand-in for no reply lines
            continue
        if not isinstance(line, bytes):
            raise ValueError(line)
        found = dict(_SIZE_ITEM.findall(line))
        if b"UID" in found and b"RFC822.SIZE" in found:
            sizes[int(found[b"UID"])] = int(found[b"RFC822.SIZE"])
    return sizes


def message_sizes(client: IMAPClient, uids: str) -> dict[int, int]:
    """{uid: RFC822.SIZE} of the UIDs of the sequence set `uids`. A reply of small items
    only, read with one regular expression instead of imapclient's general FETCH parser (a
    tenth of the CPU, for every UID of a first sync); imapclient's reading where the reply
    is not what was expected."""
    try:
        return sizes_of(_read(client, client._imap._command(*sizes_command(uids))))
    except NETWORK_ERRORS:
        raise
    except (ValueError, REFUSED):
        fetched = fetch_set(client, uids, ["RFC822.SIZE"])
        return {uid: int(data.get(b"RFC822.SIZE", 0)) for uid, data in fetched.items()}


def all_sizes(client: IMAPClient, exists: int, uidnext: int | None) -> dict[int, int]:
    """{uid: RFC822.SIZE} of every message of the selected folder (`exists` messages, UIDs
    below `uidnext`): `UID FETCH 1:*`, or UID ranges of about SIZES_PER_COMMAND messages
    each in a folder that holds more. The last range ends with `*`: mail that came since
    the folder was opened is in it."""
    if not exists:
        return {}  # (some servers refuse the `*` in an empty folder)
    if exists <= SIZES_PER_COMMAND or not uidnext:
        return message_sizes(client, "1:*")
    width = max(SIZES_PER_COMMAND, uidnext * SIZES_PER_COMMAND // exists)
    sizes: dict[int, int] = {}
    for low in range(1, uidnext, width):
        high = low + width - 1
        sizes.update(message_sizes(client, f"{low}:{high}" if high < uidnext - 1 else f"{low}:*"))
    return sizes


def sizes_since(fetched: dict[int, dict[bytes, Any]], since: int) -> dict[int, int]:
    """{uid: RFC822.SIZE} of the UIDs from `since` on, out of a FETCH reply that asked it."""
    return {
        uid: int(data[b"RFC822.SIZE"])
        for uid, data in fetched.items()
        if uid >= since and b"RFC822.SIZE" in data
    }


# -------------------------------------------------------------------------------- changes


def changes_of(client: IMAPClient, lines: list[Any]) -> tuple[dict[int, dict[bytes, Any]], UidSet]:
    """A `changes_command` reply: {uid: its items} and the UIDs expunged. imaplib keeps the
    untagged VANISHED lines (this command's, and any sent unsolicited since the EXAMINE,
    which flushed the older ones: all are expunged UIDs). ValueError if unreadable."""
    fetched = parse_fetch_response(lines, client.normalise_times, True)
    vanished = UidSet.parse(client._imap.untagged_responses.pop("VANISHED", []))
    return dict(fetched), vanished


def changes_since(
    client: IMAPClient, uids: str, modseq: int, items: tuple[str, ...] = ("FLAGS",)
) -> tuple[dict[int, dict[bytes, Any]], UidSet]:
    """`UID FETCH <uids> (FLAGS) (CHANGEDSINCE <modseq> VANISHED)` (QRESYNC, RFC 7162
    §3.2.6) in the selected folder: the flags of the messages changed since `modseq` (mail
    that arrived since is among them: a new message's MODSEQ is above every earlier one), and
    the UIDs expunged since then, in one command. `items` may ask more of each (a new
    message's RFC822.SIZE: then its sizes need no command of their own)."""
    tag = client._imap._command(*changes_command(uids, modseq, items))
    return changes_of(client, _read(client, tag))


# -------------------------------------------------------------------------------- EXAMINE


def examine(
    client: IMAPClient, folder: str, behind: Command | None = None
) -> tuple[dict[bytes, Any], list[Any] | None]:
    """EXAMINE `folder` (as imapclient's `select_folder(folder, readonly=True)`), with the
    command `behind` sent right after it without waiting: (EXAMINE's reply, the command's
    untagged FETCH lines, or None if the server refused the command: the caller asks again
    the usual way). If the EXAMINE fails, the command's reply is read and dropped (it failed
    too, or read the folder the connection had open) and the EXAMINE's error raised."""
    if behind is None:
        return client.select_folder(folder, readonly=True), None
    imap = client._imap
    client.selected_folder = None  # until the EXAMINE succeeds (`PinnedIMAPClient`)
    imap.untagged_responses = {}  # as imaplib's `select`: older responses flushed
    imap.is_readonly = True
    examining = imap._command("EXAMINE", client._normalise_folder(folder))
    imap.state = "SELECTED"  # imaplib sends a UID command only in this state
    asked = imap._command(*behind)
    try:
        typ, data = imap._command_complete("EXAMINE", examining)
    except NETWORK_ERRORS:
        raise
    except REFUSED as exc:  # BAD
        typ, data = "BAD", [str(exc).encode()]
    if typ != "OK":
        imap.state = "AUTH"  # a failed EXAMINE leaves no folder open
        try:
            _read(client, asked)
        except NETWORK_ERRORS:
            raise
        except REFUSED:
            pass
        client._checkok("examine", typ, data)
    info = client._process_select_response(imap.untagged_responses)
    client.selected_folder = folder
    try:
        return info, _read(client, asked)
    except NETWORK_ERRORS:
        raise
    except REFUSED:
        return info, None
