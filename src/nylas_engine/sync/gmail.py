"""Gmail's IMAP extensions (X-GM-EXT-1, developers.google.com/gmail/imap/imap-extensions),
used when the server offers them on a label account.

Gmail shows each label as a folder, so a message with three labels is four copies over IMAP
(All Mail holds every message not in Trash or Spam). Synced copy by copy, as on other label
servers (writeback.py), that is four downloads and COPY/EXPUNGE to change a label. With the
extensions the sync instead:

* lists every folder (each is a label category, `match_folders`), but syncs only All Mail
  (`\\All`), Trash and Spam: every message once (and Drafts, whose copies are linked to
  All Mail's by X-GM-MSGID);
* FETCHes `X-GM-LABELS` with the flags: a message's labels are All Mail's (or Trash's)
  category plus the categories of its labels (`store.gmail_labels`); a label changed on the
  server changes the message's MODSEQ, so CONDSTORE finds it as it finds flag changes;
* FETCHes `X-GM-THRID`: messages with the same one are one thread, whatever their subjects
  and headers (`store.threading`);
* FETCHes `X-GM-MSGID`: the message's identity in every folder, so a message moved from All
  Mail to Trash is linked to the same message, not stored again;
* writes a label added or removed through the API as `UID STORE +X-GM-LABELS` or
  `-X-GM-LABELS` on the message's All Mail UID (writeback.py), instead of COPY and EXPUNGE.

A server without X-GM-EXT-1, and a folder account, sync exactly as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from imapclient.imap_utf7 import decode as decode_utf7
from imapclient.response_parser import parse_response

CAPABILITY = b"X-GM-EXT-1"
FETCH_ITEMS = ("X-GM-MSGID", "X-GM-THRID", "X-GM-LABELS")
# All Mail holds every message but those in Trash and Spam: these three hold each one once.
# Drafts too (its messages are in All Mail as well, the same X-GM-MSGID): the drafts made
# through the API are kept there by UID (sync/drafts.py), as on any server.
SYNCED_ROLES = ("all", "trash", "spam", "drafts")


@dataclass(frozen=True)
class GmailItems:
    """What Gmail's FETCH items said of one message."""

    msgid: int | None
    thrid: int | None
    labels: list[str]


def offered(capabilities: Iterable[bytes | str]) -> bool:
    names = {(c.encode() if isinstance(c, str) else bytes(c)).upper() for c in capabilities}
    return CAPABILITY in names


def label_names(values: Iterable[Any]) -> list[str]:
    """X-GM-LABELS as imapclient parses them (bytes, or ints for a label like `2024`),
    decoded from modified UTF-7, sorted."""
    names = []
    for value in values:
        if isinstance(value, bytes):
            names.append(decode_utf7(value))
        else:
            names.append(str(value))
    return sorted(set(names))


def items_of(data: dict[bytes, Any]) -> GmailItems | None:
    """The Gmail items of a FETCH reply as imapclient parses it; None without any."""
    if not any(key in data for key in (b"X-GM-MSGID", b"X-GM-THRID", b"X-GM-LABELS")):
        return None
    msgid, thrid = data.get(b"X-GM-MSGID"), data.get(b"X-GM-THRID")
    return GmailItems(
        int(msgid) if msgid is not None else None,
        int(thrid) if thrid is not None else None,
        label_names(data.get(b"X-GM-LABELS") or ()),
    )


# The items of a FETCH reply's text around the message literal (see fetch._fetch_raw); a
# label is an atom or a quoted string (with \\ and \" escapes).
FETCH_ITEM = re.compile(
    rb'(X-GM-MSGID|X-GM-THRID) (\d+)|X-GM-LABELS \(((?:[^()"]|"(?:[^"\\]|\\.)*")*)\)'
)


def read_items(text: bytes) -> dict[bytes, Any]:
    """Gmail's items in a FETCH reply's text, in the shape imapclient gives them."""
    found: dict[bytes, Any] = {}
    for key, number, labels in FETCH_ITEM.findall(text):
        if key:
            found[key] = int(number)
        else:
            found[b"X-GM-LABELS"] = parse_response([labels]) if labels.strip() else ()
    return found
