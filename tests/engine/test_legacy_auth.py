"""nylas-legacy 5.15 drives OAuth and the /a/ endpoints of a token-mode engine."""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from legacy_sdk import legacy_client
from nylas_legacy.client.errors import NylasApiError

from nylas.testing import LocalEngine

PASSWORD = "legacy password"
CALLBACK = "http://127.0.0.1:9/oauth/callback"


@pytest.fixture(scope="module")
def token_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = LocalEngine(
        tmp_path_factory.mktemp("legacy-auth"), auth="token", env={"LEGACY_PASSWORD": PASSWORD}
    )
    with engine:
        yield engine


@pytest.fixture
def app(token_engine: LocalEngine) -> dict[str, Any]:
    return token_engine.create_app("Legacy App", redirect_uri=CALLBACK)


def new_user(engine: LocalEngine) -> dict[str, Any]:
    email = f"legacy{time.monotonic_ns()}@example.com"
    return engine.add_account(email, password_env="LEGACY_PASSWORD")


def log_in_at(engine: LocalEngine, authentication_url: str, email: str) -> dict[str, str]:
    """What a user does in the browser: open the URL, sign in; returns the callback's query."""
    with httpx.Client(timeout=30) as browser:
        page = browser.get(authentication_url)
        assert page.status_code == 200, page.text
        found = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text)
        form = {html.unescape(k): html.unescape(v) for k, v in found}
        form.update(email=email, password=PASSWORD, action="allow")
        done = browser.post(engine.url + "/oauth/authorize", data=form)
    assert done.status_code == 303
    assert done.headers["location"].startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(done.headers["location"]).query).items()}


def status_with(engine: LocalEngine, token: str) -> int:
    return httpx.get(engine.url + "/account", auth=(token, "")).status_code


# revoke_token() sends Basic "<token>:None" through requests, which warns about it.
@pytest.mark.filterwarnings("ignore:Non-string passwords:DeprecationWarning")
def test_oauth_flow_and_account_management_with_a_token(token_engine, app):
    user = new_user(token_engine)
    client = legacy_client(
        token_engine.url, app_id=app["client_id"], app_secret=app["client_secret"]
    )

    url = client.authentication_url(CALLBACK, login_hint=user["email_address"], state="st-1")
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == token_engine.url + "/oauth/authorize"
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    assert query == {
        "client_id": app["client_id"],
        "redirect_uri": CALLBACK,
        "response_type": "code",
        "login_hint": user["email_address"],
        "state": "st-1",
        "scopes": "email,calendar,contacts",
    }

    callback = log_in_at(token_engine, url, user["email_address"])
    assert callback["state"] == "st-1"
    token = client.token_for_code(callback["code"])
    assert client.access_token == token
    assert client.account.email_address == user["email_address"]
    assert client.account.id == user["id"]

    # With a token, SDK 5 sends it as Bearer on /a/.../accounts, and /a/ routes take the
    # client secret only (issue 10): the app manages accounts with a client of its own,
    # made with the app id and secret and no access token.
    with pytest.raises(NylasApiError) as refused:
        client.accounts.all()
    assert refused.value.response.status_code == 401
    admin = legacy_client(
        token_engine.url, app_id=app["client_id"], app_secret=app["client_secret"]
    )
    accounts = admin.accounts.all()
    assert user["id"] in [a.id for a in accounts]
    account = admin.accounts.get(user["id"])
    assert account.email == user["email_address"]
    assert account.billing_state == "paid"

    downgraded = account.downgrade()
    assert downgraded.billing_state == "cancelled"
    with pytest.raises(NylasApiError) as blocked:
        client.account  # noqa: B018 - the property makes the request
    assert blocked.value.response.status_code == 403
    upgraded = account.upgrade()
    assert upgraded.billing_state == "paid"
    assert client.account.id == user["id"]

    info = client.token_info()
    assert info["state"] == "valid"
    assert info["scopes"] == "email,calendar,contacts"

    second = token_engine.cli("tokens", "create", user["id"], "--app", app["client_id"]).strip()
    client.revoke_all_tokens(keep_access_token=token)
    assert status_with(token_engine, second) == 401
    assert status_with(token_engine, token) == 200
    assert client.access_token == token

    client.revoke_token()
    assert client.access_token is None
    assert status_with(token_engine, token) == 401


def test_code_cannot_be_exchanged_twice_or_with_a_wrong_secret(token_engine, app):
    user = new_user(token_engine)
    client = legacy_client(
        token_engine.url, app_id=app["client_id"], app_secret=app["client_secret"]
    )
    code = log_in_at(token_engine, client.authentication_url(CALLBACK), user["email_address"])[
        "code"
    ]
    impostor = legacy_client(token_engine.url, app_id=app["client_id"], app_secret="wrong-secret")
    with pytest.raises(NylasApiError) as wrong:
        impostor.token_for_code(code)
    assert wrong.value.response.status_code == 401

    assert client.token_for_code(code)
    with pytest.raises(NylasApiError) as reused:
        legacy_client(
            token_engine.url, app_id=app["client_id"], app_secret=app["client_secret"]
        ).token_for_code(code)
    assert reused.value.response.status_code == 400


def test_app_admin_with_the_client_secret(token_engine, app):
    users = [new_user(token_engine), new_user(token_engine)]
    for user in users:
        token_engine.cli("tokens", "create", user["id"], "--app", app["client_id"])
    admin = legacy_client(
        token_engine.url, app_id=app["client_id"], app_secret=app["client_secret"]
    )

    assert [a.id for a in admin.accounts.all()] == [u["id"] for u in users]
    first = admin.accounts.first()
    assert first.email == users[0]["email_address"]
    assert first.downgrade().billing_state == "cancelled"
    assert admin.accounts.get(users[0]["id"]).billing_state == "cancelled"
    assert first.upgrade().billing_state == "paid"

    assert admin.application_details()["application_name"] == "Legacy App"
    updated = admin.update_application_details(application_name="Renamed", icon_url="https://x/i")
    assert updated["application_name"] == "Renamed"
    assert admin.application_details()["icon_url"] == "https://x/i"
    assert admin.ip_addresses()["ip_addresses"] == ["127.0.0.1"]

    hook = admin.webhooks.create()
    hook.callback_url = "https://example.com/hook"
    hook.triggers = ["message.created"]
    hook.state = "active"
    hook.save()
    assert hook.id and hook.application_id == app["client_id"]
    hook.state = "inactive"
    hook.save()
    stored = admin.webhooks.get(hook.id)
    assert stored.state == "inactive"
    assert stored.callback_url == "https://example.com/hook"
    assert [h.id for h in admin.webhooks.all()] == [hook.id]
    admin.webhooks.delete(hook.id)
    assert admin.webhooks.all() == []

    stranger = legacy_client(token_engine.url, app_id=app["client_id"], app_secret="wrong-secret")
    with pytest.raises(NylasApiError) as denied:
        stranger.accounts.all()
    assert denied.value.response.status_code == 401
