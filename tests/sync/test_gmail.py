"""Gmail accounts over IMAP with Gmail's extensions (X-GM-EXT-1): All Mail synced once, labels
from X-GM-LABELS, threads from X-GM-THRID, label changes written as STORE X-GM-LABELS.

No Gmail is reachable from here: the server is a real Dovecot with Gmail's folders behind a
thin front that adds the extensions (gmail_imap.py says what it plays and what not). What the
server holds is checked through that front with a separate IMAP client, as another Gmail
client would see it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import samples
from dovecot import Dovecot
from gmail_imap import ALL_MAIL, GmailFront, gmail_dovecot
from test_live_sync import eventually, linked_folders


@pytest.fixture(scope="module")
def gmail() -> Iterator[GmailFront]:
    server = gmail_dovecot().start()
    front = GmailFront(server).start()
    yield front
    front.stop()
    server.stop()


def _mailbox(front: GmailFront) -> tuple[str, str]:
    user, password = front.dovecot.new_user()
    with front.dovecot.client(user, password) as direct:
        for label in ("Work", "Travel"):
            direct.create_folder(label)
    return user, password


def _by_subject(api) -> dict[str, dict[str, Any]]:
    return {m["subject"]: m for m in api.get("/messages").json()}


def _labels(message: dict[str, Any]) -> list[str]:
    return sorted(label["name"] or label["display_name"] for label in message["labels"])


def _server_labels(front: GmailFront, user: str, password: str, msgid: int) -> list[str] | None:
    """The labels the server has for the message with this X-GM-MSGID (in All Mail); None
    if this look did not find it (seen once in CI, with the engine's copy of the row in place:
    callers poll, and a message really gone never shows its labels)."""
    with front.client(user, password) as other:
        other.select_folder(ALL_MAIL, readonly=True)
        for data in other.fetch(other.search("ALL"), ["X-GM-MSGID", "X-GM-LABELS"]).values():
            if data[b"X-GM-MSGID"] == msgid:
                return sorted(label.decode() for label in data[b"X-GM-LABELS"])
    return None


def test_all_mail_is_synced_once_with_labels_from_x_gm_labels(gmail, offline_engine) -> None:
    user, password = _mailbox(gmail)
    gmail.add(user, password, samples.plain("Quarterly plan", user), ["\\Inbox", "Work", "Travel"])
    gmail.add(user, password, samples.plain("Lunch?", user, minutes=1), ["\\Inbox"])
    account = offline_engine.add_imap_account(gmail, user, password)
    assert account["organization_unit"] == "label"
    # The message with three labels is four copies on the server (All Mail and three folders).
    with gmail.dovecot.client(user, password) as direct:
        copies = {f: direct.select_folder(f)[b"EXISTS"] for f in ("INBOX", "Work", "Travel")}
    assert copies == {"INBOX": 2, "Work": 1, "Travel": 1}

    offline_engine.cli("sync", account["id"], "--once", "--json")

    with offline_engine.client(account["id"]) as api:
        messages = _by_subject(api)
        assert sorted(messages) == ["Lunch?", "Quarterly plan"]  # no copies as messages
        plan = messages["Quarterly plan"]
        assert _labels(plan) == ["Travel", "Work", "all", "inbox"]
        assert _labels(messages["Lunch?"]) == ["all", "inbox"]
        # Synced from All Mail only: one UID each.
        assert linked_folders(offline_engine, plan["id"]) == [ALL_MAIL]
        work = api.get("/messages", params={"in": "Work"}).json()
        assert [m["subject"] for m in work] == ["Quarterly plan"]
        labels = {label["name"]: label["display_name"] for label in api.get("/labels").json()}
        # Shown without Gmail's "[Gmail]/" prefix; [Gmail]/Starred (\\Flagged) is `starred`.
        assert labels["all"] == "All Mail" and labels["important"] == "Important"
        assert labels["starred"] == "Starred" and labels["sent"] == "Sent Mail"


def test_threads_follow_x_gm_thrid_even_when_subjects_differ(gmail, offline_engine) -> None:
    user, password = _mailbox(gmail)
    first = gmail.add(user, password, samples.plain("Flights", user), ["\\Inbox"])
    # Gmail put this one in the same thread, with another subject and no References.
    gmail.add(user, password, samples.plain("Hotel", user, minutes=1), ["\\Inbox"], first)
    # Same subject and people, which threading by subject would join: Gmail says no.
    gmail.add(user, password, samples.plain("Re: Flights", user, minutes=2), ["\\Inbox"])
    account = offline_engine.add_imap_account(gmail, user, password)
    offline_engine.cli("sync", account["id"], "--once", "--json")

    with offline_engine.client(account["id"]) as api:
        messages = _by_subject(api)
        assert messages["Hotel"]["thread_id"] == messages["Flights"]["thread_id"]
        assert messages["Re: Flights"]["thread_id"] != messages["Flights"]["thread_id"]
        thread = api.get(f"/threads/{messages['Flights']['thread_id']}").json()
        assert sorted(thread["message_ids"]) == sorted(
            [messages["Flights"]["id"], messages["Hotel"]["id"]]
        )


def test_a_label_removed_on_the_server_reaches_the_api(gmail, offline_engine) -> None:
    user, password = _mailbox(gmail)
    msgid = gmail.add(user, password, samples.plain("Offsite", user), ["\\Inbox", "Work"])
    account = offline_engine.add_imap_account(gmail, user, password)
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        assert _labels(_by_subject(api)["Offsite"]) == ["Work", "all", "inbox"]

    # Another Gmail client takes the Work label off and archives (the inbox label off).
    with gmail.client(user, password) as other:
        other.select_folder(ALL_MAIL)
        (uid,) = other.search(["SUBJECT", "Offsite"])
        other.remove_gmail_labels([uid], ["Work", "\\Inbox"])
    assert _server_labels(gmail, user, password, msgid) == []
    offline_engine.cli("sync", account["id"], "--once", "--json")

    with offline_engine.client(account["id"]) as api:
        offsite = _by_subject(api)["Offsite"]
        assert _labels(offsite) == ["all"]
        assert api.get("/messages", params={"in": "Work"}).json() == []


def test_labels_changed_through_the_api_are_stored_as_x_gm_labels(gmail, sync_engine) -> None:
    user, password = _mailbox(gmail)
    msgid = gmail.add(user, password, samples.plain("Receipts", user), ["\\Inbox", "Work"])
    account = sync_engine.add_imap_account(gmail, user, password)
    with sync_engine.client(account["id"]) as api:
        message = eventually(lambda: _by_subject(api).get("Receipts"), "the first sync")
        ids = {label["display_name"]: label["id"] for label in api.get("/labels").json()}

        # Out of Work, into Travel, still in the inbox.
        changed = api.put(
            f"/messages/{message['id']}", json={"label_ids": [ids["Inbox"], ids["Travel"]]}
        )
        assert changed.status_code == 200, changed.text
        eventually(
            lambda: _server_labels(gmail, user, password, msgid) == ["Travel", "\\Inbox"],
            "the labels on the server",
        )
        # As labels on the one message, not as copies between folders.
        with gmail.dovecot.client(user, password) as direct:
            assert direct.select_folder("Travel")[b"EXISTS"] == 0
            assert direct.select_folder("Work")[b"EXISTS"] == 1
        assert linked_folders(sync_engine, message["id"]) == [ALL_MAIL]
        assert _labels(api.get(f"/messages/{message['id']}").json()) == ["Travel", "all", "inbox"]


def test_a_server_without_the_extensions_is_not_asked_for_them(dovecot: Dovecot) -> None:
    from nylas_engine.sync import gmail

    with dovecot.client(*dovecot.new_user()) as plain:
        assert not gmail.offered(plain.capabilities())


def test_an_account_synced_before_as_copies_moves_to_gmail_labels(gmail, offline_engine) -> None:
    # Synced first straight from Dovecot (no X-GM-EXT-1): a UID per label folder.
    user, password = _mailbox(gmail)
    gmail.add(user, password, samples.plain("Budget", user), ["\\Inbox", "Work"])
    account = offline_engine.add_imap_account(gmail.dovecot, user, password, "--labels")
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        budget = _by_subject(api)["Budget"]
    assert linked_folders(offline_engine, budget["id"]) == sorted([ALL_MAIL, "INBOX", "Work"])

    # The same mailbox, now with Gmail's extensions (as after an upgrade of the engine).
    from nylas_engine.store.models import Account

    with offline_engine.db.session() as session:
        stored = session.query(Account).filter_by(public_id=account["id"]).one()
        stored.imap_port = gmail.imap_port
    offline_engine.cli("sync", account["id"], "--once", "--json")
    with offline_engine.client(account["id"]) as api:
        after = _by_subject(api)
        assert list(after) == ["Budget"] and after["Budget"]["id"] == budget["id"]
        assert _labels(after["Budget"]) == ["Work", "all", "inbox"]
    assert linked_folders(offline_engine, budget["id"]) == [ALL_MAIL]


def _server_drafts(front: GmailFront, user: str, password: str) -> list[str]:
    """Subjects of the messages in Gmail's Drafts folder."""
    with front.dovecot.client(user, password) as direct:
        direct.select_folder("[Gmail]/Drafts", readonly=True)
        found = direct.fetch(direct.search("ALL"), ["ENVELOPE"]).values()
        return sorted(data[b"ENVELOPE"].subject.decode() for data in found)


def test_drafts_made_through_the_api_are_kept_once_in_gmails_drafts(gmail, sync_engine) -> None:
    user, password = _mailbox(gmail)
    gmail.add(user, password, samples.plain("Welcome", user), ["\\Inbox"])
    account = sync_engine.add_imap_account(gmail, user, password)
    with sync_engine.client(account["id"]) as api:
        eventually(lambda: _by_subject(api).get("Welcome"), "the first sync")
        made = api.post("/drafts", json={"subject": "Plan", "to": [{"email": "a@example.com"}]})
        assert made.status_code == 200, made.text
        draft = made.json()
        eventually(lambda: _server_drafts(gmail, user, password) == ["Plan"], "the draft saved")

        changed = api.put(
            f"/drafts/{draft['id']}", json={"subject": "Plan B", "version": draft["version"]}
        )
        assert changed.status_code == 200, changed.text
        eventually(lambda: _server_drafts(gmail, user, password) == ["Plan B"], "the update")
        # Later passes (new mail arrives and is synced) leave the one copy alone.
        gmail.add(user, password, samples.plain("Later", user, minutes=1), ["\\Inbox"])
        eventually(lambda: _by_subject(api).get("Later"), "the next pass")
        assert _server_drafts(gmail, user, password) == ["Plan B"]
        drafts = api.get("/drafts").json()
        assert [(d["id"], d["subject"]) for d in drafts] == [(draft["id"], "Plan B")]
        assert "Plan B" not in {m["subject"] for m in api.get("/messages").json()}

        version = drafts[0]["version"]
        gone = api.request("DELETE", f"/drafts/{draft['id']}", json={"version": version})
        assert gone.status_code == 200, gone.text
        eventually(lambda: _server_drafts(gmail, user, password) == [], "the draft removed")


def test_a_gmail_sync_holds_no_database_transaction_while_it_talks_to_the_server(
    gmail, offline_engine, monkeypatch
) -> None:
    """As on any server (test_worker_fetch.py): a Gmail account's passes and the write-back
    of a label change send every IMAP command with no database connection checked out."""
    from test_conflicts import connected_sync
    from test_worker_fetch import _commands_with_a_transaction_open

    from nylas_engine.sync.writeback import WriteBack

    user, password = _mailbox(gmail)
    msgid = gmail.add(user, password, samples.plain("Receipts", user), ["\\Inbox", "Work"])
    account = offline_engine.add_imap_account(gmail, user, password)
    with connected_sync(offline_engine, account) as (ctx, sync, client):
        sent = _commands_with_a_transaction_open(ctx, monkeypatch)
        assert sync.full_pass(client).added == 1
        with offline_engine.client(account["id"]) as api:
            message = _by_subject(api)["Receipts"]
            ids = {label["display_name"]: label["id"] for label in api.get("/labels").json()}
            moved = api.put(
                f"/messages/{message['id']}", json={"label_ids": [ids["Inbox"], ids["Travel"]]}
            )
            assert moved.status_code == 200, moved.text
        WriteBack(ctx, sync.account_id).run(client)
        sync.full_pass(client)
    assert _server_labels(gmail, user, password, msgid) == ["Travel", "\\Inbox"]
    assert {"LIST", "EXAMINE", "UID"} <= {name for name, _ in sent}
    assert [(name, n) for name, n in sent if n] == []
