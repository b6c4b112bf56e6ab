"""Native authentication with CalDAV/CardDAV settings next to the IMAP ones."""

from __future__ import annotations

import httpx
from dav_helpers import Phone, calendar_named, eventually


def _authorize(engine, app, user, settings):
    return httpx.post(
        engine.url + "/connect/authorize",
        json={
            "client_id": app["client_id"],
            "email_address": user,
            "provider": "imap",
            "settings": settings,
        },
    )


def test_native_auth_with_dav_urls_uses_the_mail_password(dovecot, mailbox, radicale, dav_engine):
    user, password = mailbox
    radicale.add_user(user, password)  # the same login on both servers
    Phone(radicale, user, password).make_calendar("From the phone")
    app = dav_engine.create_app("DAV native auth")
    imap = {
        "imap_host": dovecot.host,
        "imap_port": dovecot.imap_port,
        "imap_username": user,
        "imap_password": password,
        "ssl_required": False,
    }
    code = _authorize(
        dav_engine,
        app,
        user,
        {**imap, "caldav_url": radicale.url + "/", "carddav_url": radicale.url + "/"},
    )
    assert code.status_code == 200, code.text
    token = httpx.post(
        dav_engine.url + "/connect/token",
        json={
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "code": code.json()["code"],
        },
    ).json()
    with httpx.Client(
        base_url=dav_engine.url, headers={"Authorization": f"Bearer {token['access_token']}"}
    ) as api:
        eventually(lambda: calendar_named(api, "From the phone"), "the server's calendar listed")


def test_native_auth_refuses_malformed_dav_urls(dovecot, mailbox, dav_engine):
    user, password = mailbox
    app = dav_engine.create_app("DAV native auth")
    for bad in ("ftp://example.com/", "not a url", 42, "https://me:pw@example.com/"):
        reply = _authorize(
            dav_engine,
            app,
            user,
            {"imap_host": dovecot.host, "imap_password": password, "caldav_url": bad},
        )
        assert reply.status_code == 400, reply.text
        assert reply.json()["type"] == "invalid_request_error"
