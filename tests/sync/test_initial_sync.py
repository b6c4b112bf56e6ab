"""Connecting a Dovecot mailbox with the CLI and syncing it once: what a user reads afterwards."""

from __future__ import annotations

import json

import pytest
import samples
from legacy_sdk import legacy_client


@pytest.fixture
def filled(dovecot, mailbox):
    """A mailbox with varied real-world MIME across Inbox, Sent and Archive."""
    user, password = mailbox
    first = samples.plain("Lunch on Friday?", user, minutes=0, message_id="<lunch@example.org>")
    reply = samples.plain(
        "Re: Lunch on Friday?",
        user,
        sender=f"Me <{user}>",
        minutes=10,
        in_reply_to="<lunch@example.org>",
    )
    dovecot.append(user, [first], flags=[b"\\Seen"])
    dovecot.append(user, [samples.alternative("Newsletter", user, minutes=20)])
    dovecot.append(
        user,
        [samples.with_attachment_and_inline_image("Q2 report", user, 30)],
        flags=[b"\\Flagged"],
    )
    dovecot.append(user, [samples.latin1(user, 40), samples.malformed(user)])
    dovecot.append(user, [reply], folder="Sent", flags=[b"\\Seen"])
    dovecot.append(user, [samples.plain("Old invoice", user, minutes=-600)], folder="Archive")
    return user, password


def _by_subject(api, **params):
    return {m["subject"]: m for m in api.get("/messages", params={"limit": 100, **params}).json()}


def test_accounts_add_then_sync_once(dovecot, filled, offline_engine):
    user, password = filled
    account = offline_engine.add_imap_account(dovecot, user, password)
    assert account["email_address"] == user

    out = offline_engine.cli("sync", account["id"], "--once", "--json")
    assert json.loads(out.splitlines()[-1])["added"] == 7

    with offline_engine.client(account["id"]) as api:
        inbox = _by_subject(api, **{"in": "inbox"})
        assert set(inbox) == {
            "Lunch on Friday?",
            "Newsletter",
            "Q2 report",
            "Café crème",
            "Malformed headers",
        }
        assert inbox["Lunch on Friday?"]["unread"] is False
        assert inbox["Newsletter"]["unread"] is True
        assert inbox["Q2 report"]["starred"] is True
        assert inbox["Q2 report"]["cc"] == [{"name": "Dan", "email": "dan@example.org"}]
        assert inbox["Café crème"]["from"][0]["name"] == "François"

        full = api.get(f"/messages/{inbox['Café crème']['id']}").json()
        assert "très crème" in full["body"]
        html = api.get(f"/messages/{inbox['Newsletter']['id']}").json()["body"]
        assert "<h1>Newsletter</h1>" in html
        assert (
            "Still readable body."
            in api.get(f"/messages/{inbox['Malformed headers']['id']}").json()["body"]
        )

        files = {f["filename"]: f for f in inbox["Q2 report"]["files"]}
        assert "report.pdf" in files
        pdf = api.get(f"/files/{files['report.pdf']['id']}/download")
        assert pdf.content == b"%PDF-1.4\n% a tiny pdf\n"
        assert any(f.get("content_id") for f in inbox["Q2 report"]["files"])  # the inline logo

        sent = _by_subject(api, **{"in": "sent"})
        assert list(sent) == ["Re: Lunch on Friday?"]
        assert sent["Re: Lunch on Friday?"]["thread_id"] == inbox["Lunch on Friday?"]["thread_id"]
        assert list(_by_subject(api, **{"in": "archive"})) == ["Old invoice"]

        folders = {f["name"]: f for f in api.get("/folders").json()}
        assert {"inbox", "sent", "drafts", "trash", "spam", "archive"} <= set(folders)

        me = api.get("/account").json()
        assert me["sync_state"] == "running"
        progress = me["sync_progress"]
        assert progress["messages_synced"] == progress["messages_total"] == 7
        assert progress["folders_done"] == progress["folders_total"]
        assert "password" not in json.dumps(api.get("/account?view=expanded").json()).lower()

    # A second pass finds nothing new and stores nothing twice.
    again = json.loads(offline_engine.cli("sync", account["id"], "--once", "--json"))
    assert again == {"account": user, "added": 0, "updated": 0, "removed": 0}
    with offline_engine.client(account["id"]) as api:
        assert api.get("/messages", params={"view": "count"}).json()["count"] == 7


def test_official_sdk_reads_the_synced_mailbox(dovecot, filled, offline_engine):
    user, password = filled
    account = offline_engine.add_imap_account(dovecot, user, password)
    offline_engine.cli("sync", account["id"], "--once", "--json")

    client = legacy_client(offline_engine.url, account["id"])
    assert client.account.email_address == user
    assert client.account.sync_state == "running"
    subjects = sorted(m.subject for m in client.messages.all())
    assert subjects == sorted(
        ["Lunch on Friday?", "Re: Lunch on Friday?", "Newsletter", "Q2 report", "Café crème",
         "Malformed headers", "Old invoice"]
    )  # fmt: skip
    report = client.messages.where(subject="Q2 report").first()
    assert report.starred is True
    assert report.folder.name == "inbox"
    assert [p["email"] for p in report.from_] == ["carol@example.org"]
    pdf = next(f for f in report.files if f["filename"] == "report.pdf")
    assert client.files.get(pdf["id"]).download() == b"%PDF-1.4\n% a tiny pdf\n"
    lunch = client.threads.where(subject="Lunch on Friday?").first()
    assert len(lunch.message_ids) == 2
    folders = {f.name: f.display_name for f in client.folders.all()}
    assert folders["sent"] == "Sent" and folders["archive"] == "Archive"


def test_wrong_password_is_refused_before_the_account_exists(dovecot, mailbox, offline_engine):
    user, _ = mailbox
    with pytest.raises(RuntimeError) as failure:
        offline_engine.add_imap_account(dovecot, user, "not-the-password")
    assert "refused the login" in str(failure.value)
    accounts = json.loads(offline_engine.cli("accounts", "list", "--json"))
    assert user not in {a["email_address"] for a in accounts}


def test_unreachable_server_is_a_clear_error(offline_engine, tmp_path, monkeypatch):
    from nylas.testing import free_port

    monkeypatch.setenv("PW", "x")
    with pytest.raises(RuntimeError) as failure:
        offline_engine.cli(
            "accounts", "add", "--email", "nobody@example.com", "--imap-host", "127.0.0.1",
            "--imap-port", str(free_port()), "--plain", "--password-env", "PW",
        )  # fmt: skip
    assert "cannot connect to the IMAP server 127.0.0.1" in str(failure.value)
    assert "connection refused" in str(failure.value)
