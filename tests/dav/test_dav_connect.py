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


def test_well_known_urls_lead_to_the_calendars_and_address_book(radicale, dav_engine, tmp_path):
    import json

    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    phone.make_calendar("Found")
    phone.make_address_book()
    secret = tmp_path / "dav-password"
    secret.write_text(password + "\n")
    account = json.loads(
        dav_engine.cli(
            "accounts",
            "add",
            "--email",
            f"{user}@example.com",
            "--json",
            "--caldav-url",
            radicale.url + "/.well-known/caldav",
            "--carddav-url",
            radicale.url + "/.well-known/carddav",
            "--dav-username",
            user,
            "--dav-password-file",
            str(secret),
        )  # fmt: skip
    )
    with dav_engine.client(account["id"]) as api:
        eventually(lambda: calendar_named(api, "Found"), "the calendar found from well-known")
        made = api.post("/contacts", json={"given_name": "Via", "surname": "WellKnown"})
        assert made.status_code == 200
        eventually(
            lambda: any("WellKnown" in card for card in phone.cards().values()),
            "the contact in the address book found from well-known",
        )


def test_discovery_asks_the_network_with_no_database_transaction_open(engine, account, monkeypatch):
    """`accounts add --dav-discover` asks the email domain's well-known URLs over the
    network (here a stand-in: no real domain is reachable from the tests); no database
    transaction is open meanwhile, so a slow or hanging server holds none."""
    import argparse

    from nylas_engine.config import Settings
    from nylas_engine.context import EngineContext
    from nylas_engine.dav import cli as dav_cli
    from nylas_engine.dav import discovery
    from nylas_engine.store.accounts import find_by_public_id
    from nylas_engine.store.blobs import BlobStore
    from nylas_engine.store.dav import dav_account

    settings = Settings(data_dir=engine.data_dir)
    ctx = EngineContext(settings, engine.db, BlobStore(settings.blob_dir))
    pool = ctx.db.engine.pool
    asked: list[tuple[str, int]] = []

    def well_known(email: str, kind: str) -> str:
        asked.append((kind, pool.checkedout()))
        return f"https://dav.example.invalid/{kind}/"

    monkeypatch.setattr(discovery, "well_known", well_known)
    args = argparse.Namespace(
        caldav_url=None,
        carddav_url=None,
        dav_discover=True,
        dav_username=None,
        dav_password_env=None,
        dav_password_file=None,
    )
    dav_cli.configure_dav(ctx, account["id"], args, "secret")
    assert asked == [("calendar", 0), ("addressbook", 0)]
    with ctx.db.session() as session:
        me = find_by_public_id(session, account["id"])
        stored = dav_account(session, me.id)
        assert (stored.caldav_url, stored.carddav_url) == (
            "https://dav.example.invalid/calendar/",
            "https://dav.example.invalid/addressbook/",
        )
