"""Drafts (docs/protocol.md §8): create, validation, replies, attachments, versioned update and
delete, list filters, and isolation between accounts."""

from __future__ import annotations

import time

import pytest
from mailfactory import Mailbox


def folder_name(item: dict) -> str | None:
    return item["folder"]["name"] if item.get("folder") else None


def create(api, **body) -> dict:
    response = api.post("/drafts", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_new_draft_defaults_and_where_it_shows(api, account):
    before = int(time.time())
    draft = create(api, subject="Plans", body="<p>Hi <b>there</b></p>", to=[{"email": "a@x.com"}])
    after = int(time.time())
    assert draft["object"] == "draft"
    assert draft["account_id"] == account["id"]
    assert draft["version"] == 0
    assert draft["unread"] is False and draft["starred"] is False
    assert draft["from"] == [{"name": "Test User", "email": account["email_address"]}]
    assert draft["to"] == [{"name": "", "email": "a@x.com"}]
    assert draft["snippet"] == "Hi there"
    assert draft["reply_to_message_id"] is None
    assert before <= draft["date"] <= after
    assert folder_name(draft) == "drafts"
    assert draft["thread_id"]

    assert api.get(f"/drafts/{draft['id']}").json() == draft
    assert [d["id"] for d in api.get("/drafts").json()] == [draft["id"]]
    assert api.get("/messages").json() == []
    thread = api.get(f"/threads/{draft['thread_id']}").json()
    assert thread["draft_ids"] == [draft["id"]]
    assert thread["message_ids"] == []
    assert thread["subject"] == "Plans"


def test_empty_body_makes_an_empty_draft(api):
    draft = create(api)
    assert (draft["subject"], draft["body"], draft["to"], draft["files"]) == ("", "", [], [])


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"to": "a@x.com"}, "Invalid to field"),
        ({"cc": [{"name": "no email"}]}, "Invalid cc field"),
        ({"bcc": [{"email": 5}]}, "Invalid bcc field"),
        ({"to": [{"email": "a@x.com", "name": 7}]}, "Invalid to field"),
        ({"to": ["a@x.com"]}, "Invalid to field"),
        (
            {"from": [{"email": "a@x.com"}, {"email": "b@x.com"}]},
            "from_addr field can have at most one item",
        ),
        (
            {"reply_to": [{"email": "a@x.com"}, {"email": "b@x.com"}]},
            "reply_to field can have at most one item",
        ),
        ({"subject": 5}, '"subject" should be a string'),
        ({"body": ["x"]}, '"body" should be a string'),
        ({"file_ids": "abc"}, "'abc' is not a list of block ids"),
        ({"file_ids": ["nosuchfile"]}, "Invalid block public id nosuchfile"),
        ({"thread_id": "nosuchthread"}, "Invalid thread public id nosuchthread"),
        ({"thread_id": "bad id!"}, "Invalid thread public id bad id!"),
        ({"reply_to_message_id": "nosuchmsg"}, "Invalid message public id nosuchmsg"),
        ({"metadata": "x"}, "'metadata' must be an object of string keys and string values."),
    ],
)
def test_create_validation_errors(api, body, message):
    response = api.post("/drafts", json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message, "type": "invalid_request_error"}
    assert api.get("/drafts", params={"view": "count"}).json() == {"count": 0}


def test_malformed_json_is_400(api):
    response = api.post("/drafts", content=b"{nope", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert api.post("/drafts", json=[1, 2]).status_code == 400


def test_reply_to_a_message_joins_its_thread(engine, api, account):
    box = Mailbox(engine, account)
    first = box.add("Lunch?", from_="Ann <ann@x.com>")
    other = box.add("Unrelated", from_="bob@y.com")

    reply = create(api, reply_to_message_id=first["id"], body="Yes", to=[{"email": "ann@x.com"}])
    assert reply["thread_id"] == first["thread_id"]
    assert reply["reply_to_message_id"] == first["id"]
    assert reply["subject"] == "Lunch?"  # taken from the message replied to

    in_thread = create(api, thread_id=first["thread_id"], subject="Re: Lunch?")
    assert in_thread["thread_id"] == first["thread_id"]
    thread = api.get(f"/threads/{first['thread_id']}").json()
    assert set(thread["draft_ids"]) == {reply["id"], in_thread["id"]}
    assert thread["subject"] == "Lunch?"  # drafts do not rename a thread with mail in it

    mismatch = api.post(
        "/drafts", json={"thread_id": other["thread_id"], "reply_to_message_id": first["id"]}
    )
    assert mismatch.status_code == 400
    assert mismatch.json()["message"] == (
        f"Message {first['id']} is not in thread {other['thread_id']}"
    )


def test_files_attach_inline_and_block_deletion(engine, api):
    [doc, logo] = api.post(
        "/files",
        files=[
            ("file", ("doc.pdf", b"%PDF-1.4 doc", "application/pdf")),
            ("file", ("logo.png", b"\x89PNG logo", "image/png")),
        ],
    ).json()
    draft = create(
        api,
        body=f'<p>See <img src="cid:{logo["id"]}"></p>',
        file_ids=[doc["id"], logo["id"]],
    )
    by_id = {f["id"]: f for f in draft["files"]}
    assert set(by_id) == {doc["id"], logo["id"]}
    assert "content_id" not in by_id[doc["id"]]
    assert by_id[logo["id"]]["content_id"] == logo["id"]
    assert by_id[doc["id"]]["filename"] == "doc.pdf"

    as_file = api.get(f"/files/{doc['id']}").json()
    assert as_file["message_ids"] == [draft["id"]]
    listed = api.get("/files", params={"message_id": draft["id"], "view": "ids"}).json()
    assert listed == [doc["id"], logo["id"]]

    blocked = api.delete(f"/files/{doc['id']}")
    assert blocked.status_code == 400
    assert blocked.json()["message"] == "Can't delete file that is attachment."


def test_update_requires_the_current_version(api):
    draft = create(api, subject="v0")
    path = f"/drafts/{draft['id']}"
    missing = api.put(path, json={"subject": "x"})
    assert (missing.status_code, missing.json()["message"]) == (400, "Must specify draft version")
    for bad in ("one", 1.5, True, [0]):
        invalid = api.put(path, json={"subject": "x", "version": bad})
        assert (invalid.status_code, invalid.json()["message"]) == (400, "Invalid draft version")
    stale = api.put(path, json={"subject": "x", "version": 3})
    assert stale.status_code == 409
    assert stale.json() == {
        "message": f"Draft {draft['id']}.3 has already been updated to version 0",
        "type": "invalid_request_error",
    }
    unknown = api.put("/drafts/nosuchdraft", json={"version": 0})
    assert unknown.status_code == 404
    assert unknown.json()["message"] == "Couldn't find draft nosuchdraft"
    assert api.get(path).json()["subject"] == "v0"


def test_update_semantics(api, account):
    [f1, f2] = api.post(
        "/files",
        files=[
            ("file", ("1.txt", b"one", "text/plain")),
            ("file", ("2.txt", b"two", "text/plain")),
        ],
    ).json()
    draft = create(
        api,
        subject="First",
        body="<p>Body one</p>",
        to=[{"name": "Ann", "email": "ann@x.com"}],
        cc=[{"email": "cc@x.com"}],
        file_ids=[f1["id"]],
    )
    path = f"/drafts/{draft['id']}"

    # The SDKs send the whole object back, extra keys included; empty strings keep values.
    whole = {**draft, "subject": "", "body": None, "cc": None, "file_ids": [f2["id"]]}
    whole.update({"version": 0, "unknown_key": {"x": 1}, "events": [], "folder": None})
    response = api.put(path, json=whole)
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["version"] == 1
    assert updated["subject"] == "First"
    assert updated["body"] == "<p>Body one</p>"
    assert updated["cc"] == [{"name": "", "email": "cc@x.com"}]
    assert [f["id"] for f in updated["files"]] == [f2["id"]]
    assert updated["date"] >= draft["date"]

    # The old engine took the sender from `from_addr` on update; both names work.
    sender = {"name": "Alias", "email": account["email_address"]}
    renamed = api.patch(
        path, json={"version": 1, "from_addr": [sender], "subject": "Second", "body": "<p>New</p>"}
    ).json()
    assert renamed["from"] == [sender]
    assert (renamed["version"], renamed["subject"], renamed["snippet"]) == (2, "Second", "New")
    assert [f["id"] for f in renamed["files"]] == [f2["id"]]  # file_ids absent: kept

    # A draft alone in its thread carries the thread's subject and dates along.
    thread = api.get(f"/threads/{draft['thread_id']}").json()
    assert thread["subject"] == "Second"
    assert thread["last_message_timestamp"] == renamed["date"]

    cleared = api.put(path, json={"version": 2, "file_ids": [], "from": []}).json()
    assert cleared["files"] == []
    assert cleared["from"] == [sender]  # an empty sender list is no sender: kept
    assert api.delete(f"/files/{f1['id']}").json() is None  # no longer attached anywhere


def test_delete_checks_version_and_removes_an_empty_thread(api):
    draft = create(api, subject="Doomed")
    path = f"/drafts/{draft['id']}"
    missing = api.request("DELETE", path)
    assert (missing.status_code, missing.json()["message"]) == (400, "Must specify draft version")
    stale = api.request("DELETE", path, json={"version": 5})
    assert stale.status_code == 409
    deleted = api.request("DELETE", path, json={"version": 0})
    assert deleted.status_code == 200
    assert deleted.json() is None
    assert api.get(path).status_code == 404
    assert api.get("/drafts").json() == []
    assert api.get(f"/threads/{draft['thread_id']}").status_code == 404


def test_deleting_a_reply_draft_keeps_the_thread(engine, api, account):
    first = Mailbox(engine, account).add("Keep me")
    reply = create(api, reply_to_message_id=first["id"])
    api.request("DELETE", f"/drafts/{reply['id']}", json={"version": 0})
    thread = api.get(f"/threads/{first['thread_id']}").json()
    assert (thread["message_ids"], thread["draft_ids"]) == ([first["id"]], [])


def test_list_filters_views_and_order(engine, api, account):
    older = create(api, subject="Alpha", to=[{"email": "ann@x.com"}])
    newer = create(api, subject="Beta", cc=[{"email": "bob@x.com"}])
    # Make the order observable without waiting: bump the first draft's date by updating.
    api.put(f"/drafts/{older['id']}", json={"version": 0, "body": "<p>later</p>"})
    Mailbox(engine, account).add("Alpha")  # a real message never shows in /drafts

    assert api.get("/drafts", params={"view": "count"}).json() == {"count": 2}
    ids = api.get("/drafts", params={"view": "ids"}).json()
    dates = [api.get(f"/drafts/{i}").json()["date"] for i in ids]
    assert dates == sorted(dates, reverse=True)
    assert set(ids) == {older["id"], newer["id"]}
    assert [d["id"] for d in api.get("/drafts", params={"subject": "Alpha"}).json()] == [
        older["id"]
    ]
    assert [d["id"] for d in api.get("/drafts", params={"to": "ann@x.com"}).json()] == [older["id"]]
    assert [d["id"] for d in api.get("/drafts", params={"any_email": "bob@x.com"}).json()] == [
        newer["id"]
    ]
    expanded = api.get("/drafts", params={"view": "expanded", "subject": "Beta"}).json()
    assert expanded[0]["headers"]["Message-Id"] is None
    assert api.get("/drafts", params={"limit": 1, "offset": 1}).json()[0]["id"] == ids[1]


def test_other_accounts_drafts_and_files_are_out_of_reach(engine, api):
    draft = create(api, subject="Mine")
    [file] = api.post("/files", files={"file": ("mine.txt", b"mine")}).json()
    other = engine.new_account()
    with engine.client(other["id"]) as theirs:
        assert theirs.get(f"/drafts/{draft['id']}").status_code == 404
        assert theirs.put(f"/drafts/{draft['id']}", json={"version": 0}).status_code == 404
        gone = theirs.request("DELETE", f"/drafts/{draft['id']}", json={"version": 0})
        assert gone.status_code == 404
        assert theirs.get("/drafts").json() == []
        borrowed = theirs.post("/drafts", json={"file_ids": [file["id"]]})
        assert borrowed.status_code == 400
        assert borrowed.json()["message"] == f"Invalid block public id {file['id']}"
        reply = theirs.post("/drafts", json={"thread_id": draft["thread_id"]})
        assert reply.status_code == 400
    assert api.get(f"/drafts/{draft['id']}").json()["subject"] == "Mine"
