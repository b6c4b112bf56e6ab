"""GET/PUT /messages (docs/protocol.md §7, §18 items 3, 5, 10): filters, expanded headers,
raw MIME."""

from __future__ import annotations

from typing import Any

import pytest
from mailfactory import Mailbox, category_id

T0 = 1_600_000_000


@pytest.fixture
def mail(engine: Any, account: dict[str, Any]) -> dict[str, Any]:
    """m1 alice→me (read, cc carol, report.pdf) T0+1000 and m2 bob→me (unread, starred,
    bcc dave) T0+2000 in one thread; m3 ba@x.com at T0+3000 in Archive; a draft."""
    box = Mailbox(engine, account)
    m1 = box.add(
        "Quarterly report",
        from_="Alice <alice@example.org>",
        cc=["carol@x.com"],
        date=T0 + 1000,
        unread=False,
        files=[("report.pdf", "application/pdf", b"%PDF-1.4 tiny")],
    )
    m2 = box.add(
        "Re: Quarterly report",
        from_="bob@example.org",
        bcc=["dave@x.com"],
        date=T0 + 2000,
        starred=True,
        reply_to=m1,
    )
    m3 = box.add("Lunch", from_="ba@x.com", date=T0 + 3000, unread=False, folder="archive")
    draft = box.add("Draft idea", from_=account["email_address"], date=T0 + 4000, draft=True)
    return {"box": box, "m1": m1, "m2": m2, "m3": m3, "draft": draft}


def ids(api: Any, **params: Any) -> list[str]:
    response = api.get("/messages", params=params)
    assert response.status_code == 200, response.text
    return [m["id"] for m in response.json()]


def test_list_is_newest_first_without_drafts(api, mail, account):
    messages = api.get("/messages").json()
    assert [m["id"] for m in messages] == [mail["m3"]["id"], mail["m2"]["id"], mail["m1"]["id"]]
    m1 = messages[2]
    assert m1["object"] == "message"
    assert m1["account_id"] == account["id"]
    assert m1["thread_id"] == mail["m1"]["thread_id"]
    assert m1["from"] == [{"name": "Alice", "email": "alice@example.org"}]
    assert m1["cc"] == [{"name": "", "email": "carol@x.com"}]
    assert m1["date"] == T0 + 1000
    assert m1["unread"] is False
    assert m1["folder"]["name"] == "inbox"
    assert [f["filename"] for f in m1["files"]] == ["report.pdf"]
    assert "Hello there" in m1["body"]
    assert "headers" not in m1


FILTERS = [
    ({"subject": "Lunch"}, ["m3"]),
    ({"subject": "Quarterly"}, []),
    ({"from": "bob@example.org"}, ["m2"]),  # this message's field, not the thread's
    ({"from": "a@x.com"}, []),
    ({"cc": "carol@x.com"}, ["m1"]),
    ({"cc": "dave@x.com"}, []),
    ({"bcc": "dave@x.com"}, ["m2"]),
    ({"any_email": "carol@x.com,ba@x.com"}, ["m3", "m1"]),
    ({"any_email": "x.com"}, None),  # not an address: 400
    ({"unread": "true"}, ["m2"]),
    ({"unread": "false"}, ["m3", "m1"]),
    ({"starred": "true"}, ["m2"]),
    ({"starred": "False"}, ["m3", "m1"]),
    ({"received_before": T0 + 2000}, ["m2", "m1"]),  # <=
    ({"received_before": T0 + 999}, []),
    ({"received_after": T0 + 2000}, ["m3"]),  # >
    ({"received_after": T0 + 999}, ["m3", "m2", "m1"]),
    ({"started_before": T0 + 1001}, ["m2", "m1"]),  # the thread's first message time
    ({"started_after": T0 + 1000}, ["m3"]),
    ({"last_message_before": T0 + 2001}, ["m2", "m1"]),
    ({"last_message_after": T0 + 2000}, ["m3"]),
    ({"filename": "report.pdf"}, ["m1"]),
    ({"filename": "Report.pdf"}, []),
    ({"in": "archive"}, ["m3"]),
    ({"in": "Inbox"}, ["m2", "m1"]),
    ({"in": "drafts"}, []),  # drafts are never listed here
    ({"subject": "Draft idea"}, []),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
def test_filters(api, mail, params, expected):
    if expected is None:
        assert api.get("/messages", params=params).status_code == 400
        return
    assert ids(api, **params) == [mail[k]["id"] for k in expected]


def test_thread_and_category_id_filters_and_views(api, mail):
    thread = mail["m1"]["thread_id"]
    assert ids(api, thread_id=thread) == [mail["m2"]["id"], mail["m1"]["id"]]
    archive = category_id(api, "folder", "archive")
    assert ids(api, **{"in": archive}) == [mail["m3"]["id"]]
    assert ids(api, folder_id=archive) == [mail["m3"]["id"]]
    assert api.get("/messages", params={"view": "count"}).json() == {"count": 3}
    assert api.get("/messages", params={"view": "ids", "limit": 2}).json() == [
        mail["m3"]["id"],
        mail["m2"]["id"],
    ]
    assert ids(api, offset=2, limit=50) == [mail["m1"]["id"]]
    expanded = api.get("/messages", params={"view": "expanded", "limit": 1}).json()
    assert expanded[0]["headers"]["Message-Id"] == mail["m3"]["message_id_header"]
    assert api.get("/messages", params={"view": "everything"}).status_code == 400


def test_get_message_and_expanded_headers(api, mail):
    plain = api.get(f"/messages/{mail['m2']['id']}").json()
    assert plain["subject"] == "Re: Quarterly report"
    assert plain["bcc"] == [{"name": "", "email": "dave@x.com"}]
    assert "headers" not in plain
    expanded = api.get(f"/messages/{mail['m2']['id']}", params={"view": "expanded"}).json()
    assert expanded["headers"] == {
        "Message-Id": mail["m2"]["message_id_header"],
        "In-Reply-To": mail["m1"]["message_id_header"],
        "References": [mail["m1"]["message_id_header"]],
    }


def test_get_draft_by_message_id(api, mail):
    draft = api.get(f"/messages/{mail['draft']['id']}").json()
    assert draft["object"] == "draft"
    assert draft["version"] == 0
    assert draft["subject"] == "Draft idea"


def test_get_message_errors(api):
    assert api.get("/messages/no!").status_code == 400
    missing = api.get("/messages/0000000000000000000000000")
    assert missing.status_code == 404
    assert missing.json()["message"] == "Couldn't find message 0000000000000000000000000"


def test_raw_mime(api, mail):
    response = api.get(f"/messages/{mail['m1']['id']}", headers={"Accept": "message/rfc822"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "message/rfc822"
    assert response.content == mail["m1"]["raw"]
    # JSON is still the default.
    assert api.get(f"/messages/{mail['m1']['id']}").json()["id"] == mail["m1"]["id"]


def test_raw_mime_of_a_draft_or_a_lost_blob_is_404(engine, api, mail):
    draft = api.get(f"/messages/{mail['draft']['id']}", headers={"Accept": "message/rfc822"})
    assert draft.status_code == 404
    assert draft.json()["type"] == "invalid_request_error"

    from nylas_engine.store.blobs import BlobStore

    BlobStore(engine.data_dir / "blobs").delete(mail["m3"]["raw_sha256"])
    lost = api.get(f"/messages/{mail['m3']['id']}", headers={"Accept": "message/rfc822"})
    assert lost.status_code == 404
    assert lost.json()["message"] == "The data was deleted on the email server."


def test_update_flags_and_folder(api, mail):
    m1 = mail["m1"]["id"]
    read = api.put(f"/messages/{m1}", json={"unread": True, "starred": True})
    assert read.status_code == 200
    assert read.json()["unread"] is True and read.json()["starred"] is True
    assert api.get(f"/messages/{m1}").json()["starred"] is True

    archive = category_id(api, "folder", "archive")
    moved = api.patch(f"/messages/{m1}", json={"folder": archive})
    assert moved.json()["folder"]["id"] == archive
    assert ids(api, **{"in": "archive"}) == [mail["m3"]["id"], m1]
    # The thread shows both of its messages' folders now.
    thread = api.get(f"/threads/{mail['m1']['thread_id']}").json()
    assert {f["name"] for f in thread["folders"]} == {"inbox", "archive"}

    inbox = category_id(api, "folder", "inbox")
    back = api.put(f"/messages/{m1}", json={"folder_id": inbox})
    assert back.json()["folder"]["name"] == "inbox"


def test_update_ignores_unknown_and_label_keys_on_folder_accounts(api, mail):
    m1 = mail["m1"]["id"]
    response = api.put(
        f"/messages/{m1}", json={"unread": True, "subject": "nope", "labels": ["x"], "metadata": {}}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["unread"] is True and body["subject"] == "Quarterly report"
    assert body["folder"]["name"] == "inbox"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"unread": "no"}, '"unread" must be true or false'),
        ({"folder": None}, "Removing all folders is not allowed."),
        ({"folder": "0000000000000000000000000"}, "The folder 0000000000000000000000000 does"),
    ],
)
def test_update_validation(api, mail, body, message):
    response = api.put(f"/messages/{mail['m2']['id']}", json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert api.get(f"/messages/{mail['m2']['id']}").json()["unread"] is True


def test_update_body_must_be_an_object(api, mail):
    for content in (b"[1, 2]", b'"unread"', b"{not json"):
        response = api.put(
            f"/messages/{mail['m2']['id']}",
            content=content,
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["message"].startswith("Invalid request body")
    assert api.put("/messages/0000000000000000000000000", json={}).status_code == 404


def test_delete_message_is_not_allowed(api, mail):
    response = api.delete(f"/messages/{mail['m1']['id']}")
    assert response.status_code == 405
    assert response.json()["type"] == "api_error"
    assert api.get(f"/messages/{mail['m1']['id']}").status_code == 200


def test_labels_on_a_label_account(engine):
    account = engine.new_account(organization_unit="label", provider="gmail")
    box = Mailbox(engine, account)
    m = box.add("Hi", labels=["inbox", "all"])
    with engine.client(account["id"]) as api:
        labels = {
            item["name"] or item["display_name"]: item["id"] for item in api.get("/labels").json()
        }
        work = api.post("/labels", json={"display_name": "Work"}).json()["id"]
        # Folder keys are silently ignored on a label account.
        ignored = api.put(f"/messages/{m['id']}", json={"folder": labels["inbox"]})
        assert ignored.status_code == 200
        assert "folder" not in ignored.json()

        added = api.put(
            f"/messages/{m['id']}", json={"labels": [labels["inbox"], labels["all"], work]}
        )
        assert {c["display_name"] for c in added.json()["labels"]} == {"Inbox", "All Mail", "Work"}
        assert [x["id"] for x in api.get("/messages", params={"in": "Work"}).json()] == [m["id"]]

        spam = api.put(
            f"/messages/{m['id']}", json={"label_ids": [labels["inbox"], work, labels["spam"]]}
        )
        assert {c["name"] for c in spam.json()["labels"]} == {"spam", None}

        empty = api.put(f"/messages/{m['id']}", json={"labels": []})
        assert empty.status_code == 400
        assert empty.json()["message"] == "Removing all labels is not allowed."
