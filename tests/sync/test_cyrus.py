"""The engine against a real Cyrus IMAP (see cyrus.py), end to end through the HTTP API.

Cyrus keeps every personal folder under the inbox (`NAMESPACE (("INBOX." "."))`): the API
shows `INBOX.Archive` as `Archive`, and a folder created or renamed through the API lands
under the prefix on the server. Changes are made as they happen for users: mail APPENDed or
delivered over LMTP, flags set by another IMAP client.
"""

from __future__ import annotations

import pytest
import samples
from cyrus import Cyrus
from imapclient.exceptions import LoginError
from test_live_sync import eventually


@pytest.fixture
def cyrus_mailbox(cyrus: Cyrus) -> tuple[str, str]:
    return cyrus.new_user()


def _server_folders(server: Cyrus, user: str, password: str) -> set[str]:
    with server.client(user, password) as other:
        return {name for _, _, name in other.list_folders()}


def _subscribed(server: Cyrus, user: str, password: str) -> set[str]:
    with server.client(user, password) as other:
        return {name for _, _, name in other.list_sub_folders()}


def _server_flags(server: Cyrus, user: str, password: str, folder: str, subject: str) -> set:
    with server.client(user, password) as other:
        other.select_folder(folder, readonly=True)
        uids = other.search(["SUBJECT", subject])
        assert len(uids) == 1, uids
        return set(other.get_flags(uids)[uids[0]])


def _folders(api) -> dict[str, dict]:
    """display name -> folder, as the API lists them."""
    return {f["display_name"]: f for f in api.get("/folders").json()}


def _subjects(api, folder: str) -> list[str]:
    return sorted(m["subject"] for m in api.get("/messages", params={"in": folder}).json())


def _folder_role(api, message_id: str) -> str | None:
    """The role of the folder a message is in (None between a move's two halves)."""
    folder = api.get(f"/messages/{message_id}").json().get("folder")
    return folder["name"] if folder else None


def _inbox(api) -> dict[str, dict]:
    return {m["subject"]: m for m in api.get("/messages", params={"in": "inbox"}).json()}


def test_the_test_cyrus_checks_passwords_and_prefixes_folders(cyrus, cyrus_mailbox):
    user, password = cyrus_mailbox
    with pytest.raises(LoginError):
        cyrus.client(user, "not-the-password")
    with cyrus.client(user, password) as imap:
        assert imap.namespace().personal[0] == ("INBOX.", ".")
        roles = {name: set(flags) for flags, _, name in imap.list_folders()}
        # The INBOX and the special folders, made at the first login.
        assert b"\\Sent" in {f.title() for f in roles["INBOX.Sent"]}
        assert b"\\Archive" in {f.title() for f in roles["INBOX.Archive"]}
        assert "INBOX" in roles
    cyrus.deliver(user, samples.plain("Over LMTP", user))
    with cyrus.client(user, password) as imap:
        imap.select_folder("INBOX", readonly=True)
        assert len(imap.search(["SUBJECT", "Over LMTP"])) == 1
    other, _ = cyrus.new_user()
    with cyrus.client(other) as imap:
        assert imap.select_folder("INBOX")[b"EXISTS"] == 0  # users are apart
    with cyrus.admin() as admin:  # the administrator sees every user's mailboxes
        name = user.replace("@", ".Archive@")
        assert f"user.{name}" in {n for _, _, n in admin.list_folders()}


def test_mail_in_the_inbox_and_under_the_prefix_is_synced(cyrus, cyrus_mailbox, sync_engine):
    user, password = cyrus_mailbox
    cyrus.append(user, [samples.plain("Welcome aboard", user)])
    cyrus.append(
        user,
        [samples.plain("Filed away", user, minutes=1), samples.plain("Old receipt", user)],
        folder="INBOX.Archive",
    )
    account = sync_engine.add_imap_account(cyrus, user, password)

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: len(api.get("/messages").json()) == 3, "the first sync")
        folders = _folders(api)
        assert folders["Archive"]["name"] == "archive"
        assert folders["Inbox"]["name"] == "inbox"
        assert {folders[n]["name"] for n in ("Sent", "Drafts", "Trash")} == {
            "sent",
            "drafts",
            "trash",
        }
        assert not [n for n in folders if n.upper().startswith(("INBOX.", "INBOX/"))]
        assert _subjects(api, "archive") == ["Filed away", "Old receipt"]
        assert _subjects(api, folders["Archive"]["id"]) == ["Filed away", "Old receipt"]
        assert _subjects(api, "inbox") == ["Welcome aboard"]
        assert api.get("/account").json()["sync_state"] == "running"


def test_folders_created_and_renamed_through_the_api_land_under_the_prefix(
    cyrus, cyrus_mailbox, sync_engine
):
    user, password = cyrus_mailbox
    cyrus.append(user, [samples.plain("Hello", user)])
    account = sync_engine.add_imap_account(cyrus, user, password)

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: "Hello" in _inbox(api), "the first sync")
        created = api.post("/folders", json={"display_name": "Projects"})
        assert created.status_code == 200, created.text
        assert created.json()["display_name"] == "Projects"
        eventually(
            lambda: "INBOX.Projects" in _server_folders(cyrus, user, password),
            "CREATE of INBOX.Projects on Cyrus",
        )
        assert "Projects" not in _server_folders(cyrus, user, password)  # never at the top
        assert "INBOX.Projects" in _subscribed(cyrus, user, password)  # other clients show it

        renamed = api.put(f"/folders/{created.json()['id']}", json={"display_name": "Clients"})
        assert renamed.status_code == 200, renamed.text
        eventually(
            lambda: (
                {"INBOX.Clients"} & _server_folders(cyrus, user, password)
                and "INBOX.Projects" not in _server_folders(cyrus, user, password)
            ),
            "RENAME to INBOX.Clients on Cyrus",
        )
        # Subscribed under its new name, as before the rename; the old name no longer is.
        eventually(
            lambda: (
                "INBOX.Clients" in (subscribed := _subscribed(cyrus, user, password))
                and "INBOX.Projects" not in subscribed
            ),
            "the subscription moved to INBOX.Clients",
        )

        # Mail another client files in the renamed folder shows there; full passes keep the
        # API's name, and new inbox mail still arrives.
        cyrus.append(user, [samples.plain("Kickoff notes", user, minutes=2)], "INBOX.Clients")
        eventually(
            lambda: _subjects(api, created.json()["id"]) == ["Kickoff notes"],
            "mail in the renamed folder",
        )
        cyrus.append(user, [samples.plain("Still arriving", user, minutes=3)])
        eventually(lambda: "Still arriving" in _inbox(api), "new inbox mail after the rename")
        folders = _folders(api)
        assert "Clients" in folders and "Projects" not in folders
        assert folders["Clients"]["id"] == created.json()["id"]
        assert not [n for n in folders if n.upper().startswith(("INBOX.", "INBOX/"))]
        assert api.get("/account").json()["sync_state"] == "running"


def test_flag_changes_travel_both_ways(cyrus, cyrus_mailbox, sync_engine):
    user, password = cyrus_mailbox
    cyrus.append(
        user,
        [samples.plain("Read me", user), samples.plain("Star me", user, minutes=1)],
    )
    account = sync_engine.add_imap_account(cyrus, user, password)

    with sync_engine.client(account["id"]) as api:
        inbox = eventually(lambda: len(_inbox(api)) == 2 and _inbox(api), "the first sync")
        assert inbox["Read me"]["unread"] is True

        # Read through the API: \Seen on Cyrus.
        read_me = inbox["Read me"]["id"]
        answer = api.put(f"/messages/{read_me}", json={"unread": False})
        assert answer.status_code == 200, answer.text
        eventually(
            lambda: b"\\Seen" in _server_flags(cyrus, user, password, "INBOX", "Read me"),
            "\\Seen set on Cyrus",
        )
        assert api.get(f"/messages/{read_me}").json()["unread"] is False

        # Read and flagged by another client: shown by the API.
        star_me = inbox["Star me"]["id"]
        with cyrus.client(user, password) as other:
            other.select_folder("INBOX")
            uid = other.search(["SUBJECT", "Star me"])[0]
            other.add_flags([uid], [b"\\Seen", b"\\Flagged"])
        eventually(
            lambda: (
                (m := api.get(f"/messages/{star_me}").json())["unread"] is False
                and m["starred"] is True
            ),
            "flags set on Cyrus in the API",
        )
        # ... and unread again.
        with cyrus.client(user, password) as other:
            other.select_folder("INBOX")
            other.remove_flags([uid], [b"\\Seen"])
        eventually(
            lambda: api.get(f"/messages/{star_me}").json()["unread"] is True,
            "\\Seen removed on Cyrus in the API",
        )
        # The API's own change stayed on the server.
        assert b"\\Seen" in _server_flags(cyrus, user, password, "INBOX", "Read me")


def test_new_mail_reaches_the_api_while_the_engine_runs(cyrus, cyrus_mailbox, sync_engine):
    user, password = cyrus_mailbox
    cyrus.append(user, [samples.plain("Already there", user)])
    account = sync_engine.add_imap_account(cyrus, user, password)

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: "Already there" in _inbox(api), "the first sync")
        cursor = api.post("/delta/latest_cursor").json()["cursor"]

        cyrus.append(user, [samples.plain("Fresh news", user, minutes=5)])
        fresh = eventually(lambda: _inbox(api).get("Fresh news"), "appended mail in the inbox")
        assert fresh["unread"] is True
        deltas = api.get("/delta", params={"cursor": cursor}).json()["deltas"]
        assert any(d["object"] == "message" and d["id"] == fresh["id"] for d in deltas)

        cyrus.deliver(user, samples.plain("Delivered", user, minutes=6))
        eventually(lambda: "Delivered" in _inbox(api), "mail delivered over LMTP")
        cyrus.append(user, [samples.plain("Archived", user, minutes=7)], "INBOX.Archive")
        eventually(lambda: _subjects(api, "archive") == ["Archived"], "mail in INBOX.Archive")
        assert api.get("/messages", params={"view": "count"}).json()["count"] == 4
        assert api.get("/account").json()["sync_state"] == "running"


def _on_server(server: Cyrus, user: str, password: str, folder: str) -> list[str]:
    """The subjects in a folder on Cyrus, sorted."""
    with server.client(user, password) as other:
        other.select_folder(folder, readonly=True)
        uids = other.search("ALL")
        fetched = other.fetch(uids, ["ENVELOPE"]) if uids else {}
        return sorted((d[b"ENVELOPE"].subject or b"").decode() for d in fetched.values())


def test_moves_expunges_drafts_and_folder_deletes_both_ways(cyrus, cyrus_mailbox, sync_engine):
    user, password = cyrus_mailbox
    cyrus.append(
        user,
        [
            samples.plain("File me", user),
            samples.plain("Move me over there", user, minutes=1),
            samples.plain("Throw me away", user, minutes=2),
        ],
    )
    account = sync_engine.add_imap_account(cyrus, user, password)

    with sync_engine.client(account["id"]) as api:
        inbox = eventually(lambda: len(_inbox(api)) == 3 and _inbox(api), "the first sync")
        folders = _folders(api)

        # Moved through the API: in INBOX.Archive on Cyrus, the same message in the API.
        file_me = inbox["File me"]["id"]
        moved = api.put(f"/messages/{file_me}", json={"folder_id": folders["Archive"]["id"]})
        assert moved.status_code == 200, moved.text
        eventually(
            lambda: _on_server(cyrus, user, password, "INBOX.Archive") == ["File me"],
            "the message in INBOX.Archive on Cyrus",
        )
        assert "File me" not in _on_server(cyrus, user, password, "INBOX")
        eventually(
            lambda: _folder_role(api, file_me) == "archive",
            "the moved message in Archive in the API",
        )

        # Moved and expunged by another client.
        with cyrus.client(user, password) as other:
            other.select_folder("INBOX")
            other.move(other.search(["SUBJECT", "Move me over there"]), "INBOX.Trash")
            other.delete_messages(other.search(["SUBJECT", "Throw me away"]))
            other.expunge()
        move_me = inbox["Move me over there"]["id"]
        eventually(
            lambda: _folder_role(api, move_me) == "trash",
            "the move to INBOX.Trash in the API",
        )
        throw_me = inbox["Throw me away"]["id"]
        eventually(
            lambda: api.get(f"/messages/{throw_me}").status_code == 404,
            "the expunged message gone from the API",
        )
        assert api.get("/messages", params={"view": "count"}).json()["count"] == 2

        # A draft saved through the API lands in INBOX.Drafts.
        draft = api.post("/drafts", json={"subject": "Plan", "to": [{"email": user}]})
        assert draft.status_code == 200, draft.text
        eventually(
            lambda: _on_server(cyrus, user, password, "INBOX.Drafts") == ["Plan"],
            "the draft in INBOX.Drafts",
        )

        # A folder deleted through the API goes from Cyrus; sync goes on.
        created = api.post("/folders", json={"display_name": "Scratch"})
        assert created.status_code == 200, created.text
        eventually(
            lambda: "INBOX.Scratch" in _server_folders(cyrus, user, password),
            "CREATE of INBOX.Scratch",
        )
        assert api.delete(f"/folders/{created.json()['id']}").status_code == 200
        eventually(
            lambda: "INBOX.Scratch" not in _server_folders(cyrus, user, password),
            "DELETE of INBOX.Scratch on Cyrus",
        )
        cyrus.append(user, [samples.plain("After the delete", user, minutes=3)])
        eventually(lambda: "After the delete" in _inbox(api), "inbox mail after the delete")
        assert "Scratch" not in _folders(api)
        assert api.get("/account").json()["sync_state"] == "running"
