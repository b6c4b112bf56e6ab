"""Access-token scopes (docs/protocol.md §16.1): a token reaches only what its scopes allow."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mailfactory import Mailbox
from smtp_listener import SmtpListener
from sqlalchemy import select

from nylas import APIClient
from nylas.client.errors import NotAuthorizedError
from nylas_engine.api.app import create_app
from nylas_engine.scopes import required_permission
from nylas_engine.store.auth import issue_token
from nylas_engine.store.models import Account


def issue(engine: Any, account: dict[str, Any], scopes: str) -> str:
    """A token for `account` with `scopes`, issued the way /oauth/token issues one."""
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        return issue_token(session, owner, None, scopes)


@pytest.fixture
def mail(engine, account) -> dict[str, Any]:
    """One received message in `account`."""
    return Mailbox(engine, account).add("Quarterly numbers")


def client(engine: Any, token: str) -> httpx.Client:
    return httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {token}"})


def test_calendar_token_reads_events_but_not_mail(engine, account, mail):
    with client(engine, issue(engine, account, "calendar")) as api:
        assert api.get("/events").status_code == 200
        assert api.get("/calendars").status_code == 200
        created = api.post(
            "/events",
            json={
                "calendar_id": api.get("/calendars").json()[0]["id"],
                "title": "Standup",
                "when": {"start_time": 1_700_000_000, "end_time": 1_700_001_800},
            },
        )
        assert created.status_code == 200, created.text
        assert api.get("/account").json()["id"] == account["id"]

        for path in ("/messages", "/threads", f"/messages/{mail['id']}", "/drafts", "/folders"):
            refused = api.get(path)
            assert refused.status_code == 403, path
            body = refused.json()
            assert body["type"] == "invalid_request_error"
            assert f"GET {path}" in body["message"]
            assert "email.read_only" in body["message"]
            assert "(calendar)" in body["message"]
        assert api.get("/contacts").status_code == 403
        assert "contacts.read_only" in api.get("/contacts").json()["message"]


def test_read_only_token_reads_mail_but_cannot_change_it(engine, account, mail):
    with client(engine, issue(engine, account, "email.read_only")) as api:
        listed = api.get("/messages")
        assert listed.status_code == 200
        assert [m["id"] for m in listed.json()] == [mail["id"]]
        assert api.get(f"/threads/{mail['thread_id']}").status_code == 200
        assert api.get("/messages/search", params={"q": "Quarterly"}).status_code == 200

        changed = api.put(f"/messages/{mail['id']}", json={"unread": False})
        assert changed.status_code == 403
        assert "PUT /messages/" in changed.json()["message"]
        assert "email.modify" in changed.json()["message"]
        assert api.post("/drafts", json={"subject": "x"}).status_code == 403
        assert api.post("/send", json={"to": [{"email": "a@x.com"}]}).status_code == 403
        assert api.get("/events").status_code == 403
    # The refused change did not happen.
    with engine.client(account["id"]) as owner:
        assert owner.get(f"/messages/{mail['id']}").json()["unread"] is True


def test_send_token_sends_but_reads_nothing(engine):
    with SmtpListener() as smtp:
        sender = engine.new_account(**smtp.account_fields())
        Mailbox(engine, sender).add("Private")
        with client(engine, issue(engine, sender, "email.send")) as api:
            sent = api.post(
                "/send", json={"subject": "Hi", "to": [{"email": "ann@x.com"}], "body": "hello"}
            )
            assert sent.status_code == 200, sent.text
            assert [m.rcpt_tos for m in smtp.messages] == [["ann@x.com"]]

            for path in ("/threads", "/messages", "/drafts", "/files"):
                refused = api.get(path)
                assert refused.status_code == 403, path
                assert "email.send" in refused.json()["message"]


def test_modify_and_folder_scopes(engine, account, mail):
    with client(engine, issue(engine, account, "email.modify")) as api:
        assert api.put(f"/messages/{mail['id']}", json={"starred": True}).status_code == 200
        assert api.post("/send", json={"to": [{"email": "a@x.com"}]}).status_code == 403
        assert api.post("/drafts", json={"subject": "x"}).status_code == 403
    with client(engine, issue(engine, account, "email.folders_and_labels")) as api:
        created = api.post("/folders", json={"display_name": "Receipts"})
        assert created.status_code == 200, created.text
        assert api.get("/messages").status_code == 403
    with client(engine, issue(engine, account, "email.drafts")) as api:
        draft = api.post("/drafts", json={"subject": "Later"})
        assert draft.status_code == 200, draft.text
        assert api.get("/drafts").json()[0]["id"] == draft.json()["id"]
        assert api.get("/messages").status_code == 403
        assert api.post("/send", json={"draft_id": draft.json()["id"]}).status_code == 403


def test_read_only_calendar_and_contacts(engine, account):
    with client(engine, issue(engine, account, "calendar.read_only,contacts.read_only")) as api:
        calendar_id = api.get("/calendars").json()[0]["id"]
        assert api.get("/contacts").status_code == 200
        refused = api.post("/events", json={"calendar_id": calendar_id, "title": "x"})
        assert refused.status_code == 403
        assert "calendar" in refused.json()["message"]
        assert api.post("/contacts", json={"given_name": "Ann"}).status_code == 403


def test_delta_leaves_out_types_outside_the_scopes(engine, account, mail):
    with engine.client(account["id"]) as owner:
        calendar_id = owner.get("/calendars").json()[0]["id"]
        event = owner.post(
            "/events",
            json={
                "calendar_id": calendar_id,
                "title": "Review",
                "when": {"start_time": 1_700_000_000, "end_time": 1_700_001_800},
            },
        ).json()
        everything = owner.get("/delta", params={"cursor": "0"}).json()["deltas"]
    assert {"message", "thread", "event"} <= {d["object"] for d in everything}

    with client(engine, issue(engine, account, "calendar")) as api:
        deltas = api.get("/delta", params={"cursor": "0"}).json()["deltas"]
        assert {d["object"] for d in deltas} == {"calendar", "event"}
        assert event["id"] in {d["id"] for d in deltas}
        # Asking for mail explicitly does not get round the scopes.
        asked = api.get("/delta", params={"cursor": "0", "include_types": "message"}).json()
        assert asked["deltas"] == []
        polled = api.get("/delta/longpoll", params={"cursor": "0", "timeout": "0"}).json()
        assert {d["object"] for d in polled["deltas"]} == {"calendar", "event"}
    with client(engine, issue(engine, account, "email.read_only")) as api:
        deltas = api.get("/delta", params={"cursor": "0"}).json()["deltas"]
        assert mail["id"] in {d["id"] for d in deltas if d["object"] == "message"}
        assert not {"event", "calendar"} & {d["object"] for d in deltas}


def test_sdk_raises_not_authorized_with_the_message(engine, account, mail):
    token = issue(engine, account, "calendar")
    with APIClient(None, None, token, engine.url) as nylas:
        assert nylas.events.all() == []
        with pytest.raises(NotAuthorizedError) as raised:
            nylas.messages.all()
    assert raised.value.status_code == 403
    assert "GET /messages" in raised.value.message
    assert "email.read_only" in raised.value.message


def test_cli_scopes_and_full_tokens(engine, account, mail):
    narrow = engine.cli("tokens", "create", account["id"], "--scopes", "contacts").strip()
    with client(engine, narrow) as api:
        assert api.get("/contacts").status_code == 200
        assert api.get("/messages").status_code == 403
    full = engine.cli("tokens", "create", account["id"]).strip()  # email,calendar,contacts
    with client(engine, full) as api:
        assert api.get("/messages").status_code == 200
        assert api.get("/events").status_code == 200
        assert api.post("/delta/latest_cursor").status_code == 200
    with pytest.raises(RuntimeError, match="Unknown or unsupported scopes: no.such.scope"):
        engine.cli("tokens", "create", account["id"], "--scopes", "contacts,no.such.scope")
    # A token stored with a scope the engine doesn't know (say, from a newer version).
    with client(engine, issue(engine, account, "no.such.scope")) as api:
        assert api.get("/account").status_code == 200
        assert api.get("/messages").status_code == 403


def test_open_mode_account_id_keeps_full_access(api, mail):
    assert api.get("/messages").status_code == 200
    assert api.put(f"/messages/{mail['id']}", json={"unread": False}).status_code == 200
    assert api.get("/events").status_code == 200


# Top-level paths that are not account routes (their own auth, or none).
NOT_ACCOUNT_ROUTES = {"", "accounts", "oauth", "connect", "a", "docs", "openapi.json"}


def test_every_account_route_has_a_scope_rule(tmp_path):
    """A new account route must get a rule in scopes.py, or only full tokens can use it."""
    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext

    app = create_app(EngineContext.open(Settings(data_dir=tmp_path)))
    unmapped = []
    for route in app.routes:
        path = getattr(route, "path", "")
        if path.strip("/").split("/")[0] in NOT_ACCOUNT_ROUTES:
            continue
        for method in getattr(route, "methods", None) or ():
            if required_permission(method, path) == "*":
                unmapped.append(f"{method} {path}")
    assert unmapped == []
    assert required_permission("GET", "/something-new") == "*"
