"""EXAMINE with the folder's first read sent right behind it (sync/folder_reads.py), against
a real Dovecot: one round trip for both, and a refusal of either leaves the connection in
step (the next command gets its own reply)."""

from __future__ import annotations

from typing import Any

import pytest
import samples

from nylas_engine.sync.folder_reads import (
    changes_command,
    changes_of,
    examine,
    sizes_command,
    sizes_of,
)
from nylas_engine.sync.imap import REFUSED


@pytest.fixture
def mailbox(dovecot) -> tuple[Any, str, str, list[int]]:
    user, password = dovecot.new_user()
    uids = dovecot.append(user, [samples.plain(f"Note {n}", user, minutes=n) for n in range(3)])
    return dovecot, user, password, uids


def wire_events(client: Any) -> list[str]:
    """What the connection sends ("send EXAMINE") and when it waits for a reply ("read"),
    in order, from now on."""
    imap = client._imap
    events: list[str] = []
    send, readline = imap.send, imap.readline

    def spy_send(data: bytes) -> None:
        words = data.split()  # `tag NAME args`, or the rest of a line sent in parts
        if len(words) > 1 and words[0] in imap.tagged_commands:
            events.append("send " + words[1].decode())
        send(data)

    def spy_readline() -> bytes:
        if not events or events[-1] != "read":
            events.append("read")
        return readline()

    imap.send, imap.readline = spy_send, spy_readline
    return events


def test_the_read_goes_out_before_the_examines_reply_is_in(mailbox):
    server, user, password, uids = mailbox
    with server.client(user, password) as client:
        events = wire_events(client)
        info, reply = examine(client, "INBOX", sizes_command("1:*"))
        # Both commands written, then the replies read: one round trip.
        assert events[:3] == ["send EXAMINE", "send UID", "read"], events
        assert info[b"EXISTS"] == 3
        assert reply is not None
        assert set(sizes_of(reply)) == set(uids)
        assert client.selected_folder == "INBOX"
        assert client.search("ALL") == sorted(uids)  # the connection is in step


def test_the_changes_since_a_modseq_come_with_the_examine(mailbox):
    server, user, password, uids = mailbox
    with server.client(user, password) as client:
        client.enable("QRESYNC")
        modseq = client.select_folder("INBOX", readonly=True)[b"HIGHESTMODSEQ"]
        client.unselect_folder()
        with server.client(user, password) as other:
            other.select_folder("INBOX")
            other.add_flags([uids[0]], [b"\\Flagged"])
            other.delete_messages([uids[1]])
            other.expunge()
        (new,) = server.append(user, [samples.plain("New", user)])
        info, reply = examine(
            client, "INBOX", changes_command("1:*", modseq, ("FLAGS", "RFC822.SIZE"))
        )
        assert reply is not None
        changed, vanished = changes_of(client, reply)
    assert set(changed) == {uids[0], new}
    assert b"\\Flagged" in changed[uids[0]][b"FLAGS"]
    assert changed[new][b"RFC822.SIZE"] > 0
    assert uids[1] in vanished and uids[0] not in vanished
    assert info[b"EXISTS"] == 3


def test_a_folder_that_is_gone_raises_and_leaves_the_connection_in_step(mailbox):
    server, user, password, uids = mailbox
    with server.client(user, password) as client:
        client.select_folder("INBOX", readonly=True)
        with pytest.raises(REFUSED):
            examine(client, "No such folder", sizes_command("1:*"))
        assert client.selected_folder is None
        # The read sent behind the failed EXAMINE had its reply read and dropped: the next
        # command gets its own.
        info, reply = examine(client, "Archive", sizes_command("1:*"))
        assert info[b"EXISTS"] == 0
        assert client.selected_folder == "Archive"


def test_a_read_the_server_refuses_is_none_and_the_folder_open(mailbox):
    server, user, password, uids = mailbox
    with server.client(user, password) as client:
        info, reply = examine(client, "INBOX", ("UID", "FETCH", "1:*", "(NO-SUCH-ITEM)"))
        assert reply is None
        assert info[b"EXISTS"] == 3
        assert client.search("ALL") == sorted(uids)
