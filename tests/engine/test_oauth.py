"""OAuth on a token-mode engine (docs/protocol.md §16.1): the login page, code exchange,
revocation."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from nylas.testing import LocalEngine, free_port
from nylas_engine.cli import resolve_auth_mode

PASSWORD = "correct horse battery staple"
CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def token_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    engine = LocalEngine(
        tmp_path_factory.mktemp("oauth"), auth="token", env={"TEST_LOGIN_PASSWORD": PASSWORD}
    )
    with engine:
        yield engine


@pytest.fixture
def app(token_engine: LocalEngine) -> dict[str, Any]:
    return token_engine.create_app("Mail Reader", redirect_uri=CALLBACK)


@pytest.fixture
def user(token_engine: LocalEngine) -> dict[str, Any]:
    email = f"user{time.monotonic_ns()}@example.com"
    return token_engine.add_account(email, password_env="TEST_LOGIN_PASSWORD")


def hidden_fields(page: str) -> dict[str, str]:
    """What a browser would submit from the page's hidden inputs."""
    found = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', page)
    return {html.unescape(name): html.unescape(value) for name, value in found}


def open_login_page(browser: httpx.Client, app: dict[str, Any], **params: str) -> httpx.Response:
    query = {"client_id": app["client_id"], "redirect_uri": CALLBACK, "response_type": "code"}
    return browser.get("/oauth/authorize", params={**query, **params})


def sign_in(
    engine: LocalEngine, app: dict[str, Any], email: str, password: str = PASSWORD, **params: str
) -> httpx.Response:
    """Open the login page in a fresh 'browser', fill in the form and submit it."""
    with httpx.Client(base_url=engine.url, timeout=30) as browser:
        page = open_login_page(browser, app, **params)
        assert page.status_code == 200, page.text
        form = {**hidden_fields(page.text), "email": email, "password": password}
        return browser.post("/oauth/authorize", data={**form, "action": "allow"})


def callback_params(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(CALLBACK + "?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def exchange(
    engine: LocalEngine, app: dict[str, Any], code: str, **override: str
) -> httpx.Response:
    form = {
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "grant_type": "authorization_code",
        "code": code,
        **override,
    }
    return httpx.post(engine.url + "/oauth/token", data=form)


def test_code_flow_gives_a_token_that_opens_only_its_account(token_engine, app, user):
    with httpx.Client(base_url=token_engine.url) as browser:
        page = open_login_page(browser, app, login_hint=user["email_address"], state="xyz")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "Mail Reader" in page.text
        assert f'value="{user["email_address"]}"' in page.text  # login_hint prefills the email

    redirect = sign_in(token_engine, app, user["email_address"], state="xyz")
    params = callback_params(redirect)
    assert params["state"] == "xyz"

    response = exchange(token_engine, app, params["code"])
    assert response.status_code == 200, response.text
    grant = response.json()
    assert grant["account_id"] == user["id"]
    assert grant["email_address"] == user["email_address"]
    assert grant["provider"] == "custom"
    assert grant["token_type"] == "bearer"

    token = grant["access_token"]
    bearer = httpx.get(token_engine.url + "/account", headers={"Authorization": f"Bearer {token}"})
    assert bearer.status_code == 200
    assert bearer.json()["id"] == user["id"]
    basic = httpx.get(token_engine.url + "/account/", auth=(token, ""))
    assert basic.status_code == 200

    # Token mode: the account id is not a credential, and the open account list is gone.
    assert httpx.get(token_engine.url + "/account", auth=(user["id"], "")).status_code == 401
    assert httpx.get(token_engine.url + "/accounts").status_code == 404

    reused = exchange(token_engine, app, params["code"])
    assert reused.status_code == 400
    assert set(reused.json()) == {"message", "type"}
    # A code that comes back may have leaked: the token it bought is revoked (RFC 6749 4.1.2).
    after = httpx.get(token_engine.url + "/account", headers={"Authorization": f"Bearer {token}"})
    assert after.status_code == 401


def test_token_exchange_rejects_wrong_secret_unknown_code_and_other_apps(token_engine, app, user):
    code = callback_params(sign_in(token_engine, app, user["email_address"]))["code"]

    wrong_secret = exchange(token_engine, app, code, client_secret="not-the-secret")
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["type"] == "invalid_request_error"

    other = token_engine.create_app("Other", redirect_uri=CALLBACK)
    assert exchange(token_engine, other, code).status_code == 400
    assert exchange(token_engine, app, "made-up-code").status_code == 400
    missing = httpx.post(token_engine.url + "/oauth/token", data={"client_id": app["client_id"]})
    assert missing.status_code == 400
    assert "client_secret" in missing.json()["message"]

    # The failed attempts did not use the code up.
    assert exchange(token_engine, app, code).status_code == 200


def test_token_endpoint_reads_a_form_or_json_never_the_query_string(token_engine, app, user):
    """Issue 10: the client secret in a query string lands in access logs. Such a request
    is refused with a 400 and not processed: its code still works afterwards."""
    first = callback_params(sign_in(token_engine, app, user["email_address"]))["code"]
    fields = {
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "grant_type": "authorization_code",
    }
    url = token_engine.url + "/oauth/token"
    by_query = httpx.get(url, params={**fields, "code": first})
    assert by_query.status_code == 400
    assert by_query.json() == {
        "message": "client_secret may not be sent in the query string, where logs keep it: "
        "send it in the request body (or the Authorization header)",
        "type": "invalid_request_error",
    }
    posted_query = httpx.post(url, params={**fields, "code": first})
    assert posted_query.status_code == 400
    secret_only = httpx.post(
        url, params={"client_secret": app["client_secret"]}, data={**fields, "code": first}
    )
    assert secret_only.status_code == 400

    by_form = httpx.post(url, data={**fields, "code": first})
    assert by_form.status_code == 200
    assert by_form.json()["account_id"] == user["id"]
    second = callback_params(sign_in(token_engine, app, user["email_address"]))["code"]
    by_json = httpx.post(url, json={**fields, "code": second})
    assert by_json.status_code == 200
    assert by_json.json()["access_token"] != by_form.json()["access_token"]


def test_wrong_password_shows_the_page_again(token_engine, app, user):
    response = sign_in(token_engine, app, user["email_address"], password="wrong", state="s1")
    assert response.status_code == 401
    assert "location" not in response.headers
    assert "Wrong email address or password." in response.text
    assert f'value="{user["email_address"]}"' in response.text
    # Same answer for an email that has no account.
    unknown = sign_in(token_engine, app, "nobody@example.com", password="wrong")
    assert unknown.status_code == 401 and "Wrong email address or password." in unknown.text


def test_redirect_on_error_sends_the_error_to_the_app(token_engine, app, user):
    response = sign_in(
        token_engine,
        app,
        user["email_address"],
        password="wrong",
        state="s2",
        redirect_on_error="true",
    )
    params = callback_params(response)
    assert params["error"] == "invalid_credentials"
    assert params["reason"] and params["state"] == "s2"
    assert "code" not in params

    with httpx.Client(base_url=token_engine.url) as browser:
        bad_type = open_login_page(browser, app, response_type="id_token", redirect_on_error="true")
        assert callback_params(bad_type)["error"] == "unsupported_response_type"
        page = open_login_page(browser, app, response_type="id_token")
        assert page.status_code == 400 and "location" not in page.headers
        # A scope the engine does not know is refused, not granted as nothing.
        bad_scope = open_login_page(
            browser, app, scopes="email,email.metadata", redirect_on_error="true"
        )
        refused = callback_params(bad_scope)
        assert refused["error"] == "invalid_scope"
        assert "email.metadata" in refused["reason"]
        page = open_login_page(browser, app, scopes="calendar,calender")
        assert page.status_code == 400 and "calender" in page.text


def test_cancel_returns_access_denied(token_engine, app, user):
    with httpx.Client(base_url=token_engine.url) as browser:
        page = open_login_page(browser, app, state="s3")
        response = browser.post(
            "/oauth/authorize", data={**hidden_fields(page.text), "action": "deny"}
        )
    params = callback_params(response)
    assert params["error"] == "access_denied" and params["state"] == "s3"


def test_unknown_app_or_unregistered_redirect_uri_never_redirects(token_engine, app, user):
    with httpx.Client(base_url=token_engine.url) as browser:
        evil = open_login_page(browser, app, redirect_uri="https://evil.example/steal")
        assert evil.status_code == 400
        assert "location" not in evil.headers
        assert "not registered" in evil.text

        missing = browser.get("/oauth/authorize", params={"client_id": app["client_id"]})
        assert missing.status_code == 400

        unknown = browser.get(
            "/oauth/authorize", params={"client_id": "nope", "redirect_uri": CALLBACK}
        )
        assert unknown.status_code == 400
        assert "Unknown client_id" in unknown.text

        # Tampering with the form's hidden redirect_uri is caught the same way.
        page = open_login_page(browser, app)
        form = {**hidden_fields(page.text), "redirect_uri": "https://evil.example/steal"}
        form.update(email=user["email_address"], password=PASSWORD, action="allow")
        tampered = browser.post("/oauth/authorize", data=form)
        assert tampered.status_code == 400
        assert "location" not in tampered.headers


def test_hostile_state_is_escaped_in_the_page_and_returned_intact(token_engine, app, user):
    hostile = '"><script>alert(1)</script><img src=x onerror=alert(2)>'
    with httpx.Client(base_url=token_engine.url) as browser:
        page = open_login_page(browser, app, state=hostile, login_hint=hostile)
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "<img src=x" not in page.text
    assert html.escape(hostile) in page.text
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    params = callback_params(sign_in(token_engine, app, user["email_address"], state=hostile))
    assert params["state"] == hostile


def test_form_posted_without_the_pages_cookie_is_refused(token_engine, app, user):
    with httpx.Client(base_url=token_engine.url) as browser:
        form = hidden_fields(open_login_page(browser, app).text)
    form.update(email=user["email_address"], password=PASSWORD, action="allow")
    # A different browser (as a cross-site post would be): no CSRF cookie.
    with httpx.Client(base_url=token_engine.url) as other:
        forged = other.post("/oauth/authorize", data=form)
        assert forged.status_code == 400
        assert "location" not in forged.headers
        # Its own cookie with a nonce that differs from the form's is refused too.
        open_login_page(other, app)
        assert other.post("/oauth/authorize", data=form).status_code == 400


def test_implicit_flow_puts_the_token_in_the_fragment(token_engine, app, user):
    response = sign_in(token_engine, app, user["email_address"], response_type="token", state="i")
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert location.query == ""
    fragment = {k: v[0] for k, v in parse_qs(location.fragment).items()}
    assert fragment["state"] == "i"
    account = httpx.get(token_engine.url + "/account", auth=(fragment["access_token"], ""))
    assert account.json()["email_address"] == user["email_address"]


def test_revoke_makes_the_token_401(token_engine, app, user):
    code = callback_params(sign_in(token_engine, app, user["email_address"]))["code"]
    token = exchange(token_engine, app, code).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert httpx.get(token_engine.url + "/account", headers=headers).status_code == 200

    revoked = httpx.post(token_engine.url + "/oauth/revoke", headers=headers)
    assert revoked.status_code == 200
    assert revoked.json() == {"success": True}
    after = httpx.get(token_engine.url + "/account", headers=headers)
    assert after.status_code == 401
    assert after.json()["message"] == "Could not verify access credential."
    assert httpx.post(token_engine.url + "/oauth/revoke", headers=headers).status_code == 401


def test_cli_issues_tokens_without_the_browser(token_engine, user):
    token = token_engine.cli("tokens", "create", user["email_address"]).strip()
    account = httpx.get(token_engine.url + "/account", auth=(token, ""))
    assert account.status_code == 200 and account.json()["id"] == user["id"]
    # Basic with the token as username, as curl users send it, revokes it too.
    assert httpx.post(token_engine.url + "/oauth/revoke", auth=(token, "")).status_code == 200
    assert httpx.get(token_engine.url + "/account", auth=(token, "")).status_code == 401


def test_open_mode_off_loopback_refuses_to_start(tmp_path):
    assert resolve_auth_mode("127.0.0.1", None, False) == "open"
    assert resolve_auth_mode("0.0.0.0", None, False) == "token"
    done = subprocess.run(
        [sys.executable, "-m", "nylas_engine", "--data-dir", str(tmp_path), "serve"]
        + ["--host", "0.0.0.0", "--port", str(free_port()), "--auth", "open"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "refusing to serve in open mode on 0.0.0.0" in done.stderr
    assert "--auth token" in done.stderr
