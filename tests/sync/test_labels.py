"""Label accounts on IMAP: each label is a folder on the server, a message with two labels is
a copy in two folders (as Gmail shows its labels over IMAP).

The sync makes the copies one message with one label per folder; the write-back turns a label
added through the API into a COPY, a label removed into the expunge of that copy only, and
labels created, renamed and deleted into CREATE, RENAME and DELETE of folders. The server is
checked with a separate IMAP client, as another mail program would see it.
"""

from __future__ import annotations

from typing import Any

import samples
from test_conflicts import Mailbox
from test_live_sync import eventually, linked_folders

from nylas import APIClient

# A server without CONDSTORE, MOVE and UIDPLUS: flags are compared UID by UID, and a removed
# label's copy goes with a plain EXPUNGE.


def _label_account(engine, dovecot, folders: dict[str, list[str]], *extra: str):
    """A fresh mailbox holding one message per subject in the folders given (the same bytes in
    each folder a subject is listed under), added to the engine as a label account."""
    user, password = dovecot.new_user()
    mailbox = Mailbox(dovecot, user, password)
    raws: dict[str, bytes] = {}
    with dovecot.client(user, password) as other:
        for folder in folders:
            if not other.folder_exists(folder):
                other.create_folder(folder)
    for folder, subjects in folders.items():
        for subject in subjects:
            raw = raws.setdefault(subject, samples.plain(subject, user, minutes=len(raws)))
            dovecot.append(user, [raw], folder)
    account = engine.add_imap_account(dovecot, user, password, "--labels", *extra)
    return account, mailbox


def _labels(message: dict[str, Any]) -> list[str]:
    return sorted(label["name"] or label["display_name"] for label in message["labels"])


def _label_ids(api) -> dict[str, str]:
    return {
        label["name"] or label["display_name"]: label["id"] for label in api.get("/labels").json()
    }


def _by_subject(api) -> dict[str, dict[str, Any]]:
    return {m["subject"]: m for m in api.get("/messages").json()}


def _synced(api, subjects: list[str], labels: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """The messages once the first sync has them all (and, with `labels`, each has exactly
    those: every folder's copy linked, so a change made next can't race the linking)."""

    def done() -> dict[str, dict[str, Any]] | None:
        got = _by_subject(api)
        if sorted(got) != sorted(subjects):
            return None
        if labels is not None and any(_labels(m) != labels for m in got.values()):
            return None
        return got

    return eventually(done, "the first sync")


def _server_folders(mailbox: Mailbox) -> set[str]:
    with mailbox.server.client(mailbox.user, mailbox.password) as other:
        return {name for _, _, name in other.list_folders()}


# ---------------------------------------------------------------------------------- the sync


def test_a_message_in_two_folders_is_one_message_with_two_labels(dovecot, offline_engine):
    account, _ = _label_account(
        offline_engine, dovecot, {"INBOX": ["Plans", "Lunch"], "Work": ["Plans"]}
    )
    assert account["organization_unit"] == "label"
    offline_engine.cli("sync", account["id"], "--once", "--json")

    with offline_engine.client(account["id"]) as api:
        assert api.get("/account").json()["organization_unit"] == "label"
        messages = _by_subject(api)
        assert sorted(messages) == ["Lunch", "Plans"]  # the copy in Work is no second message
        assert _labels(messages["Plans"]) == ["Work", "inbox"]
        assert _labels(messages["Lunch"]) == ["inbox"]
        assert "folder" not in messages["Plans"] and "folders" not in messages["Plans"]
        assert api.get("/folders").status_code == 404

        labels = {label["display_name"]: label for label in api.get("/labels").json()}
        # The server's special folders claimed the standard labels (same role); the others
        # are labels of their own.
        assert {labels[n]["name"] for n in ("Inbox", "Sent", "Drafts", "Trash", "Junk")} == {
            "inbox",
            "sent",
            "drafts",
            "trash",
            "spam",
        }
        assert labels["Work"]["name"] is None and labels["Work"]["object"] == "label"
        work = api.get("/messages", params={"in": "Work"}).json()
        assert [m["subject"] for m in work] == ["Plans"]
        assert linked_folders(offline_engine, messages["Plans"]["id"]) == ["INBOX", "Work"]


def test_the_all_folder_is_the_all_label_and_other_folders_are_labels(offline_engine):
    """Gmail's folder list, matched for a label account (Dovecot has no \\All folder)."""
    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.models import Category
    from nylas_engine.sync.folders import RemoteFolder, match_folders, role_for

    listed = [
        ("INBOX", [b"\\HasNoChildren"]),
        ("[Gmail]/All Mail", [b"\\All", b"\\HasNoChildren"]),
        ("[Gmail]/Sent Mail", [b"\\Sent", b"\\HasNoChildren"]),
        ("[Gmail]/Spam", [b"\\Junk", b"\\HasNoChildren"]),
        ("[Gmail]/Important", [b"\\HasNoChildren", b"\\Important"]),
        ("[Google Mail]/Starred", [b"\\HasNoChildren", b"\\Flagged"]),
        ("Work/Projects", [b"\\HasNoChildren"]),
    ]
    remote = [RemoteFolder(name, "/", role_for(name, flags, "/")) for name, flags in listed]
    with offline_engine.db.session() as session:
        account = create_account(session, "gmail-shaped@example.com", organization_unit="label")
        standard = {c.name: c.id for c in session.query(Category).filter_by(account_id=account.id)}
        pairs, gone = match_folders(session, account, remote)
        found = {folder.name: category for folder, category in pairs}
        assert gone == []
        assert found["[Gmail]/All Mail"].id == standard["all"]  # claimed, same id
        assert found["[Gmail]/Sent Mail"].id == standard["sent"]
        assert found["[Gmail]/Spam"].id == standard["spam"]
        assert found["[Gmail]/Important"].id == standard["important"]
        assert found["INBOX"].id == standard["inbox"]
        assert found["[Google Mail]/Starred"].name == "starred"
        shown = {c.name: c.display_name for c in found.values() if c.name}
        assert shown["sent"] == "Sent Mail" and shown["starred"] == "Starred"
        assert (found["Work/Projects"].type, found["Work/Projects"].name) == ("label", None)
        assert {c.type for c in session.query(Category).filter_by(account_id=account.id)} == {
            "label"
        }


def test_labels_option_and_gmail_capability_make_a_label_account(dovecot, offline_engine):
    from nylas_engine.sync.accounts import organization_unit

    # Dovecot as it is: a folder account unless asked.
    user, password = dovecot.new_user()
    plain = offline_engine.add_imap_account(dovecot, user, password)
    assert plain["organization_unit"] == "folder"
    with dovecot.client(user, password) as other:
        capabilities = other.capabilities()
    assert organization_unit(capabilities) == "folder"
    assert organization_unit(capabilities, labels=True) == "label"
    # Gmail advertises its extensions: a label account without asking.
    assert organization_unit([*capabilities, b"X-GM-EXT-1"]) == "label"
    assert organization_unit(["IMAP4rev1", "x-gm-ext-1"]) == "label"

    user, password = dovecot.new_user()
    labelled = offline_engine.add_imap_account(dovecot, user, password, "--labels")
    assert labelled["organization_unit"] == "label"
    with offline_engine.client(labelled["id"]) as api:
        names = {label["name"] for label in api.get("/labels").json()}
        assert {"inbox", "all", "sent", "drafts", "trash", "spam", "important"} <= names


# ---------------------------------------------------------------------------------- write-back


def test_labels_added_and_removed_through_the_api_are_copies_on_the_server(server, sync_engine):
    account, mailbox = _label_account(sync_engine, server, {"INBOX": ["Report"], "Work": []})
    with sync_engine.client(account["id"]) as api:
        report = _synced(api, ["Report"])["Report"]
        labels = _label_ids(api)

        # Through the SDK: add_label sends the whole set, the inbox label included.
        client = APIClient(None, None, account["id"], sync_engine.url)
        message = client.messages.get(report["id"])
        message.add_label(labels["Work"])
        eventually(lambda: mailbox.folders_of("Report") == ["INBOX", "Work"], "the copy in Work")
        # The copy is linked to the same message: still one message, with both labels.
        eventually(
            lambda: linked_folders(sync_engine, report["id"]) == ["INBOX", "Work"],
            "the copy linked",
        )
        assert list(_by_subject(api)) == ["Report"]
        assert _labels(api.get(f"/messages/{report['id']}").json()) == ["Work", "inbox"]

        # Removing the inbox label (archiving, as Gmail calls it) removes that copy only.
        archived = api.put(f"/messages/{report['id']}", json={"label_ids": [labels["Work"]]})
        assert archived.status_code == 200, archived.text
        eventually(lambda: mailbox.folders_of("Report") == ["Work"], "the copy gone from INBOX")
        eventually(lambda: linked_folders(sync_engine, report["id"]) == ["Work"], "INBOX unlinked")
        after = api.get(f"/messages/{report['id']}").json()
        assert _labels(after) == ["Work"]
        assert list(_by_subject(api)) == ["Report"]
        assert [m["subject"] for m in api.get("/messages", params={"in": "inbox"}).json()] == []

        # Both at once: back to the inbox, out of Work.
        moved = api.put(f"/messages/{report['id']}", json={"label_ids": [labels["inbox"]]})
        assert moved.status_code == 200, moved.text
        eventually(lambda: mailbox.folders_of("Report") == ["INBOX"], "only in INBOX again")
        eventually(lambda: linked_folders(sync_engine, report["id"]) == ["INBOX"], "relinked")
        # Back in the inbox is back in All Mail too, as on Gmail (a label of no folder here:
        # Dovecot has no \\All folder).
        assert _labels(api.get(f"/messages/{report['id']}").json()) == ["all", "inbox"]


def test_a_label_without_a_server_folder_removes_no_copy(dovecot, sync_engine):
    # `important` has no folder on Dovecot: a message left with only that label would be on
    # no folder at all, so it keeps the copy it has.
    account, mailbox = _label_account(sync_engine, dovecot, {"INBOX": ["Keep me"]})
    with sync_engine.client(account["id"]) as api:
        message = _synced(api, ["Keep me"])["Keep me"]
        labels = _label_ids(api)
        changed = api.put(f"/messages/{message['id']}", json={"label_ids": [labels["important"]]})
        assert changed.status_code == 200, changed.text
        # A later change reaching the server shows the write-back has looked at the message.
        assert api.put(f"/messages/{message['id']}", json={"starred": True}).status_code == 200
        eventually(lambda: b"\\Flagged" in mailbox.flags("INBOX", "Keep me"), "the star")
        assert mailbox.folders_of("Keep me") == ["INBOX"]


def test_labels_created_renamed_and_deleted_through_the_api_are_folders_on_the_server(
    dovecot, sync_engine
):
    account, mailbox = _label_account(sync_engine, dovecot, {"INBOX": ["Invoice 42"]})
    with sync_engine.client(account["id"]) as api:
        invoice = _synced(api, ["Invoice 42"])["Invoice 42"]
        created = api.post("/labels", json={"display_name": "Receipts"})
        assert created.status_code == 200, created.text
        receipts = created.json()
        eventually(lambda: "Receipts" in _server_folders(mailbox), "CREATE on the server")

        # A new label at once on a message: the copy lands in the new folder.
        inbox = _label_ids(api)["inbox"]
        labelled = api.put(
            f"/messages/{invoice['id']}", json={"label_ids": [inbox, receipts["id"]]}
        )
        assert labelled.status_code == 200, labelled.text
        eventually(
            lambda: mailbox.folders_of("Invoice 42") == ["INBOX", "Receipts"],
            "the copy in Receipts",
        )
        eventually(
            lambda: linked_folders(sync_engine, invoice["id"]) == ["INBOX", "Receipts"],
            "the copy linked",
        )

        renamed = api.put(f"/labels/{receipts['id']}", json={"display_name": "Paid"})
        assert renamed.status_code == 200, renamed.text
        eventually(
            lambda: "Paid" in (f := _server_folders(mailbox)) and "Receipts" not in f,
            "RENAME on the server",
        )
        assert mailbox.folders_of("Invoice 42") == ["INBOX", "Paid"]
        assert api.get(f"/labels/{receipts['id']}").json()["display_name"] == "Paid"

        # Standard labels stay as they are.
        assert api.put(f"/labels/{inbox}", json={"display_name": "Post"}).status_code == 400

        assert api.delete(f"/labels/{receipts['id']}").status_code == 200
        eventually(lambda: "Paid" not in _server_folders(mailbox), "DELETE on the server")
        # The message keeps its other label and its copy there.
        eventually(
            lambda: linked_folders(sync_engine, invoice["id"]) == ["INBOX"], "the copy unlinked"
        )
        assert _labels(api.get(f"/messages/{invoice['id']}").json()) == ["inbox"]
        assert mailbox.folders_of("Invoice 42") == ["INBOX"]
        assert "Paid" not in {label["display_name"] for label in api.get("/labels").json()}


# ---------------------------------------------------------------------------------- server side


def test_a_copy_made_by_another_client_is_a_label_added(dovecot, sync_engine):
    account, mailbox = _label_account(sync_engine, dovecot, {"INBOX": ["Trip"], "Travel": []})
    with sync_engine.client(account["id"]) as api:
        trip = _synced(api, ["Trip"])["Trip"]
        with dovecot.client(mailbox.user, mailbox.password) as other:
            other.select_folder("INBOX")
            other.copy(other.search(["SUBJECT", "Trip"]), "Travel")
        eventually(
            lambda: _labels(api.get(f"/messages/{trip['id']}").json()) == ["Travel", "inbox"],
            "the label added by the copy",
        )
        assert list(_by_subject(api)) == ["Trip"]

        # ... and an expunge there is the label removed; the message stays in the inbox.
        mailbox.expunge("Travel", "Trip")
        eventually(
            lambda: _labels(api.get(f"/messages/{trip['id']}").json()) == ["inbox"],
            "the label removed by the expunge",
        )
        assert mailbox.folders_of("Trip") == ["INBOX"]


def test_flags_go_both_ways_on_a_label_account(server, sync_engine):
    account, mailbox = _label_account(
        sync_engine, server, {"INBOX": ["Read me", "Star me"], "Work": ["Read me", "Star me"]}
    )
    with sync_engine.client(account["id"]) as api:
        synced = _synced(api, ["Read me", "Star me"], labels=["Work", "inbox"])
        read_me = synced["Read me"]
        assert api.put(f"/messages/{read_me['id']}", json={"unread": False}).status_code == 200
        # Every copy of the message gets the flag.
        eventually(
            lambda: (
                b"\\Seen" in mailbox.flags("INBOX", "Read me")
                and b"\\Seen" in mailbox.flags("Work", "Read me")
            ),
            "\\Seen on both copies",
        )
        assert _labels(api.get(f"/messages/{read_me['id']}").json()) == ["Work", "inbox"]

        star_me = synced["Star me"]
        mailbox.add_flags("Work", "Star me", [b"\\Flagged"])  # starred in another client
        eventually(
            lambda: api.get(f"/messages/{star_me['id']}").json()["starred"] is True,
            "the star in the API",
        )
        after = api.get(f"/messages/{star_me['id']}").json()
        assert after["unread"] is True and _labels(after) == ["Work", "inbox"]
        # One message, one star: the copy in INBOX gets it too (as Gmail shows it anyway).
        eventually(
            lambda: b"\\Flagged" in mailbox.flags("INBOX", "Star me"), "the star on the other copy"
        )
        assert mailbox.folders_of("Star me") == ["INBOX", "Work"]
