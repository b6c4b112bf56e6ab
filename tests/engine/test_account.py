"""GET /account and /accounts, authentication forms and auth errors (docs/protocol.md §1.2, §5)."""

import base64


def test_account_with_bearer_and_basic(engine, account):
    import httpx

    bearer = httpx.get(
        engine.url + "/account", headers={"Authorization": f"Bearer {account['id']}"}
    )
    assert bearer.status_code == 200
    body = bearer.json()
    assert body["id"] == account["id"] == body["account_id"]
    assert body["object"] == "account"
    assert body["email_address"] == account["email_address"]
    assert body["organization_unit"] == "folder"
    assert body["sync_state"] == "running"

    basic = base64.b64encode(f"{account['id']}:".encode()).decode()
    again = httpx.get(engine.url + "/account/", headers={"Authorization": f"Basic {basic}"})
    assert again.json() == body


def test_missing_or_unknown_token_is_401_json(engine):
    import httpx

    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic !!"}):
        response = httpx.get(engine.url + "/account", headers=headers)
        assert response.status_code == 401
        assert response.json() == {
            "message": "Could not verify access credential.",
            "type": "invalid_request_error",
        }
        assert response.headers["www-authenticate"].startswith("Basic")


def test_open_mode_lists_accounts_without_auth(engine, account):
    import httpx

    listed = httpx.get(engine.url + "/accounts", params={"limit": 1000}).json()
    assert account["id"] in [a["id"] for a in listed]
    one = httpx.get(
        engine.url + "/accounts", params={"email_address": account["email_address"]}
    ).json()
    assert [a["id"] for a in one] == [account["id"]]
    count = httpx.get(engine.url + "/accounts", params={"view": "count"}).json()
    assert count["count"] >= 1


def test_bad_paging_and_unknown_routes_are_json_4xx(api):
    for params, message in (
        ({"limit": "x"}, "Limit parameter must be an integer."),
        ({"limit": "-1"}, "Limit parameter must be nonnegative."),
        ({"limit": "1001"}, "Cannot request more than 1000 resources at once."),
    ):
        response = api.get("/accounts", params=params)
        assert response.status_code == 400
        assert response.json()["message"] == message
    missing = api.get("/no-such-thing")
    assert missing.status_code == 404 and missing.json()["type"] == "api_error"


def test_openapi_is_served(engine):
    import httpx

    spec = httpx.get(engine.url + "/openapi.json").json()
    assert "/account" in spec["paths"]


def test_every_reply_carries_a_request_id(engine, api):
    import httpx

    fresh = api.get("/account")
    assert len(fresh.headers["x-request-id"]) >= 16
    assert api.get("/account").headers["x-request-id"] != fresh.headers["x-request-id"]
    echoed = httpx.get(engine.url + "/account", headers={"X-Request-Id": "trace-123"})
    assert echoed.status_code == 401
    assert echoed.headers["x-request-id"] == "trace-123"
