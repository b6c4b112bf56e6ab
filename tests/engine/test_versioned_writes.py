"""Writes that name a draft `version` are compare-and-set in the database: of N concurrent
writers holding the same version exactly one wins and the others get 409 (or, once the
winner has deleted or sent the draft, the answer for a draft that is gone or sent)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

WRITERS = 10


def race(engine, token: str, request: Callable[[httpx.Client, int], httpx.Response]) -> list:
    """Run `request(client, i)` for i in 0..WRITERS-1 at once, each on its own connection."""
    clients = [engine.client(token) for _ in range(WRITERS)]
    for client in clients:  # connected before the start, so the requests really overlap
        client.get("/account")
    barrier = threading.Barrier(WRITERS)

    def one(i: int) -> httpx.Response:
        barrier.wait()
        return request(clients[i], i)

    try:
        with ThreadPoolExecutor(WRITERS) as pool:
            return list(pool.map(one, range(WRITERS)))
    finally:
        for client in clients:
            client.close()


def test_concurrent_updates_of_one_version_have_one_winner(engine, api, account):
    draft = api.post("/drafts", json={"subject": "start"}).json()
    path = f"/drafts/{draft['id']}"
    replies = race(
        engine,
        account["id"],
        lambda client, i: client.put(path, json={"version": 0, "subject": f"writer {i}"}),
    )
    statuses = Counter(r.status_code for r in replies)
    assert statuses == {200: 1, 409: WRITERS - 1}, [r.text for r in replies]
    [winner] = [r.json() for r in replies if r.status_code == 200]
    assert winner["version"] == 1
    for loser in (r for r in replies if r.status_code == 409):
        assert loser.json()["type"] == "invalid_request_error"
        assert "has already been updated" in loser.json()["message"]
    stored = api.get(path).json()
    assert (stored["subject"], stored["version"]) == (winner["subject"], 1)


def test_concurrent_deletes_of_one_version_have_one_winner(engine, api, account):
    draft = api.post("/drafts", json={"subject": "to delete"}).json()
    path = f"/drafts/{draft['id']}"
    replies = race(
        engine, account["id"], lambda client, i: client.request("DELETE", path, json={"version": 0})
    )
    statuses = Counter(r.status_code for r in replies)
    assert statuses[200] == 1, [r.text for r in replies]
    assert set(statuses) <= {200, 409, 404}  # 404: asked after the draft was gone
    assert api.get(path).status_code == 404


def test_concurrent_sends_of_one_version_send_once(engine, sender, listener):
    with engine.client(sender["id"]) as api:
        draft = api.post("/drafts", json={"subject": "once", "to": [{"email": "a@x.com"}]}).json()
        replies = race(
            engine,
            sender["id"],
            lambda client, i: client.post("/send", json={"draft_id": draft["id"], "version": 0}),
        )
        statuses = Counter(r.status_code for r in replies)
        assert statuses[200] == 1, [r.text for r in replies]
        # 409: the version was claimed; 400: asked once the draft had become a sent message
        assert set(statuses) <= {200, 409, 400}, [r.text for r in replies]
        assert len(listener.messages) == 1
        assert api.get(f"/messages/{draft['id']}").json()["object"] == "message"


def test_an_update_racing_a_send_of_the_same_version_loses(engine, sender, listener):
    with engine.client(sender["id"]) as api:
        draft = api.post("/drafts", json={"subject": "sent as is", "to": [{"email": "a@x.com"}]})
        draft_id = draft.json()["id"]
        sent = api.post("/send", json={"draft_id": draft_id, "version": 0})
        assert sent.status_code == 200
        late = api.put(f"/drafts/{draft_id}", json={"version": 0, "subject": "too late"})
        assert late.status_code == 400  # no longer a draft
        assert listener.messages[0].message["Subject"] == "sent as is"


def test_a_send_that_fails_gives_the_version_back(engine, api):
    # The account of `api` has no SMTP server: the send fails before anything goes out.
    draft = api.post("/drafts", json={"subject": "s", "to": [{"email": "a@x.com"}]}).json()
    failed = api.post("/send", json={"draft_id": draft["id"], "version": 0})
    assert failed.status_code == 400
    updated = api.put(f"/drafts/{draft['id']}", json={"version": 0, "subject": "again"})
    assert (updated.status_code, updated.json()["version"]) == (200, 1)
