"""Servers that keep every folder under the inbox.

Cyrus, Courier and many hosted servers announce `NAMESPACE (("INBOX." "."))`: a folder is
`INBOX.Archive` on the server. The API shows it as `Archive`, and a folder created or
renamed through the API lands under the prefix. The Dovecot here is configured that way
(`namespace inbox { prefix = INBOX. separator = . }`), the other tests' Dovecot is not.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import samples
from dovecot import Dovecot
from test_live_sync import eventually


@pytest.fixture(scope="module")
def prefixed_dovecot() -> Iterator[Dovecot]:
    server = Dovecot(prefix="INBOX.", separator=".").start()
    yield server
    server.stop()


def _server_folders(server: Dovecot, user: str, password: str) -> set[str]:
    with server.client(user, password) as other:
        return {name for _, _, name in other.list_folders()}


def _folder_names(api) -> dict[str, str | None]:
    """display name -> role, as the API lists the folders."""
    return {f["display_name"]: f["name"] for f in api.get("/folders").json()}


def _inbox_subjects(api) -> list[str]:
    return [m["subject"] for m in api.get("/messages", params={"in": "inbox"}).json()]


def test_folders_under_the_inbox_prefix_are_shown_without_it(prefixed_dovecot, sync_engine):
    server = prefixed_dovecot
    user, password = server.new_user()
    with server.client(user, password) as other:
        assert other.namespace().personal[0] == ("INBOX.", ".")
        other.create_folder("INBOX.Work")
        other.create_folder("INBOX.Work.Clients")
    server.append(user, [samples.plain("Filed away", user)], folder="INBOX.Archive")
    server.append(user, [samples.plain("Client call", user)], folder="INBOX.Work.Clients")
    account = sync_engine.add_imap_account(server, user, password)

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: len(api.get("/messages").json()) == 2, "the first sync")
        names = _folder_names(api)
        # Roles found as before; no name carries the prefix.
        assert {names[n] for n in ("Inbox", "Sent", "Drafts", "Trash", "Archive")} == {
            "inbox",
            "sent",
            "drafts",
            "trash",
            "archive",
        }
        assert names["Work"] is None and names["Work/Clients"] is None
        assert not [n for n in names if n.upper().startswith("INBOX/")]
        archived = api.get("/messages", params={"in": "archive"}).json()
        assert [m["subject"] for m in archived] == ["Filed away"]
        clients = api.get("/messages", params={"in": "Work/Clients"}).json()
        assert [m["subject"] for m in clients] == ["Client call"]

        # Created, renamed, nested and deleted through the API: under the prefix on the
        # server, without it in the API.
        created = api.post("/folders", json={"display_name": "Receipts"})
        assert created.status_code == 200, created.text
        eventually(
            lambda: "INBOX.Receipts" in _server_folders(server, user, password),
            "CREATE under the prefix",
        )
        renamed = api.put(
            f"/folders/{created.json()['id']}", json={"display_name": "Work/Invoices"}
        )
        assert renamed.status_code == 200, renamed.text
        eventually(
            lambda: "INBOX.Work.Invoices" in _server_folders(server, user, password),
            "RENAME under the prefix",
        )
        assert "INBOX.Receipts" not in _server_folders(server, user, password)
        assert "Receipts" not in _server_folders(server, user, password)  # never at the top

        # Full passes keep the names as the API gave them, and the account syncs on.
        server.deliver(user, samples.plain("Still arriving", user, minutes=5))
        eventually(lambda: "Still arriving" in _inbox_subjects(api), "new inbox mail")
        names = _folder_names(api)
        assert "Work/Invoices" in names and "Receipts" not in names
        assert not [n for n in names if n.upper().startswith("INBOX")] or names["Inbox"]
        assert api.get("/account").json()["sync_state"] == "running"

        assert api.delete(f"/folders/{created.json()['id']}").status_code == 200
        eventually(
            lambda: "INBOX.Work.Invoices" not in _server_folders(server, user, password),
            "DELETE on the server",
        )
        server.deliver(user, samples.plain("After the delete", user, minutes=6))
        eventually(lambda: "After the delete" in _inbox_subjects(api), "inbox mail after it")
        assert "Work/Invoices" not in _folder_names(api)
        assert api.get("/account").json()["sync_state"] == "running"


def test_names_map_both_ways_whatever_the_separator():
    from nylas_engine.sync.folders import Namespace

    cyrus = Namespace("INBOX.", ".")
    assert cyrus.display_name("INBOX.Archive") == "Archive"
    assert cyrus.display_name("INBOX.Work.Clients") == "Work/Clients"
    assert cyrus.display_name("INBOX", "inbox") == "Inbox"
    assert cyrus.display_name("Shared.Team") == "Shared/Team"  # outside the namespace: kept
    assert cyrus.remote_name("Projects/2024") == "INBOX.Projects.2024"
    slash = Namespace("INBOX/", "/")
    assert slash.display_name("INBOX/Sent") == "Sent"
    assert slash.remote_name("Receipts") == "INBOX/Receipts"
    plain = Namespace("", ".")  # Dovecot as it comes: names as before
    assert plain.display_name("Work.Clients") == "Work/Clients"
    assert plain.remote_name("Work/Clients") == "Work.Clients"
    flat = Namespace("", None)
    assert flat.remote_name("A/B") == "A/B" and flat.display_name("A/B") == "A/B"


def test_the_namespace_is_asked_with_enable_in_one_round_trip(prefixed_dovecot):
    """A new connection sends NAMESPACE and ENABLE before either reply is in (their replies
    read in turn): one round trip where there were two, at every login."""
    from test_folder_reads import wire_events

    from nylas_engine.sync.folders import Namespace, personal_namespace, send_namespace
    from nylas_engine.sync.imap import enable_extensions

    user, password = prefixed_dovecot.new_user()
    with prefixed_dovecot.client(user, password) as client:
        client.capabilities()  # (the connection's, as the sync has them from its login)
        wire = wire_events(client)
        sent = send_namespace(client)
        assert enable_extensions(client) == (True, True)
        assert personal_namespace(client, sent) == Namespace("INBOX.", ".")
        assert wire == ["send NAMESPACE", "send ENABLE", "read"], wire
        assert personal_namespace(client) == Namespace("INBOX.", ".")  # asked on its own
