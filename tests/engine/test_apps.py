"""Application-level endpoints /a/{client_id}/... (docs/protocol.md §16.3, §16.4) on a
token-mode engine."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from nylas.testing import LocalEngine

CALLBACK = "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def token_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalEngine]:
    with LocalEngine(tmp_path_factory.mktemp("apps"), auth="token") as engine:
        yield engine


class App:
    """An app on the engine, with a client authenticated by its secret (Basic `secret:`)."""

    def __init__(self, engine: LocalEngine, name: str = "Manager") -> None:
        self.engine = engine
        created = engine.create_app(name, redirect_uri=CALLBACK)
        self.client_id: str = created["client_id"]
        self.secret: str = created["client_secret"]
        self.base = f"/a/{self.client_id}"
        self.admin = httpx.Client(base_url=engine.url, auth=(self.secret, ""), timeout=30)

    def connect(self, email: str | None = None) -> tuple[str, str]:
        """A new account with a token issued for this app: (account id, token)."""
        email = email or f"user{time.monotonic_ns()}@example.com"
        account = self.engine.add_account(email)
        return account["id"], self.token(account["id"])

    def token(self, account_id: str) -> str:
        return self.engine.cli("tokens", "create", account_id, "--app", self.client_id).strip()


@pytest.fixture
def app(token_engine: LocalEngine) -> Iterator[App]:
    app = App(token_engine)
    yield app
    app.admin.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_application_details_and_ip_addresses(app):
    details = app.admin.get(app.base)
    assert details.status_code == 200
    assert details.json() == {
        "application_name": "Manager",
        "icon_url": None,
        "redirect_uris": [CALLBACK],
    }
    updated = app.admin.put(
        app.base,
        json={"application_name": "Renamed", "redirect_uris": [CALLBACK, "myapp://done"]},
    )
    assert updated.json()["application_name"] == "Renamed"
    assert app.admin.get(app.base).json() == {
        "application_name": "Renamed",
        "icon_url": None,
        "redirect_uris": [CALLBACK, "myapp://done"],
    }
    bad = app.admin.put(app.base, json={"redirect_uris": ["not a uri"]})
    assert bad.status_code == 400

    ips = app.admin.get(app.base + "/ip_addresses").json()
    assert ips["ip_addresses"] == ["127.0.0.1"]
    assert isinstance(ips["updated_at"], int)


def test_wrong_client_credentials_are_401_json(token_engine, app):
    url = token_engine.url + app.base + "/accounts"
    for auth in (("wrong-secret", ""), (app.client_id, "wrong-secret"), None):
        response = httpx.get(url, auth=auth)
        assert response.status_code == 401
        assert response.json()["message"] == "Could not verify access credential."
    unknown = httpx.get(token_engine.url + "/a/unknownclient/accounts", auth=(app.secret, ""))
    assert unknown.status_code == 401
    # Basic client_id:client_secret works as well as Basic secret:.
    assert httpx.get(url, auth=(app.client_id, app.secret)).status_code == 200


def test_accounts_are_those_with_a_token_for_the_app(token_engine, app):
    first_id, _ = app.connect()
    second_id, _ = app.connect()
    stranger = token_engine.add_account(f"stranger{time.monotonic_ns()}@example.com")

    listed = app.admin.get(app.base + "/accounts").json()
    assert [a["id"] for a in listed] == [first_id, second_id]
    one = listed[0]
    assert one["account_id"] == first_id
    assert one["email"].startswith("user")
    assert one["billing_state"] == "paid"
    assert one["sync_state"] == "running"
    assert one["trial"] is False
    assert app.admin.get(app.base + "/accounts", params={"limit": 1, "offset": 1}).json() == [
        listed[1]
    ]
    assert app.admin.get(app.base + "/accounts", params={"view": "count"}).json() == {"count": 2}

    assert app.admin.get(f"{app.base}/accounts/{first_id}").json() == one
    missing = app.admin.get(f"{app.base}/accounts/{stranger['id']}")
    assert missing.status_code == 404


def test_downgrade_blocks_data_until_upgrade(token_engine, app):
    account_id, token = app.connect()
    assert httpx.get(token_engine.url + "/account", headers=bearer(token)).status_code == 200

    down = app.admin.post(f"{app.base}/accounts/{account_id}/downgrade")
    assert down.status_code == 200
    assert down.json()["success"] is True
    assert down.json()["billing_state"] == "cancelled"
    assert down.json()["id"] == account_id
    blocked = httpx.get(token_engine.url + "/account", headers=bearer(token))
    assert blocked.status_code == 403
    listed = app.admin.get(f"{app.base}/accounts/{account_id}").json()
    assert listed["billing_state"] == "cancelled"

    up = app.admin.post(f"{app.base}/accounts/{account_id}/upgrade")
    assert up.json()["billing_state"] == "paid" and up.json()["success"] is True
    again = httpx.get(token_engine.url + "/account", headers=bearer(token))
    assert again.status_code == 200
    assert again.json()["billing_state"] == "paid"
    assert again.json()["sync_state"] == "running"


def test_revoke_all_keeps_only_the_named_token(token_engine, app):
    account_id, kept = app.connect()
    others = [app.token(account_id), app.token(account_id)]
    other_app = App(token_engine, "Other")
    foreign = other_app.token(account_id)

    def status(token: str) -> int:
        return httpx.get(token_engine.url + "/account", headers=bearer(token)).status_code

    # Each used once first: a token that just worked is refused as soon as it is revoked.
    assert [status(t) for t in [kept, *others, foreign]] == [200] * 4
    response = app.admin.post(
        f"{app.base}/accounts/{account_id}/revoke-all", json={"keep_access_token": kept}
    )
    assert response.json() == {"success": True}

    assert status(kept) == 200
    assert [status(t) for t in others] == [401, 401]
    assert status(foreign) == 200  # another app's tokens are that app's business

    app.admin.post(f"{app.base}/accounts/{account_id}/revoke-all")
    assert status(kept) == 401
    other_app.admin.close()


def test_token_info(token_engine, app):
    account_id, token = app.connect()
    url = f"{app.base}/accounts/{account_id}/token-info"
    info = app.admin.post(url, json={"access_token": token})
    assert info.status_code == 200
    body = info.json()
    assert set(body) == {"created_at", "updated_at", "scopes", "state"}
    assert body["state"] == "valid"
    assert body["scopes"] == "email,calendar,contacts"

    httpx.post(token_engine.url + "/oauth/revoke", headers=bearer(token))
    assert app.admin.post(url, json={"access_token": token}).json()["state"] == "invalid"
    assert app.admin.post(url, json={"access_token": "unknown"}).status_code == 404
    assert app.admin.post(url, json={}).status_code == 400


def test_an_access_token_is_refused_on_every_app_route(token_engine, app):
    """Issue 10: a contacts.read_only token of app A could downgrade its account through
    /a/A/..., cutting every app off. /a/ routes take the client secret only."""
    account_id = token_engine.add_account(f"ro{time.monotonic_ns()}@example.com")["id"]
    token = token_engine.cli(
        "tokens", "create", account_id, "--app", app.client_id, "--scopes", "contacts.read_only"
    ).strip()
    full_id, full_token = app.connect()
    url = token_engine.url
    for credentials in (bearer(token), bearer(full_token), {"Authorization": f"bearer {token}"}):
        for what in (account_id, full_id):
            down = httpx.post(f"{url}{app.base}/accounts/{what}/downgrade", headers=credentials)
            assert down.status_code == 401, down.text
            assert down.json()["type"] == "invalid_request_error"
    basic = httpx.post(f"{url}{app.base}/accounts/{account_id}/downgrade", auth=(token, ""))
    assert basic.status_code == 401

    # Nothing changed: the accounts are paid and their tokens still read what they may.
    for each in (account_id, full_id):
        assert app.admin.get(f"{app.base}/accounts/{each}").json()["billing_state"] == "paid"
    assert httpx.get(url + "/contacts", headers=bearer(token)).status_code == 200
    assert httpx.get(url + "/account", headers=bearer(full_token)).status_code == 200

    for method, path in (
        ("GET", app.base),
        ("GET", app.base + "/accounts"),
        ("GET", f"{app.base}/accounts/{full_id}"),
        ("POST", f"{app.base}/accounts/{full_id}/upgrade"),
        ("PUT", f"{app.base}/accounts/{full_id}"),
        ("DELETE", f"{app.base}/accounts/{full_id}"),
        ("GET", app.base + "/webhooks"),
        ("POST", f"{app.base}/accounts/{full_id}/revoke-all"),
        ("POST", f"{app.base}/accounts/{full_id}/token-info"),
    ):
        body = {} if method in ("POST", "PUT") else None
        response = httpx.request(method, url + path, headers=bearer(full_token), json=body)
        assert response.status_code == 401, (method, path)
    assert httpx.get(url + "/account", headers=bearer(full_token)).status_code == 200

    # The secret of app A does not open app B either.
    other = App(token_engine, "Other")
    assert httpx.get(f"{url}{other.base}/accounts", auth=(app.secret, "")).status_code == 401
    other.admin.close()


def test_metadata_and_disconnecting_an_account(token_engine, app):
    account_id, token = app.connect()
    updated = app.admin.put(f"{app.base}/accounts/{account_id}", json={"metadata": {"plan": "pro"}})
    assert updated.json()["metadata"] == {"plan": "pro"}
    assert app.admin.get(f"{app.base}/accounts/{account_id}").json()["metadata"] == {"plan": "pro"}
    assert (
        app.admin.put(f"{app.base}/accounts/{account_id}", json={"metadata": 3}).status_code == 400
    )

    deleted = app.admin.delete(f"{app.base}/accounts/{account_id}")
    assert deleted.json() == {"success": True}
    assert app.admin.get(f"{app.base}/accounts/{account_id}").status_code == 404
    assert httpx.get(token_engine.url + "/account", headers=bearer(token)).status_code == 401


def test_webhooks_crud(token_engine, app):
    created = app.admin.post(
        app.base + "/webhooks",
        json={
            "callback_url": "https://example.com/hook",
            "triggers": ["message.created", "thread.replied"],
            "state": "active",
        },
    )
    assert created.status_code == 200
    hook = created.json()
    assert hook["application_id"] == app.client_id
    assert hook["callback_url"] == "https://example.com/hook"
    assert hook["triggers"] == ["message.created", "thread.replied"]
    assert hook["state"] == "active"

    assert app.admin.get(app.base + "/webhooks").json() == [hook]
    assert app.admin.get(f"{app.base}/webhooks/{hook['id']}").json() == hook

    # PUT changes only the state.
    changed = app.admin.put(
        f"{app.base}/webhooks/{hook['id']}",
        json={"state": "inactive", "callback_url": "https://evil.example/"},
    ).json()
    assert changed["state"] == "inactive"
    assert changed["callback_url"] == "https://example.com/hook"
    assert changed["version"] == hook["version"] + 1

    other = App(token_engine, "Other")
    assert other.admin.get(f"{other.base}/webhooks/{hook['id']}").status_code == 404
    assert other.admin.get(other.base + "/webhooks").json() == []
    other.admin.close()

    assert app.admin.delete(f"{app.base}/webhooks/{hook['id']}").json() == {"success": True}
    assert app.admin.get(f"{app.base}/webhooks/{hook['id']}").status_code == 404

    for bad in (
        {"callback_url": "ftp://example.com", "triggers": ["message.created"]},
        {"callback_url": "https://example.com/h", "triggers": []},
        {"callback_url": "https://example.com/h", "triggers": ["message.exploded"]},
        {"callback_url": "https://example.com/h", "triggers": ["message.created"], "state": "x"},
    ):
        response = app.admin.post(app.base + "/webhooks", json=bad)
        assert response.status_code == 400, bad
        assert set(response.json()) == {"message", "type"}


def test_open_mode_serves_apps_and_issued_tokens(engine, account):
    created = engine.create_app("Open App", redirect_uri=CALLBACK)
    token = engine.cli("tokens", "create", account["id"], "--app", created["client_id"]).strip()
    assert httpx.get(engine.url + "/account", headers=bearer(token)).json()["id"] == account["id"]
    listed = httpx.get(
        f"{engine.url}/a/{created['client_id']}/accounts", auth=(created["client_secret"], "")
    )
    assert [a["id"] for a in listed.json()] == [account["id"]]
