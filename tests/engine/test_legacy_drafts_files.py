"""The official nylas-legacy 5.15 client driving files, drafts and sending against the live
engine; results are checked against what the engine stored and what the SMTP server got."""

from __future__ import annotations

import io
import os
from email.message import EmailMessage

import pytest
from legacy_sdk import legacy_client
from nylas_legacy.client.errors import MessageRejectedError, NylasApiError
from smtp_listener import SmtpListener

# Drafts are saved with their version only while nylas-legacy's shared read-only set is as
# it ships (see the fixture in conftest.py).
pytestmark = pytest.mark.usefixtures("pristine_read_only_attrs")


@pytest.fixture
def client(engine, sender):
    return legacy_client(engine.url, sender["id"])


@pytest.fixture
def api(engine, sender):
    with engine.client(sender["id"]) as http:
        yield http


def test_file_upload_download_find_delete(client, api):
    text = client.files.create()
    text.filename = "notes.txt"
    text.data = "hello from the old client"
    text.save()
    assert text.id and text.size == len(text.data)
    assert api.get(f"/files/{text.id}").json()["filename"] == "notes.txt"
    assert text.download() == b"hello from the old client"

    payload = os.urandom(300_000)
    binary = client.files.create()
    binary.filename = "blob.bin"
    binary.content_type = "application/octet-stream"
    binary.stream = io.BytesIO(payload)
    binary.save()
    assert binary.download() == payload
    assert api.get(f"/files/{binary.id}").json()["content_type"] == "application/octet-stream"

    found = client.files.get(binary.id)
    assert (found.filename, found.size) == ("blob.bin", len(payload))
    assert [f.id for f in client.files.where(filename="notes.txt")] == [text.id]
    client.files.delete(text.id)
    assert api.get(f"/files/{text.id}").status_code == 404
    assert [f.id for f in client.files.all()] == [binary.id]


def test_draft_create_attach_save_update_send(client, api, sender, listener):
    attachment = client.files.create()
    attachment.filename = "agenda.txt"
    attachment.data = "1. coffee\n2. plans\n"
    attachment.save()

    draft = client.drafts.create()
    draft.subject = "Meeting"
    draft.to = [{"name": "Ann", "email": "ann@x.com"}]
    draft.bcc = [{"email": "boss@x.com"}]
    draft.body = "<p>See the agenda.</p>"
    draft.attach(attachment)
    draft.save()
    assert draft.id and draft.version == 0
    stored = api.get(f"/drafts/{draft.id}").json()
    assert [f["id"] for f in stored["files"]] == [attachment.id]

    # The client sends the whole object back on update, including what it read.
    draft.subject = "Meeting moved"
    draft.save()
    assert draft.version == 1
    stored = api.get(f"/drafts/{draft.id}").json()
    assert (stored["subject"], stored["version"]) == ("Meeting moved", 1)
    assert [f["id"] for f in stored["files"]] == [attachment.id]
    assert [d.id for d in client.drafts.where(subject="Meeting moved")] == [draft.id]

    sent = draft.send()
    assert (sent["id"], sent["object"], sent["subject"]) == (draft.id, "message", "Meeting moved")
    assert api.get("/drafts").json() == []
    assert client.messages.get(draft.id).subject == "Meeting moved"

    [received] = listener.messages
    assert received.rcpt_tos == ["ann@x.com", "boss@x.com"]
    assert received.message["Subject"] == "Meeting moved"
    assert received.message["Bcc"] is None
    [part] = [p for p in received.message.walk() if p.get_filename() == "agenda.txt"]
    assert part.get_content() == "1. coffee\n2. plans\n"


def test_stale_version_is_a_conflict(client, api):
    draft = client.drafts.create()
    draft.subject = "v0"
    draft.save()
    api.put(f"/drafts/{draft.id}", json={"version": 0, "subject": "changed elsewhere"})
    draft.subject = "mine"
    with pytest.raises(NylasApiError) as raised:
        draft.save()
    assert raised.value.response.status_code == 409
    assert api.get(f"/drafts/{draft.id}").json()["subject"] == "changed elsewhere"


def test_draft_delete_both_ways(client, api):
    first = client.drafts.create()
    first.subject = "one"
    first.save()
    first.delete()
    assert api.get(f"/drafts/{first.id}").status_code == 404

    second = client.drafts.create()
    second.subject = "two"
    second.save()
    client.drafts.delete(second.id, {"version": second.version})
    assert api.get("/drafts").json() == []


def test_send_without_saving_and_send_raw(client, api, sender, listener):
    draft = client.drafts.create()
    draft.to = [{"email": "ann@x.com"}]
    draft.subject = "Unsaved"
    draft.body = "<p>Straight out</p>"
    sent = draft.send()
    assert (sent["object"], sent["subject"]) == ("message", "Unsaved")
    assert api.get("/drafts").json() == []

    mime = EmailMessage()
    mime["From"] = sender["email_address"]
    mime["To"] = "bob@x.com"
    mime["Subject"] = "Raw via the old client"
    mime.set_content("raw body")
    raw_sent = client.drafts.create().send_raw(mime.as_string())
    assert raw_sent["subject"] == "Raw via the old client"
    assert [m.message["Subject"] for m in listener.messages] == [
        "Unsaved",
        "Raw via the old client",
    ]
    sent_ids = {m["id"] for m in api.get("/messages", params={"in": "sent"}).json()}
    assert sent_ids == {sent["id"], raw_sent["id"]}


def test_rejected_send_raises_message_rejected(engine):
    with SmtpListener("reject_rcpt") as failing:
        account = engine.new_account(**failing.account_fields())
        client = legacy_client(engine.url, account["id"])
        draft = client.drafts.create()
        draft.to = [{"email": "nobody@x.com"}]
        draft.save()
        with pytest.raises(MessageRejectedError) as raised:
            draft.send()
        response = raised.value.args[0]  # the 5.x client keeps the raw response here
        assert response.status_code == 402
        assert response.json()["server_error"].startswith("550 : 5.1.1")
        assert client.drafts.get(draft.id).version == 0
