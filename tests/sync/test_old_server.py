"""A server without CONDSTORE and MOVE: flags are compared UID by UID, moves are COPY +
EXPUNGE, and the result is the same as with a modern server."""

from __future__ import annotations

import json
import time

import pytest
import samples
from dovecot import Dovecot

OLD_CAPABILITIES = "IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS SPECIAL-USE"


@pytest.fixture(scope="module")
def old_dovecot():
    server = Dovecot(capabilities=OLD_CAPABILITIES).start()
    yield server
    server.stop()


def test_flags_and_expunges_without_condstore(old_dovecot, offline_engine):
    user, password = old_dovecot.new_user()
    with old_dovecot.client(user, password) as imap:
        caps = set(imap.capabilities())
    assert b"CONDSTORE" not in caps and b"MOVE" not in caps

    old_dovecot.append(user, [samples.plain(f"Note {n}", user, minutes=n) for n in range(3)])
    account = offline_engine.add_imap_account(old_dovecot, user, password)
    first = json.loads(offline_engine.cli("sync", account["id"], "--once", "--json"))
    assert first["added"] == 3

    with old_dovecot.client(user, password) as other:
        other.select_folder("INBOX")
        note0, note1 = (
            other.search(["SUBJECT", "Note 0"])[0],
            other.search(["SUBJECT", "Note 1"])[0],
        )
        other.add_flags([note0], [b"\\Seen"])
        other.delete_messages([note1])
        other.expunge()

    second = json.loads(offline_engine.cli("sync", account["id"], "--once", "--json"))
    assert (second["added"], second["updated"], second["removed"]) == (0, 1, 1)
    with offline_engine.client(account["id"]) as api:
        by_subject = {m["subject"]: m for m in api.get("/messages").json()}
        assert set(by_subject) == {"Note 0", "Note 2"}
        assert by_subject["Note 0"]["unread"] is False
        assert by_subject["Note 2"]["unread"] is True


def test_api_move_without_move_extension(old_dovecot, sync_engine):
    user, password = old_dovecot.new_user()
    old_dovecot.append(user, [samples.plain("File me", user)])
    account = sync_engine.add_imap_account(old_dovecot, user, password)
    with sync_engine.client(account["id"]) as api:
        deadline = time.monotonic() + 30
        while not (inbox := api.get("/messages").json()) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert [m["subject"] for m in inbox] == ["File me"]
        archive = next(f for f in api.get("/folders").json() if f["name"] == "archive")
        moved = api.put(f"/messages/{inbox[0]['id']}", json={"folder_id": archive["id"]})
        assert moved.status_code == 200

    def where() -> tuple[list[int], list[int]]:
        with old_dovecot.client(user, password) as other:
            found = []
            for folder in ("INBOX", "Archive"):
                other.select_folder(folder, readonly=True)
                found.append(other.search(["SUBJECT", "File me"]))
            return found[0], found[1]

    deadline = time.monotonic() + 30
    while (found := where()) and (found[0] or not found[1]) and time.monotonic() < deadline:
        time.sleep(0.2)
    in_inbox, in_archive = found
    assert in_inbox == [] and len(in_archive) == 1
