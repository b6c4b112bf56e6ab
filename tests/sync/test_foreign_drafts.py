"""Drafts another mail client saved in the Drafts folder are API drafts: listed in /drafts
(not /messages), and editing, sending or deleting them through the API replaces or removes
the server copy, as for drafts made through the API."""

from __future__ import annotations

import pytest
import samples
from legacy_sdk import legacy_client
from test_live_sync import _in, _linked, eventually

# Drafts are saved with their version only while nylas-legacy's shared read-only set is as
# it ships (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("pristine_read_only_attrs")


def _drafts_on_server(dovecot, user: str, password: str) -> list[str]:
    """Subjects of everything in the server's Drafts folder."""
    with dovecot.client(user, password) as other:
        other.select_folder("Drafts", readonly=True)
        uids = other.search("ALL")
        fetched = other.fetch(uids, ["ENVELOPE"]) if uids else {}
        return sorted((d[b"ENVELOPE"].subject or b"").decode() for d in fetched.values())


def _seen(dovecot, user: str, password: str, subject: str) -> bool:
    with dovecot.client(user, password) as other:
        other.select_folder("INBOX", readonly=True)
        uids = other.search(["SUBJECT", subject])
        return bool(uids) and b"\\Seen" in other.get_flags(uids)[uids[0]]


def _drafts_uids(dovecot, user: str, password: str) -> list[int]:
    with dovecot.client(user, password) as other:
        other.select_folder("Drafts", readonly=True)
        return sorted(other.search("ALL"))


def _save_draft_elsewhere(dovecot, user: str, password: str, subject: str, to: str) -> int:
    """What Thunderbird & co. do: APPEND the draft to Drafts with \\Draft. Returns its UID."""
    raw = samples.plain(subject, to, sender=f"Me <{user}>", body=f"Draft text of {subject}.\n")
    flags = [b"\\Draft", b"\\Seen"]
    return dovecot.append(user, [raw], folder="Drafts", flags=flags, password=password)[0]


def test_a_draft_saved_elsewhere_is_edited_and_sent_through_the_api(
    dovecot, smtp_relay, sync_engine
):
    user, password = dovecot.new_user()
    bob, bob_password = dovecot.new_user()
    account = sync_engine.add_imap_account(
        dovecot, user, password,
        "--smtp-host", smtp_relay.host, "--smtp-port", str(smtp_relay.port),
    )  # fmt: skip
    client = legacy_client(sync_engine.url, account["id"])
    dovecot.append(user, [samples.plain("Hello", user)])

    with sync_engine.client(account["id"]) as api:
        hello = eventually(lambda: api.get("/messages").json(), "the first sync")[0]
        uid = _save_draft_elsewhere(dovecot, user, password, "Plan from elsewhere", bob)

        draft = eventually(lambda: next(iter(client.drafts.all()), None), "the draft in the API")
        assert draft.subject == "Plan from elsewhere"
        assert [p["email"] for p in draft.to] == [bob]
        assert "Draft text of Plan from elsewhere." in draft.body
        assert draft.object == "draft" and draft.version == 0
        assert [m.subject for m in client.messages.all()] == ["Hello"]  # a draft, not a message
        assert api.get("/messages", params={"in": "drafts"}).json() == []

        # Until it is edited, the engine leaves the other client's copy as it is. (An API
        # change written back shows the engine has compared its drafts with the server since.)
        assert api.put(f"/messages/{hello['id']}", json={"unread": False}).status_code == 200
        eventually(lambda: _seen(dovecot, user, password, "Hello"), "\\Seen written back")
        assert _drafts_uids(dovecot, user, password) == [uid]

        # An edit replaces the server copy: Drafts holds exactly the new version.
        draft.subject = "Plan v2"
        draft.save()
        assert draft.version == 1
        eventually(
            lambda: _drafts_on_server(dovecot, user, password) == ["Plan v2"],
            "the server copy replaced",
        )
        # The new server copy is linked to the draft, not imported as another one.
        eventually(lambda: _linked(sync_engine, draft.id, "Drafts"), "the new copy linked")
        assert [(d.id, d.subject) for d in client.drafts.all()] == [(draft.id, "Plan v2")]

        sent = draft.send()
        assert (sent["id"], sent["subject"]) == (draft.id, "Plan v2")
        eventually(lambda: _drafts_on_server(dovecot, user, password) == [], "the sent draft gone")
        assert _in(dovecot, bob, bob_password, "INBOX", "Plan v2")
        assert client.drafts.all() == []
        in_sent = api.get("/messages", params={"in": "sent"}).json()
        assert [m["id"] for m in in_sent] == [draft.id]


def test_a_draft_deleted_through_the_api_or_by_the_other_client(dovecot, sync_engine):
    user, password = dovecot.new_user()
    account = sync_engine.add_imap_account(dovecot, user, password)
    client = legacy_client(sync_engine.url, account["id"])

    with sync_engine.client(account["id"]) as api:
        eventually(lambda: api.get("/account").json().get("sync_progress"), "the first sync")
        _save_draft_elsewhere(dovecot, user, password, "Discard me here", "ann@example.org")
        _save_draft_elsewhere(dovecot, user, password, "Discard me there", "ann@example.org")
        drafts = eventually(
            lambda: len(found := client.drafts.all()) == 2 and found, "both drafts in the API"
        )
        here = next(d for d in drafts if d.subject == "Discard me here")

        here.delete()
        eventually(
            lambda: _drafts_on_server(dovecot, user, password) == ["Discard me there"],
            "the deleted draft gone from the server",
        )

        # The other client sends or discards its draft: it goes from the API too, and the
        # engine does not put it back on the server.
        with dovecot.client(user, password) as other:
            other.select_folder("Drafts")
            other.delete_messages(other.search(["SUBJECT", "Discard me there"]))
            other.expunge()
        eventually(lambda: client.drafts.all() == [], "the draft discarded elsewhere gone")
        assert _drafts_on_server(dovecot, user, password) == []
