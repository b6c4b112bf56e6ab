"""Seed README 1.11 (drafts: attach, send, errors, delete) and 1.12 (tracking), against the live
engine sending through a real SMTP listener; sync then async."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from smtp_listener import SmtpListener
from test_events import add_invite

import nylas
from nylas import APIClient, AsyncAPIClient
from nylas.testing import free_port


@pytest.fixture
def listener() -> Iterator[SmtpListener]:
    with SmtpListener() as smtp:
        yield smtp


def sender_client(engine: Any, **smtp: Any) -> APIClient:
    account = engine.new_account(**smtp)
    return APIClient(None, None, account["id"], engine.url)


def test_1_11_draft_attach_and_send(engine: Any, listener: SmtpListener, capsys: Any) -> None:
    client = sender_client(engine, **listener.account_fields())

    # Create the attachment
    myfile = client.files.create()
    myfile.filename = "test.txt"
    myfile.data = "hello world"

    # Create a new draft
    draft = client.drafts.create()
    draft.to = [{"name": "My Friend", "email": "my.friend@example.com"}]
    draft.subject = "Here's an attachment"
    draft.body = "Cheers mate!"
    draft.attach(myfile)
    assert myfile.id and draft.file_ids == [myfile.id]  # uploaded on attach

    # Send it
    try:
        sent = draft.send()
    except nylas.client.errors.ConnectionError:
        print("Unable to connect to the SMTP server.")
        raise
    except nylas.client.errors.MessageRejectedError as e:
        print("Message got rejected by the SMTP server!")
        print(e.message)
        print(e.server_error)
        raise

    assert isinstance(sent, nylas.models.Message) and sent.object == "message"
    assert sent.subject == "Here's an attachment"
    assert [f["filename"] for f in sent.files or []] == ["test.txt"]
    [received] = listener.messages
    assert received.rcpt_tos == ["my.friend@example.com"]
    parts = [p.get_filename() for p in received.message.iter_attachments()]
    assert parts == ["test.txt"]
    assert client.messages.find(sent.id or "").subject == "Here's an attachment"


def test_1_11_rejected_message(engine: Any, capsys: Any) -> None:
    with SmtpListener("reject_rcpt") as smtp:
        client = sender_client(engine, **smtp.account_fields())
        draft = client.drafts.create()
        draft.to = [{"name": "My Friend", "email": "my.friend@example.com"}]
        draft.subject = "Bounces"
        draft.body = "x"
        try:
            draft.send()
        except nylas.client.errors.ConnectionError:
            print("Unable to connect to the SMTP server.")
        except nylas.client.errors.MessageRejectedError as e:
            print("Message got rejected by the SMTP server!")
            print(e.message)
            print(e.server_error)
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "Message got rejected by the SMTP server!"
    assert out[1] and "550" in out[2]


def test_1_11_smtp_unreachable_is_a_connection_error(engine: Any, capsys: Any) -> None:
    client = sender_client(engine, smtp_host="127.0.0.1", smtp_port=free_port())
    draft = client.drafts.create()
    draft.to = [{"name": "My Friend", "email": "my.friend@example.com"}]
    draft.subject = "Nowhere to go"
    draft.save()
    try:
        draft.send()
    except nylas.client.errors.ConnectionError:
        print("Unable to connect to the SMTP server.")
    except nylas.client.errors.MessageRejectedError:
        print("Message got rejected by the SMTP server!")
    assert capsys.readouterr().out == "Unable to connect to the SMTP server.\n"


def test_1_11_delete_a_draft(client: APIClient) -> None:
    # Delete a draft
    draft = client.drafts.create()
    draft.subject = "Delete me"
    draft.save()
    assert draft.id and draft.version == 0
    draft.body = "I really mean it."
    draft.save()  # the second save is a PUT with the version
    assert draft.version == 1 and client.drafts.find(draft.id).body == "I really mean it."
    draft.delete()
    assert client.drafts.all() == []

    # or:
    draft = client.drafts.create(subject="Delete me too")
    draft.save()
    client.drafts.delete(draft.id or "", {"version": draft.version})
    assert client.drafts.count() == 0


def test_draft_version_conflict(client: APIClient) -> None:
    draft = client.drafts.create(subject="v0")
    draft.save()
    stale = client.drafts.find(draft.id or "")
    draft.subject = "v1"
    draft.save()
    stale.subject = "stale"
    with pytest.raises(nylas.client.errors.ConflictError):
        stale.save()


def test_1_12_message_tracking(engine: Any, listener: SmtpListener) -> None:
    client = sender_client(engine, **listener.account_fields())
    # Send a message with tracking enabled
    draft = client.drafts.create()
    draft.to = [{"name": "Python SDK open tracking test", "email": "inboxapptest415@gmail.com"}]
    draft.subject = "Python SDK open tracking test"
    draft.body = "Stay polish, stay hungary"
    draft.tracking = {
        "links": "false",
        "opens": "true",
        "thread_replies": "true",
        "payload": "python sdk open tracking test",
    }
    sent = draft.send()
    assert sent.subject == "Python SDK open tracking test"
    assert [m.rcpt_tos for m in listener.messages] == [["inboxapptest415@gmail.com"]]


def test_send_raw_and_reply(engine: Any, listener: SmtpListener) -> None:
    client = sender_client(engine, **listener.account_fields())
    mime = "From: me@example.com\r\nTo: you@example.com\r\nSubject: Raw hello\r\n\r\nHi there\r\n"
    sent = client.drafts.create().send_raw(mime)
    assert sent.subject == "Raw hello" and sent.object == "message"
    reply = sent.create_reply()
    reply.body = "And back"
    reply.save()
    assert reply.reply_to_message_id == sent.id and reply.thread_id == sent.thread_id
    assert reply.subject == "Re: Raw hello"
    assert [d.id for d in client.threads.find(sent.thread_id or "").drafts] == [reply.id]


@pytest.mark.anyio
async def test_1_11_and_1_12_async(engine: Any, listener: SmtpListener) -> None:
    account = engine.new_account(**listener.account_fields())
    async with AsyncAPIClient(None, None, account["id"], engine.url) as client:
        myfile = client.files.create()
        myfile.filename = "test.txt"
        myfile.data = "hello world"
        draft = client.drafts.create()
        draft.to = [{"name": "My Friend", "email": "my.friend@example.com"}]
        draft.subject = "Here's an attachment"
        draft.body = "Cheers mate!"
        draft.tracking = {"links": "false", "opens": "true", "payload": "p"}
        await draft.attach(myfile)
        sent = await draft.send()
        assert sent.object == "message" and [f["filename"] for f in sent.files or []] == [
            "test.txt"
        ]
        assert len(listener.messages) == 1

        doomed = client.drafts.create()
        doomed.subject = "Delete me"
        await doomed.save()
        doomed.body = "I really mean it."
        await doomed.save()
        await doomed.delete()
        assert await client.drafts.count() == 0


def add_invitation(engine: Any, account: dict[str, Any]) -> str:
    """An event that came with an emailed invitation, as the engine tests make one."""
    return add_invite(
        engine.db,
        account["id"],
        participants=[
            {"email": "olga@example.org", "status": "yes"},
            {"email": account["email_address"], "name": "Me", "status": "noreply"},
        ],
    )


def test_event_rsvp(engine: Any, listener: SmtpListener) -> None:
    account = engine.new_account(**listener.account_fields())
    event_id = add_invitation(engine, account)
    client = APIClient(None, None, account["id"], engine.url)
    event = client.events.find(event_id)
    answered = event.rsvp("yes", "Gladly")
    assert answered is event
    me = next(p for p in event.participants or [] if p["email"] == account["email_address"])
    assert me["status"] == "yes" and me["comment"] == "Gladly"
    assert client.events.find(event_id).participants == event.participants
    assert [m.rcpt_tos for m in listener.messages] == [["olga@example.org"]]
