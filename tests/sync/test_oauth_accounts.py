"""OAuth 2.0 accounts (Gmail, Microsoft 365) against real parts: an OAuth 2.0 server (Authlib,
tests/oauth_server.py) plays Google for the engine through the endpoint overrides, Dovecot
checks the bearer tokens by introspection at that server (passdb oauth2), and the SMTP
listener takes AUTH XOAUTH2 only, checking tokens the same way."""

from __future__ import annotations

import html
import json
import os
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import samples
from dovecot import Dovecot
from oauth_server import OAuthServer
from smtp_listener import SmtpListener
from test_webhook_delivery import Receiver

from nylas.testing import LocalEngine

DEADLINE = 60.0
# The SMTP listener takes AUTH without TLS on loopback, which aiosmtpd warns of.
pytestmark = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def engine(
    tmp_path_factory: pytest.TempPathFactory,
    provider: OAuthServer,
    oauth_dovecot: Dovecot,
    oauth_smtp: SmtpListener,
) -> Iterator[LocalEngine]:
    hosted = provider.add_client(["loopback"])
    servers = {
        f"NYLAS_ENGINE_{name}_{key}": value
        for name in ("GOOGLE", "MICROSOFT")
        for key, value in (
            ("IMAP", f"{oauth_dovecot.host}:{oauth_dovecot.imap_port}"),
            ("SMTP", f"{oauth_smtp.host}:{oauth_smtp.port}"),
            ("SECURITY", "plain"),
        )
    }
    env = {
        **provider.env("google", hosted),
        **provider.env("microsoft"),  # its endpoints only: no hosted sign-in client
        **servers,
        "NYLAS_ENGINE_ALLOW_MAIL_HOSTS": "127.0.0.1",
        "NYLAS_ENGINE_SYNC_POLL": "2",
        "NYLAS_ENGINE_SYNC_PASS_FACTOR": "1",  # the tests' full passes: every 2 s
        "NYLAS_ENGINE_SYNC_SCAN": "0.5",
        "NYLAS_ENGINE_SYNC_RETRY": "0.5",
        "NYLAS_ENGINE_SYNC_BATCH": "5",  # a dozen messages take a worker process
        "NYLAS_ENGINE_WEBHOOK_POLL": "0.1",
        "NYLAS_ENGINE_WEBHOOK_RETRY": "0.2",
    }
    data_dir = tmp_path_factory.mktemp("oauth")
    with LocalEngine(data_dir, auth="token", env=env) as engine:
        yield engine


@pytest.fixture(scope="module")
def app(engine: LocalEngine) -> dict[str, str]:
    return engine.create_app("Mail app")


def connect_gmail(
    engine: LocalEngine, app: dict[str, str], email: str, client: Any, refresh_token: str
) -> httpx.Response:
    return httpx.post(
        engine.url + "/connect/authorize",
        json={
            "client_id": app["client_id"],
            "name": "Gail Mail",
            "email_address": email,
            "provider": "gmail",
            "settings": {
                "google_client_id": client.client_id,
                "google_client_secret": client.client_secret,
                "google_refresh_token": refresh_token,
            },
        },
        timeout=60,
    )


def native_account(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, email: str
) -> tuple[dict[str, Any], str]:
    """Native auth with a refresh token the user's consent gave the app's own client."""
    client = provider.add_client()
    refresh_token = provider.issue(client, email).refresh_token
    assert refresh_token is not None
    code = connect_gmail(engine, app, email, client, refresh_token)
    assert code.status_code == 200, code.text
    token = httpx.post(
        engine.url + "/connect/token",
        json={**app, "code": code.json()["code"]},
        timeout=30,
    )
    assert token.status_code == 200, token.text
    assert refresh_token not in code.text + token.text
    return token.json(), refresh_token


def api(engine: LocalEngine, account: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=engine.url, auth=(account["access_token"], ""), timeout=30)


def running(user: httpx.Client) -> None:
    """The account is back to `running` (set once the pass after a reconnection is done)."""
    eventually(lambda: user.get("/account").json()["sync_state"] == "running", "running")


def subjects(client: httpx.Client) -> set[str]:
    return {m["subject"] for m in client.get("/messages").json()}


def test_native_auth_with_a_refresh_token_syncs_the_mailbox(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    oauth_dovecot.deliver(email, samples.plain("Before connecting", email))
    account, refresh_token = native_account(engine, app, provider, email)
    assert account["email_address"] == email
    assert account["provider"] == "gmail"
    with api(engine, account) as user:
        eventually(lambda: "Before connecting" in subjects(user), "the first sync")
        oauth_dovecot.deliver(email, samples.plain("After connecting", email))
        eventually(lambda: "After connecting" in subjects(user), "new mail")
        running(user)
    # The refresh token is stored sealed, never in the clear.
    stored = (engine.data_dir / "engine.db").read_bytes()
    assert refresh_token.encode() not in stored


def test_a_refused_refresh_token_is_refused_before_any_account_exists(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    client = provider.add_client()
    reply = connect_gmail(engine, app, email, client, "not-a-refresh-token")
    assert reply.status_code == 403, reply.text
    assert reply.json()["type"] == "api_error" or "log in" in reply.json()["message"]
    admin = httpx.get(
        f"{engine.url}/a/{app['client_id']}/accounts",
        auth=(app["client_secret"], ""),
        timeout=30,
    )
    assert email not in admin.text


def test_send_over_smtp_with_xoauth2(
    engine: LocalEngine,
    app: dict[str, str],
    provider: OAuthServer,
    oauth_dovecot: Dovecot,
    oauth_smtp: SmtpListener,
) -> None:
    email, _ = oauth_dovecot.new_user()
    account, _ = native_account(engine, app, provider, email)
    with api(engine, account) as user:
        sent = user.post(
            "/send",
            json={"to": [{"email": "friend@example.org"}], "subject": "Via XOAUTH2", "body": "hi"},
        )
        assert sent.status_code == 200, sent.text
    received = [m for m in oauth_smtp.messages if m.message["Subject"] == "Via XOAUTH2"]
    assert len(received) == 1 and received[0].rcpt_tos == ["friend@example.org"]
    assert email in oauth_smtp.oauth_users


def test_expired_tokens_are_refreshed_and_the_sync_carries_on(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    provider.lifetime = 2  # every access token from now on is short-lived
    try:
        email, _ = oauth_dovecot.new_user()
        account, _ = native_account(engine, app, provider, email)
        with api(engine, account) as user:
            oauth_dovecot.deliver(email, samples.plain("First", email))
            eventually(lambda: "First" in subjects(user), "the first sync")
            refreshes = provider.refreshes
            for n in range(3):
                time.sleep(2.5)  # the token the session logged in with has expired
                oauth_dovecot.kick(email)  # and the provider ends the session
                oauth_dovecot.deliver(email, samples.plain(f"Later {n}", email))
                eventually(lambda n=n: f"Later {n}" in subjects(user), f"mail {n} after expiry")
            assert provider.refreshes >= refreshes + 3  # a fresh token for each login
            assert subjects(user) == {"First", "Later 0", "Later 1", "Later 2"}
            running(user)
    finally:
        provider.lifetime = 3600


def test_a_revoked_grant_makes_the_account_invalid_and_fires_the_webhook(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    account, refresh_token = native_account(engine, app, provider, email)
    receiver = Receiver()
    try:
        admin = httpx.Client(base_url=engine.url, auth=(app["client_secret"], ""), timeout=30)
        hook = admin.post(
            f"/a/{app['client_id']}/webhooks",
            json={"callback_url": receiver.url, "triggers": ["account.invalid"]},
        )
        assert hook.status_code == 200, hook.text
        receiver.wait_for(lambda: receiver.requests, "the challenge")
        with api(engine, account) as user:
            oauth_dovecot.deliver(email, samples.plain("Synced", email))
            eventually(lambda: "Synced" in subjects(user), "the first sync")
            provider.revoke_user(email)  # the user removes the app in their Google account
            oauth_dovecot.kick(email)
            eventually(
                lambda: user.get("/account").json()["sync_state"] == "invalid", "sync_state invalid"
            )
        delta = receiver.wait_for_delta("account.invalid", account["id"])
        assert delta["object"] == "account"
        accounts = admin.get(f"/a/{app['client_id']}/accounts").json()
        (found,) = [a for a in accounts if a["id"] == account["id"]]
        assert found["sync_state"] == "invalid"
        assert refresh_token not in json.dumps(accounts)
    finally:
        receiver.close()


def test_cli_adds_an_account_with_a_refresh_token_and_no_host_flags(
    engine: LocalEngine, provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    hosted = provider.clients[engine.env["NYLAS_ENGINE_GOOGLE_CLIENT_ID"]]
    refresh_token = provider.issue(hosted, email).refresh_token
    assert refresh_token is not None
    engine.env["TEST_REFRESH_TOKEN"] = refresh_token
    try:
        out = engine.cli(
            "accounts", "add", "--email", email, "--oauth", "google",
            "--refresh-token-env", "TEST_REFRESH_TOKEN", "--json",
        )  # fmt: skip
    finally:
        del engine.env["TEST_REFRESH_TOKEN"]
    added = json.loads(out)
    assert added["email_address"] == email and added["sync_state"] == "running"
    assert refresh_token not in out


def test_cli_signs_in_through_a_loopback_redirect(
    engine: LocalEngine, provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    provider.add_user(email, "provider-password")
    command = subprocess.Popen(
        [*engine._base(), "accounts", "add", "--email", email, "--oauth", "google", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **engine.env, "BROWSER": "true"},
    )
    try:
        assert command.stderr is not None
        lines = [command.stderr.readline(), command.stderr.readline()]
        url = lines[1].strip()
        assert url.startswith(provider.url + "/authorize?"), lines
        with httpx.Client(follow_redirects=True, timeout=30) as browser:
            form = browser.get(url)
            assert form.status_code == 200 and "<form" in form.text
            done = browser.post(provider.url + "/authorize", data=_form_fields(form.text, email))
            assert done.status_code == 200, done.text
            assert "Signed in" in done.text
        out, err = command.communicate(timeout=60)
    finally:
        if command.poll() is None:
            command.kill()
    assert command.returncode == 0, err
    assert json.loads(out)["email_address"] == email


def _form_fields(page: str, email: str) -> dict[str, str]:
    """The provider's sign-in form filled in: its hidden fields, the email and password."""
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', page))
    return {**{k: html.unescape(v) for k, v in fields.items()}, "email": email,
            "password": "provider-password"}  # fmt: skip


def test_hosted_auth_signs_in_with_the_provider_and_syncs(
    engine: LocalEngine, provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    oauth_dovecot.deliver(email, samples.plain("Waiting for you", email))
    provider.add_user(email, "provider-password")
    redirect_uri = "https://app.example/callback"
    app = engine.create_app("Hosted app", redirect_uri=redirect_uri)
    with httpx.Client(timeout=60) as browser:  # follows redirects by hand, keeps cookies
        page = browser.get(
            engine.url + "/oauth/authorize",
            params={
                "client_id": app["client_id"],
                "redirect_uri": redirect_uri,
                "response_type": "code",
                "scopes": "email",
                "state": "app-state-1",
            },
        )
        assert page.status_code == 200
        link = re.search(r'href="(/oauth/provider/start\?[^"]+)">Sign in with Google', page.text)
        assert link is not None, page.text
        reply = browser.get(engine.url + html.unescape(link.group(1)))
        reply = _follow(browser, reply, stop_at=provider.url + "/authorize")
        form = browser.get(reply.headers["location"])
        assert "<form" in form.text
        reply = browser.post(provider.url + "/authorize", data=_form_fields(form.text, email))
        back = _follow(browser, reply, stop_at=redirect_uri)
    params = dict(httpx.URL(back.headers["location"]).params)
    assert params["state"] == "app-state-1" and "code" in params
    token = httpx.post(
        engine.url + "/oauth/token",
        data={**app, "grant_type": "authorization_code", "code": params["code"]},
        timeout=30,
    )
    assert token.status_code == 200, token.text
    assert token.json()["email_address"] == email
    assert token.json()["provider"] == "gmail"
    with api(engine, token.json()) as user:
        eventually(lambda: "Waiting for you" in subjects(user), "the first sync")


def test_a_callback_with_another_state_is_refused(
    engine: LocalEngine, provider: OAuthServer
) -> None:
    app = engine.create_app("Hosted app 2", redirect_uri="https://app.example/cb")
    with httpx.Client(timeout=30) as browser:
        start = browser.get(
            engine.url + "/oauth/provider/start",
            params={
                "provider": "google",
                "client_id": app["client_id"],
                "redirect_uri": "https://app.example/cb",
                "response_type": "code",
            },
        )
        assert start.status_code == 303
        assert start.headers["location"].startswith(provider.url + "/authorize?")
        forged = browser.get(
            engine.url + "/oauth/provider/callback", params={"code": "x", "state": "forged"}
        )
    assert forged.status_code == 400
    assert "another state" in forged.text
    # Without the cookie of a started sign-in (another browser): refused as well.
    bare = httpx.get(engine.url + "/oauth/provider/callback", params={"code": "x", "state": "y"})
    assert bare.status_code == 400


def _follow(browser: httpx.Client, reply: httpx.Response, *, stop_at: str) -> httpx.Response:
    """Follow redirects until one points at `stop_at` (which is not fetched)."""
    for _ in range(10):
        assert reply.is_redirect, reply.text
        location = reply.headers["location"]
        if location.startswith(stop_at):
            return reply
        reply = browser.get(location)
    raise AssertionError("too many redirects")


def test_a_refused_access_token_is_refreshed_once_and_the_sync_goes_on(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    account, _ = native_account(engine, app, provider, email)
    with api(engine, account) as user:
        oauth_dovecot.deliver(email, samples.plain("One", email))
        eventually(lambda: "One" in subjects(user), "the first sync")
        refreshes = provider.refreshes
        provider.expire_access_tokens(email)  # the engine's cached token is no longer good
        oauth_dovecot.kick(email)
        oauth_dovecot.deliver(email, samples.plain("Two", email))
        eventually(lambda: "Two" in subjects(user), "mail after the refused token")
        assert provider.refreshes > refreshes
        running(user)


def test_rotated_refresh_tokens_are_kept(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    from nylas_engine.store.credentials import Vault
    from nylas_engine.store.db import Database
    from nylas_engine.store.models import Account

    provider.rotate = True  # each refresh spends the refresh token and gives a new one
    try:
        email, _ = oauth_dovecot.new_user()
        account, first = native_account(engine, app, provider, email)
        with api(engine, account) as user:
            oauth_dovecot.deliver(email, samples.plain("Rotating", email))
            eventually(lambda: "Rotating" in subjects(user), "the first sync")
            provider.expire_access_tokens(email)
            oauth_dovecot.kick(email)  # the next login needs another refresh
            oauth_dovecot.deliver(email, samples.plain("Rotated", email))
            eventually(lambda: "Rotated" in subjects(user), "mail after a rotation")
        db = Database(f"sqlite:///{engine.data_dir / 'engine.db'}", run_migrations=False)
        with db.session() as session:
            row = session.query(Account).filter_by(public_id=account["id"]).one()
            grant = Vault.for_data_dir(engine.data_dir).open(row.credentials).oauth
        assert grant is not None and grant.refresh_token != first
        current = provider.find(grant.refresh_token, "refresh_token")
        assert current is not None and not current.revoked  # the live one is stored
    finally:
        provider.rotate = False


@pytest.mark.parametrize(
    "settings",
    [
        None,
        "google_refresh_token=x",
        {"google_client_id": "a", "google_client_secret": "b"},
        {"google_client_id": "a", "google_client_secret": "b", "google_refresh_token": 7},
        {
            "microsoft_client_id": "a",
            "microsoft_client_secret": "b",
            "microsoft_refresh_token": "c",
        },
    ],
)
def test_native_auth_bad_input_is_a_json_400(
    engine: LocalEngine, app: dict[str, str], settings: Any
) -> None:
    reply = httpx.post(
        engine.url + "/connect/authorize",
        json={
            "client_id": app["client_id"],
            "email_address": "someone@gmail.com",
            "provider": "gmail",
            "settings": settings,
        },
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    assert reply.json()["type"] == "invalid_request_error"


def test_provider_sign_in_bad_input_is_a_400_page(engine: LocalEngine, app: dict[str, str]) -> None:
    for query in (
        {"provider": "yahoo", "client_id": app["client_id"]},
        {"provider": "microsoft", "client_id": app["client_id"]},  # not set up here
        {"provider": "google", "client_id": "unknown"},
        {"provider": "google", "client_id": app["client_id"], "redirect_uri": "https://evil"},
    ):
        reply = httpx.get(engine.url + "/oauth/provider/start", params=query, timeout=30)
        assert reply.status_code == 400, (query, reply.text)
        assert "location" not in reply.headers


def test_a_long_first_sync_shares_the_token_with_its_worker_processes(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    for n in range(12):
        oauth_dovecot.deliver(email, samples.plain(f"Old mail {n}", email))
    account, _ = native_account(engine, app, provider, email)
    with api(engine, account) as user:
        eventually(lambda: len(subjects(user)) == 12, "all twelve messages")
    # One refresh, when the account was connected: the sync and the process that fetched
    # batches for it logged in with that token.
    assert provider.refreshes_of[email] == 1


def test_native_auth_for_office365(
    engine: LocalEngine, app: dict[str, str], provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    email, _ = oauth_dovecot.new_user()
    oauth_dovecot.deliver(email, samples.plain("From Exchange Online", email))
    client = provider.add_client()
    refresh_token = provider.issue(client, email).refresh_token
    code = httpx.post(
        engine.url + "/connect/authorize",
        json={
            "client_id": app["client_id"],
            "email_address": email,
            "provider": "office365",
            "settings": {
                "microsoft_client_id": client.client_id,
                "microsoft_client_secret": client.client_secret,
                "microsoft_refresh_token": refresh_token,
                "redirect_uri": "https://app.example/ms",
            },
        },
        timeout=60,
    )
    assert code.status_code == 200, code.text
    token = httpx.post(engine.url + "/connect/token", json={**app, **code.json()}, timeout=30)
    assert token.status_code == 200, token.text
    assert token.json()["provider"] == "office365"
    with api(engine, token.json()) as user:
        eventually(lambda: "From Exchange Online" in subjects(user), "the first sync")


def test_oauthbearer_where_the_server_offers_only_that(
    provider: OAuthServer, oauth_dovecot: Dovecot
) -> None:
    from nylas_engine.store.credentials import MailCredentials, OAuthGrant
    from nylas_engine.sync.imap import ServerSettings, check_smtp

    email, _ = oauth_dovecot.new_user()
    client = provider.add_client()
    refresh_token = provider.issue(client, email).refresh_token
    assert refresh_token is not None
    grant = OAuthGrant(
        "google", f"{provider.url}/token", client.client_id, client.client_secret, refresh_token
    )
    introspection = f"{provider.url}/introspect"
    with SmtpListener(oauth=introspection, oauth_mechanisms=("OAUTHBEARER",)) as smtp:
        settings = ServerSettings(
            email, oauth_dovecot.host, oauth_dovecot.imap_port, email,
            smtp_host=smtp.host, smtp_port=smtp.port, smtp_username=email, security="plain",
        )  # fmt: skip
        check_smtp(settings, MailCredentials("", None, grant))
        assert smtp.oauth_users == [email]


def _asked_scopes(engine: LocalEngine, app: dict[str, str], redirect_uri: str) -> set[str]:
    """The scopes hosted sign-in with Google asks the provider for (its authorize redirect)."""
    start = httpx.get(
        engine.url + "/oauth/provider/start",
        params={
            "provider": "google",
            "client_id": app["client_id"],
            "redirect_uri": redirect_uri,
            "response_type": "code",
        },
        timeout=30,
    )
    assert start.status_code == 303, start.text
    query = parse_qs(urlsplit(start.headers["location"]).query)
    return set(query["scope"][0].split())


def test_calendar_and_contacts_scopes_are_asked_only_where_the_operator_enables_them(
    tmp_path: Any, engine: LocalEngine, provider: OAuthServer
) -> None:
    calendar = "https://www.googleapis.com/auth/calendar"
    contacts = "https://www.googleapis.com/auth/carddav"
    app = engine.create_app("Mail only", redirect_uri="https://app.example/cb")
    plain = _asked_scopes(engine, app, "https://app.example/cb")
    assert "https://mail.google.com/" in plain
    assert calendar not in plain and contacts not in plain

    env = {
        **provider.env("google", provider.add_client(["loopback"])),
        "NYLAS_ENGINE_GOOGLE_CALENDAR": "1",
        "NYLAS_ENGINE_GOOGLE_CONTACTS": "yes",
        "NYLAS_ENGINE_MICROSOFT_CALENDAR": "1",  # no CalDAV at Microsoft: ignored
        "NYLAS_ENGINE_SYNC": "0",
    }
    with LocalEngine(tmp_path, auth="token", env=env) as dav_engine:
        dav_app = dav_engine.create_app("Mail and calendar", redirect_uri="https://app.example/cb")
        asked = _asked_scopes(dav_engine, dav_app, "https://app.example/cb")
    assert asked == plain | {calendar, contacts}
