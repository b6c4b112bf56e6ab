"""GET/PUT/DELETE /threads (docs/protocol.md §6, §18 items 2-5): every filter, views, updates."""

from __future__ import annotations

from typing import Any

import pytest
from mailfactory import Mailbox, category_id

T0 = 1_600_000_000


@pytest.fixture
def mail(engine: Any, account: dict[str, Any], api: Any) -> dict[str, Any]:
    """Three threads in a folder account.

    report: alice (read, report.pdf, cc carol) at T0+1000, then bob (unread, starred,
            bcc dave) at T0+2000, both in the Inbox
    lunch:  from ba@x.com at T0+3000, read, in Archive
    party:  from a@x.com at T0+500, unread, a_b.txt, in the user folder Projects
    """
    box = Mailbox(engine, account)
    m1 = box.add(
        "Quarterly report",
        from_="Alice <alice@example.org>",
        cc=["Carol <carol@x.com>"],
        date=T0 + 1000,
        unread=False,
        files=[("report.pdf", "application/pdf", b"%PDF-1.4 tiny")],
        folder="inbox",
    )
    m2 = box.add(
        "Re: Quarterly report",
        from_="Bob <bob@example.org>",
        bcc=["dave@x.com"],
        date=T0 + 2000,
        starred=True,
        reply_to=m1,
        folder="inbox",
    )
    lunch = box.add("Lunch", from_="ba@x.com", date=T0 + 3000, unread=False, folder="archive")
    party = box.add(
        "Party",
        from_="a@x.com",
        date=T0 + 500,
        files=[("a_b.txt", "text/plain", b"hi")],
        folder="Projects",
    )
    assert m1["thread_id"] == m2["thread_id"]
    return {
        "box": box,
        "m1": m1,
        "m2": m2,
        "lunch": lunch,
        "party": party,
        "report": m1["thread_id"],
        "lunch_t": lunch["thread_id"],
        "party_t": party["thread_id"],
    }


def ids(api: Any, path: str, **params: Any) -> list[str]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


def test_list_is_newest_activity_first_with_aggregates(api, mail, account):
    threads = api.get("/threads").json()
    assert [t["id"] for t in threads] == [mail["lunch_t"], mail["report"], mail["party_t"]]
    report = threads[1]
    assert report["object"] == "thread"
    assert report["account_id"] == account["id"]
    assert report["subject"] == "Quarterly report"
    assert report["message_ids"] == [mail["m1"]["id"], mail["m2"]["id"]]
    assert report["first_message_timestamp"] == T0 + 1000
    assert report["last_message_timestamp"] == T0 + 2000
    assert report["unread"] is True and report["starred"] is True
    assert report["has_attachments"] is True
    assert [f["name"] for f in report["folders"]] == ["inbox"]
    emails = {p["email"] for p in report["participants"]}
    assert {"alice@example.org", "bob@example.org", "carol@x.com", "dave@x.com"} <= emails


FILTERS = [
    # (params, threads that must match: keys of the `mail` fixture)
    ({"subject": "Lunch"}, {"lunch_t"}),
    ({"subject": "lunch"}, set()),
    ({"any_email": "carol@x.com"}, {"report"}),
    ({"any_email": "a@x.com"}, {"party_t"}),  # not ba@x.com
    ({"any_email": "A@X.COM"}, {"party_t"}),
    ({"any_email": "nobody@x.com,ba@x.com"}, {"lunch_t"}),
    ({"any_email": "nobody@x.com"}, set()),
    ({"from": "bob@example.org"}, {"report"}),
    ({"from": "a@x.com"}, {"party_t"}),
    ({"from": "carol@x.com"}, set()),
    ({"cc": "carol@x.com"}, {"report"}),
    ({"cc": "bob@example.org"}, set()),
    ({"bcc": "dave@x.com"}, {"report"}),
    ({"bcc": "carol@x.com"}, set()),
    ({"to": "alice@example.org"}, set()),
    ({"started_before": T0 + 1000}, {"party_t"}),
    ({"started_after": T0 + 1000}, {"lunch_t"}),
    ({"started_after": T0 + 999}, {"report", "lunch_t"}),
    ({"last_message_before": T0 + 2000}, {"party_t"}),
    ({"last_message_after": T0 + 1999}, {"report", "lunch_t"}),
    ({"last_message_after": "2020-09-13T12:26:40Z"}, {"report", "lunch_t", "party_t"}),  # T0
    ({"last_message_before": "2020-09-13T12:26:40+00:00"}, set()),
    ({"filename": "report.pdf"}, {"report"}),
    ({"filename": "report"}, set()),
    ({"filename": "a_b.txt"}, {"party_t"}),
    ({"filename": "axb.txt"}, set()),
    ({"in": "inbox"}, {"report"}),
    ({"in": "Inbox"}, {"report"}),
    ({"in": "Projects"}, {"party_t"}),
    ({"in": "nowhere"}, set()),
    ({"unread": "true"}, {"report", "party_t"}),
    ({"unread": "True"}, {"report", "party_t"}),
    ({"unread": "false"}, {"report", "lunch_t"}),  # any message read
    ({"starred": "true"}, {"report"}),
    ({"starred": "false"}, {"report", "lunch_t", "party_t"}),
    ({"subject": "Party", "unread": "false"}, set()),
]


@pytest.mark.parametrize(("params", "expected"), FILTERS)
def test_filters(api, mail, params, expected):
    assert set(ids(api, "/threads", **params)) == {mail[k] for k in expected}


def test_thread_id_and_category_id_filters(api, mail, account):
    assert ids(api, "/threads", thread_id=mail["lunch_t"]) == [mail["lunch_t"]]
    archive = category_id(api, "folder", "archive")
    projects = category_id(api, "folder", "Projects")
    assert ids(api, "/threads", **{"in": archive}) == [mail["lunch_t"]]
    # The SDK's Folder.threads / Label.threads send folder_id= / label_id= (§18.4).
    assert ids(api, "/threads", folder_id=projects) == [mail["party_t"]]
    assert ids(api, "/threads", label_id=archive) == [mail["lunch_t"]]
    # Hosted metadata filters apply (to the threads' messages): none of these has any.
    assert ids(api, "/threads", metadata_key="x", metadata_pair="a:b") == []


def test_views_and_paging(api, mail):
    assert api.get("/threads", params={"view": "count"}).json() == {"count": 3}
    assert api.get("/threads", params={"view": "count", "unread": "true"}).json() == {"count": 2}
    assert api.get("/threads", params={"view": "ids"}).json() == [
        mail["lunch_t"],
        mail["report"],
        mail["party_t"],
    ]
    assert ids(api, "/threads", limit=1, offset=1) == [mail["report"]]
    assert ids(api, "/threads", limit=50, offset=3) == []
    expanded = api.get("/threads", params={"view": "expanded", "thread_id": mail["report"]})
    (thread,) = expanded.json()
    assert "message_ids" not in thread
    assert [m["id"] for m in thread["messages"]] == [mail["m1"]["id"], mail["m2"]["id"]]
    assert all("body" not in m for m in thread["messages"])
    assert thread["drafts"] == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"unread": "maybe"}, '"unread" must be true or false'),
        ({"starred": "1x"}, '"starred" must be true or false'),
        ({"started_before": "yesterday"}, "started_before"),
        ({"last_message_after": "2020-13-45"}, "last_message_after"),
        ({"view": "full"}, "view"),
        ({"thread_id": "not-an-id!"}, "Invalid id"),
        ({"any_email": "not an address"}, "any_email"),
        ({"any_email": ",".join(f"u{i}@x.com" for i in range(26))}, "any_email"),
        ({"subject": "x" * 256}, "subject"),
        ({"limit": "many"}, "Limit"),
        ({"offset": "-3"}, "Offset"),
    ],
)
def test_bad_filter_values_are_400_json(api, params, fragment):
    response = api.get("/threads", params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["type"] == "invalid_request_error"
    assert fragment in body["message"]


def test_deleted_threads_are_hidden(engine, api, mail):
    from sqlalchemy import update

    from nylas_engine.store.models import Thread

    with engine.db.session() as session:
        session.execute(
            update(Thread).where(Thread.public_id == mail["lunch_t"]).values(deleted_at=T0)
        )
    assert mail["lunch_t"] not in ids(api, "/threads")
    assert api.get(f"/threads/{mail['lunch_t']}").status_code == 404
    assert mail["lunch"]["id"] not in ids(api, "/messages")


def test_get_one_thread(api, mail):
    thread = api.get(f"/threads/{mail['report']}").json()
    assert thread["id"] == mail["report"]
    assert thread["message_ids"] == [mail["m1"]["id"], mail["m2"]["id"]]
    expanded = api.get(f"/threads/{mail['report']}", params={"view": "expanded"}).json()
    assert [m["subject"] for m in expanded["messages"]] == [
        "Quarterly report",
        "Re: Quarterly report",
    ]
    assert expanded["messages"][0]["files"][0]["filename"] == "report.pdf"


def test_get_thread_errors(api):
    bad = api.get("/threads/bad-id!")
    assert bad.status_code == 400
    assert bad.json()["message"] == "Invalid id: bad-id!"
    missing = api.get("/threads/0000000000000000000000000")
    assert missing.status_code == 404
    assert missing.json() == {
        "message": "Couldn't find thread `0000000000000000000000000`",
        "type": "invalid_request_error",
    }


def test_mark_thread_read_and_starred(api, mail):
    thread = mail["report"]
    before = api.get(f"/threads/{thread}").json()["version"]
    updated = api.put(f"/threads/{thread}", json={"unread": False})
    assert updated.status_code == 200
    assert updated.json()["unread"] is False
    assert updated.json()["version"] > before
    messages = api.get("/messages", params={"thread_id": thread}).json()
    assert [m["unread"] for m in messages] == [False, False]

    patched = api.patch(f"/threads/{thread}", json={"starred": False, "unread": True})
    assert patched.json()["starred"] is False and patched.json()["unread"] is True
    messages = api.get("/messages", params={"thread_id": thread}).json()
    assert {(m["unread"], m["starred"]) for m in messages} == {(True, False)}


def test_move_thread_to_folder_leaves_sent_messages(engine, account, api, mail):
    box: Mailbox = mail["box"]
    sent = box.add(
        "Re: Quarterly report",
        from_=account["email_address"],
        to=["alice@example.org"],
        date=T0 + 2500,
        reply_to=mail["m2"],
    )
    assert sent["thread_id"] == mail["report"]
    archive = category_id(api, "folder", "archive")
    moved = api.put(f"/threads/{mail['report']}", json={"folder": archive})
    assert moved.status_code == 200
    names = {f["name"] for f in moved.json()["folders"]}
    assert names == {"archive", "sent"}
    by_id = {m["id"]: m for m in api.get("/messages", params={"thread_id": mail["report"]}).json()}
    assert by_id[mail["m1"]["id"]]["folder"]["name"] == "archive"
    assert by_id[mail["m2"]["id"]]["folder"]["name"] == "archive"
    assert by_id[sent["id"]]["folder"]["name"] == "sent"
    assert ids(api, "/threads", **{"in": "inbox"}) == []

    inbox = category_id(api, "folder", "inbox")
    back = api.put(f"/threads/{mail['report']}", json={"folder_id": inbox})
    assert {f["name"] for f in back.json()["folders"]} == {"inbox", "sent"}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"subject": "x"}, "Unexpected attribute: subject"),
        ({"labels": ["abc"]}, "Unexpected attribute: labels"),  # a folder account
        ({"unread": "yes"}, '"unread" must be true or false'),
        ({"starred": 1}, '"starred" must be true or false'),
        ({"folder": None}, "Removing all folders is not allowed."),
        ({"folder_id": "0000000000000000000000000"}, "The folder 0000000000000000000000000 does"),
        ({"folder": "bad id!"}, "Invalid id: bad id!"),
    ],
)
def test_thread_update_validation(api, mail, body, message):
    response = api.put(f"/threads/{mail['report']}", json=body)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    unchanged = api.get(f"/threads/{mail['report']}").json()
    assert unchanged["unread"] is True and [f["name"] for f in unchanged["folders"]] == ["inbox"]


def test_thread_update_needs_an_object_and_existing_thread(api, mail):
    not_object = api.put(f"/threads/{mail['report']}", json=["unread"])
    assert not_object.status_code == 400
    assert not_object.json()["message"].startswith("Invalid request body")
    missing = api.put("/threads/0000000000000000000000000", json={"unread": False})
    assert missing.status_code == 404


def test_delete_thread_is_not_allowed(api, mail):
    response = api.delete(f"/threads/{mail['report']}")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, PUT, PATCH"
    assert response.json() == {
        "message": "The method is not allowed for the requested URL.",
        "type": "api_error",
    }
    assert api.get(f"/threads/{mail['report']}").status_code == 200


# ------------------------------------------------------------------------- label accounts


@pytest.fixture
def gmail(engine: Any) -> dict[str, Any]:
    account = engine.new_account(organization_unit="label", provider="gmail")
    client = engine.client(account["id"])
    box = Mailbox(engine, account)
    first = box.add("Trip", from_="ann@x.com", date=T0 + 10, labels=["inbox", "all"])
    reply = box.add(
        "Re: Trip",
        from_=account["email_address"],
        to=["ann@x.com"],
        date=T0 + 20,
        labels=["sent", "all"],
        reply_to=first,
        unread=False,
    )
    assert first["thread_id"] == reply["thread_id"]
    labels = {
        item["name"] or item["display_name"]: item["id"] for item in client.get("/labels").json()
    }
    yield {
        "api": client,
        "thread": first["thread_id"],
        "first": first,
        "reply": reply,
        "labels": labels,
    }
    client.close()


def label_names(thread_or_message: dict[str, Any]) -> set[str]:
    return {c["name"] or c["display_name"] for c in thread_or_message["labels"]}


def test_thread_labels_are_the_complete_new_set(gmail):
    api, lab, thread = gmail["api"], gmail["labels"], gmail["thread"]
    work = api.post("/labels", json={"display_name": "Work"}).json()["id"]
    response = api.put(
        f"/threads/{thread}", json={"labels": [lab["inbox"], lab["all"], lab["sent"], work]}
    )
    assert response.status_code == 200, response.text
    assert label_names(response.json()) == {"inbox", "all", "sent", "Work"}
    first = api.get(f"/messages/{gmail['first']['id']}").json()
    reply = api.get(f"/messages/{gmail['reply']['id']}").json()
    assert label_names(first) == {"inbox", "all", "Work"}
    assert label_names(reply) == {"sent", "all", "Work"}
    assert ids(api, "/threads", label_id=work) == [thread]

    # Dropping "inbox" archives: every message loses it, All Mail stays.
    archived = api.put(f"/threads/{thread}", json={"label_ids": [lab["all"], lab["sent"], work]})
    assert label_names(archived.json()) == {"all", "sent", "Work"}


def test_gmail_trash_and_inbox_rules(gmail):
    api, lab, thread = gmail["api"], gmail["labels"], gmail["thread"]
    trashed = api.put(
        f"/threads/{thread}", json={"labels": [lab["inbox"], lab["all"], lab["sent"], lab["trash"]]}
    )
    assert trashed.status_code == 200, trashed.text
    # Adding trash takes the messages out of inbox and All Mail.
    assert label_names(trashed.json()) == {"sent", "trash"}
    restored = api.put(
        f"/threads/{thread}", json={"labels": [lab["inbox"], lab["sent"], lab["trash"]]}
    )
    # Adding inbox brings them back to All Mail and out of the trash.
    assert label_names(restored.json()) == {"inbox", "sent", "all"}


@pytest.mark.parametrize(
    ("make_body", "message"),
    [
        (lambda lab: {"labels": []}, "Removing all labels is not allowed."),
        (lambda lab: {"label_ids": lab["inbox"]}, '"labels" must be a list'),
        (
            lambda lab: {"labels": ["0000000000000000000000000"]},
            "The label 0000000000000000000000000 does not exist",
        ),
        (lambda lab: {"labels": [lab["inbox"], lab["all"]]}, 'The "sent" label cannot be changed'),
        (
            lambda lab: {"labels": [lab["inbox"], lab["all"], lab["sent"], lab["drafts"]]},
            'The "drafts" label cannot be changed',
        ),
        (
            lambda lab: {
                "labels": [lab["inbox"], lab["all"], lab["sent"], lab["trash"], lab["spam"]]
            },
            'Only one of "all", "trash" or "spam" can be added',
        ),
        (lambda lab: {"folder": lab["inbox"]}, "Unexpected attribute: folder"),
    ],
)
def test_thread_label_validation(gmail, make_body, message):
    api, thread = gmail["api"], gmail["thread"]
    response = api.put(f"/threads/{thread}", json=make_body(gmail["labels"]))
    assert response.status_code == 400
    assert response.json()["message"] == message
    assert label_names(api.get(f"/threads/{thread}").json()) == {"inbox", "all", "sent"}
