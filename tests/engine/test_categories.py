"""Folders and labels (docs/protocol.md §11, §18 item 16): every row of the table."""

from __future__ import annotations

from typing import Any

import pytest
from mailfactory import Mailbox

MISSING = "0000000000000000000000000"


@pytest.fixture
def gmail_api(engine: Any) -> Any:
    account = engine.new_account(organization_unit="label", provider="gmail")
    with engine.client(account["id"]) as client:
        yield client


def test_folder_account_lists_its_standard_folders(api, account):
    folders = api.get("/folders").json()
    assert [(f["name"], f["display_name"]) for f in folders] == [
        ("inbox", "Inbox"),
        ("sent", "Sent"),
        ("drafts", "Drafts"),
        ("trash", "Trash"),
        ("spam", "Junk"),
        ("archive", "Archive"),
    ]
    assert {f["object"] for f in folders} == {"folder"}
    assert {f["account_id"] for f in folders} == {account["id"]}
    assert api.get("/folders", params={"view": "count"}).json() == {"count": 6}
    assert api.get("/folders", params={"view": "ids"}).json() == [f["id"] for f in folders]
    assert api.get("/folders", params={"view": "expanded"}).json() == folders  # ignored
    assert api.get("/folders/", params={"limit": 2, "offset": 1}).json() == folders[1:3]
    one = api.get(f"/folders/{folders[0]['id']}")
    assert one.json() == folders[0]


def test_wrong_kind_is_404_with_the_reason(api, gmail_api):
    labels = api.get("/labels")
    assert labels.status_code == 404
    assert labels.json()["message"] == "Non-GMail accounts don't support labels"
    assert api.post("/labels", json={"display_name": "x"}).status_code == 404
    folders = gmail_api.get("/folders")
    assert folders.status_code == 404
    assert folders.json()["message"] == "GMail accounts don't support folders"
    label_id = gmail_api.get("/labels").json()[0]["id"]
    assert gmail_api.get(f"/folders/{label_id}").status_code == 404


def test_create_rename_delete_folder(api):
    created = api.post("/folders", json={"display_name": "Projects"})
    assert created.status_code == 200
    folder = created.json()
    assert folder["object"] == "folder"
    assert folder["name"] is None
    assert folder["display_name"] == "Projects"

    renamed = api.put(f"/folders/{folder['id']}", json={"display_name": "Projects/2024"})
    assert renamed.json() == {**folder, "display_name": "Projects/2024"}
    assert api.get(f"/folders/{folder['id']}").json()["display_name"] == "Projects/2024"

    deleted = api.delete(f"/folders/{folder['id']}")
    assert deleted.status_code == 200
    assert deleted.json() is None
    assert folder["id"] not in [f["id"] for f in api.get("/folders").json()]
    gone = api.get(f"/folders/{folder['id']}")
    assert gone.status_code == 404
    assert gone.json()["message"] == "Object not found"
    # Its name can be used again.
    assert api.post("/folders", json={"display_name": "Projects/2024"}).status_code == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, '"display_name" must be a valid string'),
        ({"display_name": 7}, '"display_name" must be a valid string'),
        ({"display_name": ""}, '"display_name" must be a valid string'),
        ({"display_name": "x" * 192}, '"display_name" must be at most 191 characters long'),
        ({"display_name": "Inbox"}, 'Folder with name "Inbox" already exists'),
    ],
)
def test_create_folder_validation(api, body, message):
    response = api.post("/folders", json=body)
    assert response.status_code == 400
    assert response.json() == {"message": message, "type": "invalid_request_error"}


def test_rename_and_delete_rules(engine, api, account):
    folders = {f["name"]: f["id"] for f in api.get("/folders").json()}
    standard = api.put(f"/folders/{folders['inbox']}", json={"display_name": "In"})
    assert standard.status_code == 400
    assert standard.json()["message"] == "Cannot modify a standard folder"
    assert api.delete(f"/folders/{folders['trash']}").status_code == 400

    unknown = api.put(f"/folders/{MISSING}", json={"display_name": "x"})
    assert unknown.status_code == 400  # not 404, as the old engine answered
    assert unknown.json()["message"] == f"Couldn't find folder {MISSING}"
    assert api.delete(f"/folders/{MISSING}").status_code == 404
    assert api.get("/folders/bad!").status_code == 400

    a = api.post("/folders", json={"display_name": "A"}).json()
    api.post("/folders", json={"display_name": "B"})
    clash = api.put(f"/folders/{a['id']}", json={"display_name": "B"})
    assert clash.status_code == 400
    assert clash.json()["message"] == 'Folder with name "B" already exists'
    bad = api.put(f"/folders/{a['id']}", json={"display_name": None})
    assert bad.status_code == 400

    Mailbox(engine, account).add("Filed", folder="A")
    busy = api.delete(f"/folders/{a['id']}")
    assert busy.status_code == 400
    assert (
        busy.json()["message"]
        == f"Folder {a['id']} cannot be deleted because it contains messages."
    )
    assert a["id"] in [f["id"] for f in api.get("/folders").json()]


def test_labels_on_a_gmail_account(engine, gmail_api):
    labels = gmail_api.get("/labels").json()
    assert {lab["object"] for lab in labels} == {"label"}
    assert {lab["name"] for lab in labels} >= {"inbox", "all", "sent", "drafts", "trash", "spam"}

    work = gmail_api.post("/labels", json={"display_name": "Work"}).json()
    assert work["object"] == "label" and work["name"] is None
    dup = gmail_api.post("/labels", json={"display_name": "Work"})
    assert dup.json()["message"] == 'Label with name "Work" already exists'
    renamed = gmail_api.patch(f"/labels/{work['id']}", json={"display_name": "Job"})
    assert renamed.json()["display_name"] == "Job"
    inbox = next(lab for lab in labels if lab["name"] == "inbox")
    assert (
        gmail_api.put(f"/labels/{inbox['id']}", json={"display_name": "x"}).json()["message"]
        == "Cannot modify a standard label"
    )
    unknown = gmail_api.put(f"/labels/{MISSING}", json={"display_name": "x"})
    assert unknown.status_code == 400
    assert unknown.json()["message"] == f"Couldn't find label {MISSING}"
    assert gmail_api.delete(f"/labels/{work['id']}").status_code == 200
    assert gmail_api.get(f"/labels/{work['id']}").status_code == 404
