"""An OAuth account's calendars (Google-style CalDAV): the engine logs in with
`Authorization: Bearer` and the access token its OAuth grant gives, refreshed when the
server refuses it. The server is Radicale behind a proxy that accepts only bearer tokens
the OAuth server (tests/oauth_server.py) calls active."""

from __future__ import annotations

import json

import pytest
from bearer_proxy import BearerProxy
from dav_helpers import Phone, calendar_named, events_by_title, eventually
from dovecot import Dovecot
from oauth_server import OAuthServer
from radicale_server import Radicale
from smtp_listener import SmtpListener
from sync_engines import SyncEngine

# The SMTP listener takes AUTH without TLS on loopback, which aiosmtpd warns of.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")

EVENT = (
    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//phone//EN\r\nBEGIN:VEVENT\r\n"
    "UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20270301T090000Z\r\n"
    "DTEND:20270301T100000Z\r\nSUMMARY:{title}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
)


def test_an_oauth_account_syncs_its_calendar_with_refreshed_bearer_tokens(
    tmp_path_factory: pytest.TempPathFactory,
    provider: OAuthServer,
    oauth_dovecot: Dovecot,
    oauth_smtp: SmtpListener,
    radicale: Radicale,
) -> None:
    mail, smtp = oauth_dovecot, oauth_smtp
    email, _ = mail.new_user()
    user, password = radicale.add_user()
    phone = Phone(radicale, user, password)
    calendar = phone.make_calendar("Work")
    calendar.save_event(EVENT.format(uid="one", title="Planning"))
    hosted = provider.add_client(["loopback"])
    refresh_token = provider.issue(hosted, email).refresh_token
    assert refresh_token is not None
    env = {
        **provider.env("google", hosted),
        "NYLAS_ENGINE_GOOGLE_IMAP": f"{mail.host}:{mail.imap_port}",
        "NYLAS_ENGINE_GOOGLE_SMTP": f"{smtp.host}:{smtp.port}",
        "NYLAS_ENGINE_GOOGLE_SECURITY": "plain",
        "NYLAS_ENGINE_ALLOW_MAIL_HOSTS": "127.0.0.1",
        "NYLAS_ENGINE_DAV_POLL": "1",
        "NYLAS_ENGINE_SYNC_RETRY": "0.5",
    }
    with (
        BearerProxy(f"{provider.url}/introspect", radicale.url, {email: (user, password)}) as proxy,
        SyncEngine(tmp_path_factory.mktemp("dav-oauth"), env=env) as engine,
    ):
        engine.env["TEST_REFRESH_TOKEN"] = refresh_token
        out = engine.cli(
            "accounts", "add", "--email", email, "--oauth", "google",
            "--refresh-token-env", "TEST_REFRESH_TOKEN", "--caldav-url", proxy.url + "/",
            "--json",
        )  # fmt: skip
        account = json.loads(out)
        with engine.client(account["id"]) as api:
            work = eventually(lambda: calendar_named(api, "Work"), "the calendar listed")
            eventually(lambda: "Planning" in events_by_title(api, work["id"]), "the event synced")
            assert set(proxy.seen) == {"Bearer"}  # never a password
            first = set(proxy.tokens)

            # The provider ends the access tokens early: the engine refreshes and goes on.
            provider.expire_access_tokens(email)
            calendar.save_event(EVENT.format(uid="two", title="Review"))
            eventually(lambda: "Review" in events_by_title(api, work["id"]), "the next change")
            assert proxy.tokens - first  # a new access token
            assert api.get("/account").json()["sync_state"] == "running"
            assert refresh_token not in (engine.data_dir / "engine.log").read_text()
