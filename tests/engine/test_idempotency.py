"""Idempotency-Key: a retried write returns the first reply and does nothing twice."""

import httpx


def test_same_key_replays_the_first_reply_and_creates_once(api):
    headers = {"Idempotency-Key": "create-folder-1"}
    first = api.post("/folders", json={"display_name": "Once"}, headers=headers)
    again = api.post("/folders", json={"display_name": "Once"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    names = [f["display_name"] for f in api.get("/folders").json()]
    assert names.count("Once") == 1


def test_a_new_key_is_a_new_request(api):
    one = api.post("/folders", json={"display_name": "A"}, headers={"Idempotency-Key": "k-a"})
    two = api.post("/folders", json={"display_name": "B"}, headers={"Idempotency-Key": "k-b"})
    assert one.json()["id"] != two.json()["id"]


def test_error_replies_are_replayed_too_but_not_across_accounts(engine, api):
    bad = api.post("/folders", json={"display_name": 5}, headers={"Idempotency-Key": "bad-1"})
    assert bad.status_code == 400
    again = api.post("/folders", json={"display_name": 5}, headers={"Idempotency-Key": "bad-1"})
    assert (again.status_code, again.json()) == (400, bad.json())

    other = engine.new_account()
    with engine.client(other["id"]) as client:
        mine = client.post(
            "/folders", json={"display_name": "Other"}, headers={"Idempotency-Key": "bad-1"}
        )
        assert mine.status_code == 200
        assert mine.json()["display_name"] == "Other"
        assert "idempotent-replayed" not in mine.headers


def test_requests_without_credentials_are_never_replayed(engine):
    data = {"client_id": "nope", "client_secret": "nope", "code": "x"}
    key = {"Idempotency-Key": "anon-1"}
    first = httpx.post(engine.url + "/oauth/token", data=data, headers=key)
    second = httpx.post(engine.url + "/oauth/token", data=data, headers=key)
    assert first.status_code >= 400 and second.status_code >= 400
    assert "idempotent-replayed" not in second.headers
