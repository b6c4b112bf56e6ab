"""Credential guessing is slowed down: after 10 failures a minute, 429 with Retry-After.

Every test here uses an engine of its own, so the failures it piles up never make the shared
engine refuse other tests' requests.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from nylas import APIClient
from nylas.client.errors import RateLimitError
from nylas.testing import LocalEngine

PASSWORD = "correct horse battery staple"
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture
def token_engine(tmp_path) -> Iterator[LocalEngine]:
    engine = LocalEngine(tmp_path, auth="token", env={"TEST_LOGIN_PASSWORD": PASSWORD})
    with engine:
        yield engine


def token_request(engine: LocalEngine, client_id: str, secret: str, code: str) -> httpx.Response:
    form = {
        "client_id": client_id,
        "client_secret": secret,
        "grant_type": "authorization_code",
        "code": code,
    }
    return httpx.post(engine.url + "/oauth/token", data=form)


def login_code(
    engine: LocalEngine, app: dict[str, Any], email: str, password: str
) -> httpx.Response:
    """Submit the /oauth/authorize login form as a browser would."""
    with httpx.Client(base_url=engine.url) as browser:
        query = {"client_id": app["client_id"], "redirect_uri": CALLBACK, "response_type": "code"}
        page = browser.get("/oauth/authorize", params=query)
        hidden = dict(
            re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page.text)
        )
        form = {**hidden, "email": email, "password": password, "action": "allow"}
        return browser.post("/oauth/authorize", data=form)


def code_from(response: httpx.Response) -> str:
    assert response.status_code == 303, response.text
    return re.search(r"[?&]code=([^&]+)", response.headers["location"]).group(1)  # type: ignore[union-attr]


def test_guessing_a_client_secret_gets_429_other_apps_still_served(token_engine):
    target = token_engine.create_app("Target", redirect_uri=CALLBACK)
    other = token_engine.create_app("Other", redirect_uri=CALLBACK)
    user = token_engine.add_account("ann@example.com", password_env="TEST_LOGIN_PASSWORD")

    for _ in range(10):
        wrong = token_request(token_engine, target["client_id"], "guess", "code")
        assert wrong.status_code == 401
    refused = token_request(token_engine, target["client_id"], "guess", "code")
    assert refused.status_code == 429
    assert refused.json()["type"] == "api_error"
    assert "Too many failed" in refused.json()["message"]
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    # While blocked even the right secret is refused, so guessing cannot go on unseen.
    right = token_request(token_engine, target["client_id"], target["client_secret"], "code")
    assert right.status_code == 429

    code = code_from(login_code(token_engine, other, user["email_address"], PASSWORD))
    served = token_request(token_engine, other["client_id"], other["client_secret"], code)
    assert served.status_code == 200, served.text
    assert served.json()["account_id"] == user["id"]


def test_successes_are_not_counted(token_engine):
    app = token_engine.create_app("Busy", redirect_uri=CALLBACK)
    auth = (app["client_secret"], "")
    for _ in range(15):
        assert httpx.get(f"{token_engine.url}/a/{app['client_id']}", auth=auth).status_code == 200


def test_wrong_app_secrets_on_the_app_endpoints(token_engine):
    app = token_engine.create_app("Managed", redirect_uri=CALLBACK)
    base = f"{token_engine.url}/a/{app['client_id']}/accounts"
    for _ in range(10):
        assert httpx.get(base, auth=("wrong", "")).status_code == 401
    refused = httpx.get(base, auth=(app["client_secret"], ""))
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert refused.json()["message"].startswith("Too many failed")
    # A request with no credential at all is not a guess: still a plain 401.
    assert httpx.get(base).status_code == 401


def test_password_guessing_on_the_login_form(token_engine):
    app = token_engine.create_app("Web", redirect_uri=CALLBACK)
    user = token_engine.add_account("bob@example.com", password_env="TEST_LOGIN_PASSWORD")
    for _ in range(10):
        assert login_code(token_engine, app, user["email_address"], "wrong").status_code == 401
    blocked = login_code(token_engine, app, user["email_address"], PASSWORD)
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) >= 1
    assert "Too many failed" in blocked.text
    # Another account's sign-in from the same address goes through.
    carol = token_engine.add_account("carol@example.com", password_env="TEST_LOGIN_PASSWORD")
    assert code_from(login_code(token_engine, app, carol["email_address"], PASSWORD))


def test_wrong_codes_on_connect_token_count_too(token_engine):
    app = token_engine.create_app("Native", redirect_uri=CALLBACK)
    body = {"client_id": app["client_id"], "client_secret": app["client_secret"], "code": "x"}
    for _ in range(10):
        assert httpx.post(token_engine.url + "/connect/token", json=body).status_code == 400
    refused = httpx.post(token_engine.url + "/connect/token", json=body)
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers


def test_sdk_sees_a_rate_limit_error(tmp_path):
    env = {"NYLAS_ENGINE_AUTH_FAILURE_LIMIT": "2"}
    with LocalEngine(tmp_path, auth="token", env=env) as engine:
        app = engine.create_app("Sdk", redirect_uri=CALLBACK)
        for _ in range(2):
            assert token_request(engine, app["client_id"], "guess", "c").status_code == 401
        nylas = APIClient(app["client_id"], "guess", api_server=engine.url, max_retries=0)
        with nylas, pytest.raises(RateLimitError) as raised:
            nylas.token_for_code("c")
        assert raised.value.status_code == 429
        assert raised.value.rate_limit == 2
        assert raised.value.rate_limit_reset is not None and raised.value.rate_limit_reset >= 1


def test_one_address_trying_many_apps_is_stopped_too(tmp_path):
    """Per address, five times the per-target limit over all targets (2 → 10 here); an
    unknown client_id has no secret to guess and is not counted."""
    env = {"NYLAS_ENGINE_AUTH_FAILURE_LIMIT": "2"}
    with LocalEngine(tmp_path, auth="token", env=env) as engine:
        for _ in range(12):
            assert token_request(engine, "no-such-app", "guess", "c").status_code == 401
        apps = [engine.create_app(f"App {n}")["client_id"] for n in range(6)]
        for client_id in apps[:5]:
            for _ in range(2):
                assert token_request(engine, client_id, "guess", "c").status_code == 401
        assert token_request(engine, apps[5], "guess", "c").status_code == 429


def test_another_apps_real_secret_is_a_mix_up_not_a_guess(token_engine):
    mine = token_engine.create_app("Mine", redirect_uri=CALLBACK)
    theirs = token_engine.create_app("Theirs", redirect_uri=CALLBACK)
    base = f"{token_engine.url}/a/{mine['client_id']}"
    for _ in range(15):
        assert httpx.get(base, auth=(theirs["client_secret"], "")).status_code == 401
        wrong = token_request(token_engine, mine["client_id"], theirs["client_secret"], "c")
        assert wrong.status_code == 401
    assert httpx.get(base, auth=(mine["client_secret"], "")).status_code == 200
