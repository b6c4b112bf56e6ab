"""Native authentication (docs/protocol.md §16.2): POST /connect/authorize + /connect/token
for IMAP."""

from __future__ import annotations

import httpx


def _settings(dovecot, user, password):
    return {
        "imap_host": dovecot.host,
        "imap_port": dovecot.imap_port,
        "imap_username": user,
        "imap_password": password,
        "ssl_required": False,
    }


def test_connect_verifies_then_issues_a_token(dovecot, mailbox, offline_engine):
    user, password = mailbox
    app = offline_engine.create_app("Native auth app")
    base = offline_engine.url

    code = httpx.post(
        base + "/connect/authorize",
        json={
            "client_id": app["client_id"],
            "name": "Connie Native",
            "email_address": user,
            "provider": "imap",
            "settings": _settings(dovecot, user, password),
            "scopes": "email",
        },
    )
    assert code.status_code == 200, code.text
    assert set(code.json()) == {"code"}

    token = httpx.post(
        base + "/connect/token",
        json={
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": code.json()["code"],
        },
    )
    assert token.status_code == 200, token.text
    body = token.json()
    assert body["email_address"] == user
    assert body["name"] == "Connie Native"
    assert body["object"] == "account"
    assert body["billing_state"] == "paid"
    assert password not in token.text

    me = httpx.get(
        base + "/account?view=expanded",
        headers={"Authorization": f"Bearer {body['access_token']}"},
    )
    assert me.status_code == 200
    assert me.json()["id"] == body["id"]
    assert me.json()["server_settings"]["imap_port"] == dovecot.imap_port
    assert password not in me.text

    # The code is single-use.
    again = httpx.post(
        base + "/connect/token",
        json={
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": code.json()["code"],
        },
    )
    assert again.status_code == 400
    # ... and a second try revokes the token the first one bought.
    revoked = httpx.get(
        base + "/account", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert revoked.status_code == 401


def test_connect_with_a_wrong_password_creates_nothing(dovecot, mailbox, offline_engine):
    user, _ = mailbox
    app = offline_engine.create_app("Native auth app")
    response = httpx.post(
        offline_engine.url + "/connect/authorize",
        json={
            "client_id": app["client_id"],
            "email_address": user,
            "provider": "imap",
            "settings": _settings(dovecot, user, "wrong"),
        },
    )
    assert response.status_code == 403
    assert response.json()["type"] == "invalid_request_error"
    assert response.json()["message"] == "Could not log in to the IMAP server."
    listed = httpx.get(offline_engine.url + "/accounts", params={"email_address": user}).json()
    assert listed == []


def test_connect_rejects_missing_settings_and_unknown_apps(offline_engine):
    url = offline_engine.url + "/connect/authorize"
    app = offline_engine.create_app("Native auth app")
    missing = httpx.post(
        url, json={"client_id": app["client_id"], "email_address": "a@example.com"}
    )
    assert missing.status_code == 400
    assert "settings" in missing.json()["message"]
    unknown = httpx.post(
        url,
        json={"client_id": "nope", "email_address": "a@example.com", "settings": {}},
    )
    assert unknown.status_code == 400


def test_connect_refuses_unknown_scopes_before_trying_the_servers(offline_engine):
    app = offline_engine.create_app("Native auth app")
    refused = httpx.post(
        offline_engine.url + "/connect/authorize",
        json={
            "client_id": app["client_id"],
            "email_address": "a@example.com",
            "scopes": "email,calender",
            "settings": {
                "imap_host": "127.0.0.1",
                "imap_port": 9,
                "imap_username": "a@example.com",
                "imap_password": "secret",
                "smtp_host": "127.0.0.1",
                "smtp_port": 9,
            },
        },
    )
    assert refused.status_code == 400
    assert "calender" in refused.json()["message"]
