"""Sending (docs/protocol.md §9, §2.2, §2.3) through a real SMTP listener: saved drafts, inline
drafts, raw MIME, what the SMTP server receives, error mapping, partial failure,
idempotent retries and SMTP AUTH."""

from __future__ import annotations

import os
import time
from email.message import EmailMessage

import httpx
import pytest
from mailfactory import Mailbox
from smtp_listener import SmtpListener

from nylas import APIClient
from nylas.client import errors
from nylas.testing import LocalEngine


@pytest.fixture
def api(engine, sender):
    with engine.client(sender["id"]) as client:
        yield client


def upload(api, name: str, data: bytes, ctype: str) -> dict:
    [created] = api.post("/files", files={"file": (name, data, ctype)}).json()
    return created


def test_send_a_saved_draft(api, sender, listener):
    pdf = os.urandom(200_000)
    doc = upload(api, "report.pdf", pdf, "application/pdf")
    logo = upload(api, "logo.png", b"\x89PNG\r\n\x1a\nimage", "image/png")
    draft = api.post(
        "/drafts",
        json={
            "subject": "Quarterly report",
            "body": f'<p>Attached. <img src="cid:{logo["id"]}"></p>',
            "to": [{"name": "Ann Example", "email": "ann@x.com"}],
            "cc": [{"email": "cc@x.com"}],
            "bcc": [{"email": "hidden@x.com"}],
            "file_ids": [doc["id"], logo["id"]],
        },
    ).json()

    cursor = api.post("/delta/latest_cursor").json()["cursor"]
    before = int(time.time())
    response = api.post("/send", json={"draft_id": draft["id"], "version": 0})
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["object"] == "message"
    assert sent["id"] == draft["id"]
    assert sent["unread"] is False
    assert sent["date"] >= before
    assert sent["folder"]["name"] == "sent"
    assert "version" not in sent
    assert sent["bcc"] == [{"name": "", "email": "hidden@x.com"}]

    [received] = listener.messages
    assert received.mail_from == sender["email_address"]
    assert received.rcpt_tos == ["ann@x.com", "cc@x.com", "hidden@x.com"]
    mime = received.message
    assert mime["Subject"] == "Quarterly report"
    assert mime["From"] == f"Test User <{sender['email_address']}>"
    assert mime["To"] == "Ann Example <ann@x.com>"
    assert mime["Cc"] == "cc@x.com"
    assert mime["Bcc"] is None and b"hidden@x.com" not in received.data
    assert mime["User-Agent"].startswith("nylas-engine/")
    attachments = {p.get_filename(): p for p in mime.walk() if p.get_filename()}
    assert attachments["report.pdf"].get_content() == pdf
    assert attachments["report.pdf"].get_content_disposition() == "attachment"
    assert attachments["logo.png"].get_content_disposition() == "inline"
    assert attachments["logo.png"]["Content-Id"] == f"<{logo['id']}>"
    assert attachments["logo.png"].get_content() == b"\x89PNG\r\n\x1a\nimage"
    html = mime.get_body(("html",)).get_content()
    assert f"cid:{logo['id']}" in html

    expanded = api.get(f"/messages/{sent['id']}", params={"view": "expanded"}).json()
    assert expanded["headers"]["Message-Id"] == mime["Message-Id"]
    raw = api.get(f"/messages/{sent['id']}", headers={"Accept": "message/rfc822"})
    assert raw.headers["content-type"].startswith("message/rfc822")
    assert raw.content == received.data

    assert api.get("/drafts").json() == []
    assert [m["id"] for m in api.get("/messages", params={"in": "sent"}).json()] == [sent["id"]]
    thread = api.get(f"/threads/{sent['thread_id']}").json()
    assert (thread["message_ids"], thread["draft_ids"]) == ([sent["id"]], [])
    assert thread["last_message_sent_timestamp"] == sent["date"]

    # Delta readers see the draft go away and a message with the same id appear.
    deltas = api.get("/delta", params={"cursor": cursor}).json()["deltas"]
    mine = [(d["object"], d["event"]) for d in deltas if d["id"] == sent["id"]]
    assert ("draft", "delete") in mine and ("message", "create") in mine

    again = api.post("/send", json={"draft_id": draft["id"], "version": 0})
    assert again.status_code == 400
    assert again.json()["message"] == f"Message {draft['id']} is not a draft"
    assert len(listener.messages) == 1


def test_saved_draft_version_checks(api, listener):
    draft = api.post("/drafts", json={"to": [{"email": "a@x.com"}]}).json()
    cases = [
        ({"draft_id": draft["id"]}, 400, "Must specify draft version"),
        ({"draft_id": draft["id"], "version": "x"}, 400, "Invalid draft version"),
        (
            {"draft_id": draft["id"], "version": 2},
            409,
            f"Draft {draft['id']}.2 has already been updated to version 0",
        ),
        ({"draft_id": "nosuchdraft", "version": 0}, 404, "Couldn't find draft nosuchdraft"),
    ]
    for body, status, message in cases:
        response = api.post("/send", json=body)
        assert (response.status_code, response.json()["message"]) == (status, message)
    assert listener.messages == []
    assert api.get(f"/drafts/{draft['id']}").json()["object"] == "draft"


def test_send_inline_keeps_no_draft(api, listener):
    doc = upload(api, "notes.txt", b"some notes\n", "text/plain")
    response = api.post(
        "/send",
        json={
            "subject": "Direct",
            "body": "<p>Sent directly</p>",
            "to": [{"email": "ann@x.com"}],
            "file_ids": [doc["id"]],
            "tracking": {"opens": True, "links": True, "thread_replies": True, "payload": "p"},
            "draft_id": None,  # whole-object senders may include empty keys
            "version": None,
        },
    )
    assert response.status_code == 200, response.text
    sent = response.json()
    assert (sent["object"], sent["subject"], sent["snippet"]) == (
        "message",
        "Direct",
        "Sent directly",
    )
    assert [f["id"] for f in sent["files"]] == [doc["id"]]
    assert api.get("/drafts").json() == []
    assert api.get(f"/messages/{sent['id']}").json()["object"] == "message"
    [received] = listener.messages
    [part] = [p for p in received.message.walk() if p.get_filename() == "notes.txt"]
    assert part.get_content() == "some notes\n"
    assert received.message.get_body(("plain",)).get_content().strip() == "Sent directly"


def test_reply_sets_in_reply_to_and_references(engine, api, sender, listener):
    first = Mailbox(engine, sender).add("Question", from_="Ann <ann@x.com>")
    response = api.post(
        "/send",
        json={"reply_to_message_id": first["id"], "to": [{"email": "ann@x.com"}], "body": "A."},
    )
    assert response.status_code == 200, response.text
    sent = response.json()
    assert sent["thread_id"] == first["thread_id"]
    mime = listener.messages[0].message
    assert mime["In-Reply-To"] == first["message_id_header"]
    assert mime["References"] == first["message_id_header"]
    assert mime["Subject"] == "Question"
    thread = api.get(f"/threads/{first['thread_id']}").json()
    assert thread["message_ids"] == [first["id"], sent["id"]]


def test_send_raw_mime(api, sender, listener):
    mime = EmailMessage()
    mime["From"] = f"Me <{sender['email_address']}>"
    mime["To"] = "ann@x.com"
    mime["Bcc"] = "secret@x.com"
    mime["Subject"] = "Raw hello"
    mime.set_content("Raw body\n")
    response = api.post(
        "/send", content=mime.as_bytes(), headers={"Content-Type": "message/rfc822"}
    )
    assert response.status_code == 200, response.text
    sent = response.json()
    assert (sent["object"], sent["subject"], sent["unread"]) == ("message", "Raw hello", False)
    assert sent["bcc"] == [{"name": "", "email": "secret@x.com"}]
    assert sent["folder"]["name"] == "sent"

    [received] = listener.messages
    assert sorted(received.rcpt_tos) == ["ann@x.com", "secret@x.com"]
    assert received.message["Bcc"] is None and b"secret@x.com" not in received.data
    assert received.message["Message-Id"]
    assert received.message["User-Agent"].startswith("nylas-engine/")
    raw = api.get(f"/messages/{sent['id']}", headers={"Accept": "message/rfc822"}).content
    assert raw == received.data

    two_froms = b"From: a@x.com\r\nFrom: b@x.com\r\nTo: c@x.com\r\nSubject: x\r\n\r\nbody\r\n"
    bad = api.post("/send", content=two_froms, headers={"Content-Type": "message/rfc822"})
    assert bad.status_code == 400
    assert len(listener.messages) == 1


def test_recipient_checks(api, listener):
    none = api.post("/send", json={"subject": "nobody", "to": []})
    assert (none.status_code, none.json()["message"]) == (400, "No recipients specified")
    invalid = api.post("/send", json={"to": [{"email": "not-an-address"}]})
    assert invalid.status_code == 400
    assert invalid.json()["message"] == "Invalid recipient address not-an-address"
    empty = api.post("/send", json={})
    assert empty.status_code == 400
    draft = api.post("/drafts", json={"subject": "no one"}).json()
    saved = api.post("/send", json={"draft_id": draft["id"], "version": 0})
    assert (saved.status_code, saved.json()["message"]) == (400, "No recipients specified")
    assert listener.messages == []


def test_account_without_smtp_settings_gets_a_400_saying_how_to_configure_one(engine):
    """Not a 503: no retry can help, so the SDK must not retry it (it retries 503s)."""
    account = engine.new_account()
    with engine.client(account["id"]) as client:
        response = client.post("/send", json={"to": [{"email": "a@x.com"}]})
        draft = client.post("/drafts", json={"to": [{"email": "a@x.com"}]}).json()
        saved = client.post("/send", json={"draft_id": draft["id"], "version": 0})
        raw = client.post(
            "/send",
            content=b"To: a@x.com\r\nSubject: raw\r\n\r\nHi\r\n",
            headers={"Content-Type": "message/rfc822"},
        )
    for reply in (response, saved, raw):
        assert reply.status_code == 400, reply.text
        assert reply.json()["type"] == "invalid_request_error"
        message = reply.json()["message"]
        assert message.startswith("This account has no SMTP server configured")
        assert f"nylas-engine accounts add --email {account['email_address']}" in message
        assert "--smtp-host" in message

    sdk = APIClient(None, None, account["id"], engine.url)
    with pytest.raises(errors.InvalidRequestError, match="no SMTP server configured"):
        sdk.drafts.create(to=[{"email": "a@x.com"}], subject="s").send()


@pytest.mark.parametrize(
    ("mode", "status", "message", "server_error"),
    [
        (
            "reject_rcpt",
            402,
            "Sending to all recipients failed",
            "550 : 5.1.1 The email account that you tried to reach does not exist.",
        ),
        ("too_large", 402, "Message too large.", "552 : 5.3.4 Message size exceeds fixed limit"),
        (
            "throttle",
            429,
            "Connection throttled by the provider. Try again later.",
            "421 : 4.7.0 Try again later, closing connection.",
        ),
        ("disconnect", 503, "The server unexpectedly closed the connection", None),
    ],
)
def test_smtp_errors_are_mapped(engine, mode, status, message, server_error):
    with SmtpListener(mode) as failing:
        account = engine.new_account(**failing.account_fields())
        with engine.client(account["id"]) as client:
            draft = client.post("/drafts", json={"to": [{"email": "a@x.com"}]}).json()
            response = client.post("/send", json={"draft_id": draft["id"], "version": 0})
            assert response.status_code == status
            body = response.json()
            assert (body["type"], body["message"]) == ("api_error", message)
            if server_error is not None:
                assert body["server_error"] == server_error
            # Nothing went out, so the draft is still a draft, unchanged, and can be retried.
            again = client.get(f"/drafts/{draft['id']}").json()
            assert (again["object"], again["version"]) == ("draft", 0)
            assert client.get("/messages", params={"in": "sent"}).json() == []
        assert failing.messages == []


def test_unreachable_server_is_503(engine):
    from nylas.testing import free_port

    account = engine.new_account(smtp_host="127.0.0.1", smtp_port=free_port())
    with engine.client(account["id"]) as client:
        response = client.post("/send", json={"to": [{"email": "a@x.com"}]})
    assert response.status_code == 503
    assert response.json()["message"] == "Could not connect to the SMTP server."
    assert response.json()["server_error"]


def test_partial_failure_is_200_with_failures(engine):
    with SmtpListener("reject_some") as picky:
        account = engine.new_account(**picky.account_fields())
        with engine.client(account["id"]) as client:
            response = client.post(
                "/send",
                json={"to": [{"email": "good@x.com"}, {"email": "bad@x.com"}], "subject": "Hi"},
            )
            assert response.status_code == 200
            assert response.json() == {
                "type": "api_error",
                "message": "Sending to at least one recipent failed",
                "failures": {
                    "bad@x.com": [
                        550,
                        "5.1.1 The email account that you tried to reach does not exist.",
                    ]
                },
            }
            # It did go out (to good@x.com), so it is filed as sent.
            [sent] = client.get("/messages", params={"in": "sent"}).json()
            assert sent["subject"] == "Hi"
        [received] = picky.messages
        assert received.rcpt_tos == ["good@x.com"]


def test_retried_send_with_the_same_idempotency_key_delivers_once(api, listener):
    body = {"to": [{"email": "ann@x.com"}], "subject": "Only once"}
    headers = {"Idempotency-Key": "send-once-123"}
    first = api.post("/send", json=body, headers=headers)
    second = api.post("/send", json=body, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers.get("idempotent-replayed") == "true"
    assert len(listener.messages) == 1
    assert len(api.get("/messages", params={"in": "sent"}).json()) == 1
    other = api.post("/send", json=body, headers={"Idempotency-Key": "another-key"})
    assert other.status_code == 200 and other.json()["id"] != first.json()["id"]
    assert len(listener.messages) == 2


def test_label_accounts_file_sent_mail_under_the_sent_label(engine, listener):
    account = engine.new_account(organization_unit="label", **listener.account_fields())
    with engine.client(account["id"]) as client:
        draft = client.post("/drafts", json={"to": [{"email": "a@x.com"}]}).json()
        assert [label["name"] for label in draft["labels"]] == ["drafts"]
        sent = client.post("/send", json={"draft_id": draft["id"], "version": 0}).json()
        assert {label["name"] for label in sent["labels"]} == {"sent", "all"}


def test_another_accounts_draft_cannot_be_sent(engine, api, listener):
    draft = api.post("/drafts", json={"to": [{"email": "a@x.com"}]}).json()
    other = engine.new_account(**listener.account_fields())
    with engine.client(other["id"]) as theirs:
        response = theirs.post("/send", json={"draft_id": draft["id"], "version": 0})
        assert response.status_code == 404
    assert listener.messages == []


# --------------------------------------------------------------------------- SMTP AUTH


@pytest.fixture(scope="module")
def auth_engine(tmp_path_factory):
    """An engine whose environment holds an SMTP password an account can name."""
    engine = LocalEngine(
        tmp_path_factory.mktemp("smtp-auth"), env={"NYLAS_SMTP_PASSWORD_TEST": "s3cret"}
    )
    engine.start()
    yield engine
    engine.close()


def _account_with_login(engine: LocalEngine, listener: SmtpListener, username: str) -> str:
    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.db import Database

    db = Database(f"sqlite:///{engine.data_dir / 'engine.db'}", run_migrations=False)
    with db.session() as session:
        account = create_account(
            session,
            f"{username}@example.com",
            smtp_username=username,
            metadata_={"smtp_password_env": "NYLAS_SMTP_PASSWORD_TEST"},
            **listener.account_fields(),
        )
        token = account.public_id
    db.engine.dispose()
    return token


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_smtp_auth_success_and_failure(auth_engine):
    with SmtpListener(auth=("alice", "s3cret")) as guarded:
        ok = _account_with_login(auth_engine, guarded, "alice")
        wrong = _account_with_login(auth_engine, guarded, "mallory")
        body = {"to": [{"email": "a@x.com"}], "subject": "Authenticated"}
        with httpx.Client(base_url=auth_engine.url, auth=(ok, ""), timeout=30) as client:
            assert client.post("/send", json=body).status_code == 200
        with httpx.Client(base_url=auth_engine.url, auth=(wrong, ""), timeout=30) as client:
            refused = client.post("/send", json=body)
        assert refused.status_code == 403
        assert refused.json()["message"] == "Could not authenticate with the SMTP server."
        assert refused.json()["server_error"].startswith("535 : ")
        assert [m.message["Subject"] for m in guarded.messages] == ["Authenticated"]


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
def test_stored_smtp_password_is_used(engine):
    from sqlalchemy import select

    from nylas_engine.store.credentials import MailCredentials, Vault
    from nylas_engine.store.models import Account

    with SmtpListener(auth=("carol", "smtp-pass")) as guarded:
        account = engine.new_account(smtp_username="carol", **guarded.account_fields())
        sealed = Vault.for_data_dir(engine.data_dir).seal(
            MailCredentials(imap_password="imap-pass", smtp_password="smtp-pass")
        )
        with engine.db.session() as session:
            row = session.scalar(select(Account).where(Account.public_id == account["id"]))
            row.credentials = sealed
        with engine.client(account["id"]) as client:
            response = client.post("/send", json={"to": [{"email": "a@x.com"}], "subject": "S"})
        assert response.status_code == 200, response.text
        assert [m.message["Subject"] for m in guarded.messages] == ["S"]
