"""Two accounts: every mail endpoint given the other account's ids answers like an unknown id."""

from __future__ import annotations

from typing import Any

import pytest
from mailfactory import Mailbox, category_id


@pytest.fixture
def other(engine: Any) -> dict[str, Any]:
    """A second account with a thread, a message, a draft and a user folder of its own."""
    account = engine.new_account()
    box = Mailbox(engine, account)
    message = box.add("Secret plans", from_="spy@x.com", body="the secret word is okapi")
    draft = box.add("Secret draft", from_=account["email_address"], draft=True)
    with engine.client(account["id"]) as client:
        folder = client.post("/folders", json={"display_name": "Hidden"}).json()["id"]
        inbox = category_id(client, "folder", "inbox")
    return {
        "account": account,
        "message": message["id"],
        "thread": message["thread_id"],
        "draft": draft["id"],
        "folder": folder,
        "inbox": inbox,
    }


@pytest.fixture
def mine(engine: Any, account: dict[str, Any]) -> dict[str, Any]:
    message = Mailbox(engine, account).add("Mine", from_="friend@x.com")
    return {"message": message["id"], "thread": message["thread_id"]}


def test_reads_of_the_other_accounts_objects_are_404(api, other, mine):
    for path in (
        f"/threads/{other['thread']}",
        f"/messages/{other['message']}",
        f"/messages/{other['draft']}",
        f"/folders/{other['folder']}",
        f"/folders/{other['inbox']}",
    ):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["type"] == "invalid_request_error"
    raw = api.get(f"/messages/{other['message']}", headers={"Accept": "message/rfc822"})
    assert raw.status_code == 404


def test_writes_to_the_other_accounts_objects_fail(api, other, mine, engine):
    assert api.put(f"/threads/{other['thread']}", json={"unread": False}).status_code == 404
    assert api.patch(f"/messages/{other['message']}", json={"starred": True}).status_code == 404
    assert api.delete(f"/folders/{other['folder']}").status_code == 404
    rename = api.put(f"/folders/{other['folder']}", json={"display_name": "Mine now"})
    assert rename.status_code == 400  # the old engine's answer for an unknown folder id
    assert rename.json()["message"] == f"Couldn't find folder {other['folder']}"

    # Moving my own mail into the other account's folder: that folder does not exist here.
    for body in ({"folder": other["folder"]}, {"folder_id": other["inbox"]}):
        moved = api.put(f"/messages/{mine['message']}", json=body)
        assert moved.status_code == 400
        assert "does not exist" in moved.json()["message"]
        thread = api.put(f"/threads/{mine['thread']}", json=body)
        assert thread.status_code == 400

    with engine.client(other["account"]["id"]) as theirs:
        assert theirs.get(f"/messages/{other['message']}").json()["unread"] is True
        assert theirs.get(f"/folders/{other['folder']}").json()["display_name"] == "Hidden"


def test_lists_filters_and_search_never_show_the_other_account(api, other, mine):
    assert [t["id"] for t in api.get("/threads").json()] == [mine["thread"]]
    assert [m["id"] for m in api.get("/messages").json()] == [mine["message"]]
    assert api.get("/threads", params={"thread_id": other["thread"]}).json() == []
    assert api.get("/messages", params={"thread_id": other["thread"]}).json() == []
    assert api.get("/threads", params={"in": other["folder"]}).json() == []
    assert api.get("/messages", params={"in": other["inbox"]}).json() == []
    assert api.get("/threads", params={"any_email": "spy@x.com"}).json() == []
    assert other["folder"] not in [f["id"] for f in api.get("/folders").json()]
    assert api.get("/messages/search", params={"q": "okapi"}).json() == []
    assert api.get("/threads/search", params={"q": "secret"}).json() == []
    streamed = api.get("/messages/search/streaming", params={"q": "okapi"})
    assert streamed.text.strip() == "[]"
