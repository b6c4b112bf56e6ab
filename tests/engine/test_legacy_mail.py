"""The official nylas-legacy 5.15 client driving threads, messages, folders, labels and search
against the live engine; every result is checked against what the engine holds."""

from __future__ import annotations

from typing import Any

import pytest
from legacy_sdk import legacy_client
from mailfactory import Mailbox
from nylas_legacy import APIClient

T0 = 1_600_000_000


@pytest.fixture
def client(engine: Any, account: dict[str, Any]) -> APIClient:
    return legacy_client(engine.url, account["id"])


@pytest.fixture
def mail(engine: Any, account: dict[str, Any]) -> dict[str, Any]:
    box = Mailbox(engine, account)
    first = box.add("Plans", from_="Ann <ann@x.com>", date=T0 + 10, unread=False)
    reply = box.add("Re: Plans", from_="bob@x.com", date=T0 + 20, reply_to=first)
    other = box.add("Zebra facts", from_="cat@x.com", date=T0 + 30, unread=False, folder="archive")
    return {"box": box, "first": first, "reply": reply, "other": other}


def test_thread_filters(client, api, mail):
    inbox = client.threads.where(in_="inbox").all()
    assert [t.id for t in inbox] == [mail["first"]["thread_id"]]
    assert inbox[0].subject == "Plans"
    assert inbox[0].message_ids == [mail["first"]["id"], mail["reply"]["id"]]
    assert [f.display_name for f in inbox[0].folders] == ["Inbox"]

    unread = client.threads.where(unread=True).all()
    assert [t.id for t in unread] == [mail["first"]["thread_id"]]
    read = client.threads.where(unread=False).all()
    assert {t.id for t in read} == {mail["first"]["thread_id"], mail["other"]["thread_id"]}
    assert [t.id for t in client.threads.where(from_="cat@x.com")] == [mail["other"]["thread_id"]]
    assert client.threads.where(any_email="nobody@x.com").all() == []
    assert client.threads.first().id == mail["other"]["thread_id"]


def test_folder_threads_and_thread_messages(client, mail):
    archive = next(f for f in client.folders.all() if f.name == "archive")
    assert [t.id for t in archive.threads.all()] == [mail["other"]["thread_id"]]
    assert [m.id for m in archive.messages.all()] == [mail["other"]["id"]]
    thread = client.threads.get(mail["first"]["thread_id"])
    assert [m.id for m in thread.messages] == [mail["reply"]["id"], mail["first"]["id"]]


def test_paging_through_120_threads(engine):
    account = engine.new_account()
    box = Mailbox(engine, account)
    made = [box.add(f"Topic {i}", from_=f"p{i}@x.com", date=T0 + i) for i in range(120)]
    client = legacy_client(engine.url, account["id"])
    threads = client.threads.all()
    assert [t.id for t in threads] == [m["thread_id"] for m in reversed(made)]
    assert sum(1 for _ in client.messages.values()) == 120
    assert [t.subject for t in client.threads[50:53]] == ["Topic 69", "Topic 68", "Topic 67"]


def test_mark_thread_read_and_star_message(client, api, mail):
    thread = client.threads.get(mail["first"]["thread_id"])
    assert thread.unread is True
    thread.mark_as_read()
    stored = api.get("/messages", params={"thread_id": thread.id}).json()
    assert [m["unread"] for m in stored] == [False, False]
    assert client.threads.get(thread.id).unread is False

    message = client.messages.get(mail["reply"]["id"])
    message.star()
    message.mark_as_unread()
    stored = api.get(f"/messages/{message.id}").json()
    assert stored["starred"] is True and stored["unread"] is True


def test_message_update_folder(client, api, mail):
    archive = next(f for f in client.folders.all() if f.name == "archive")
    message = client.messages.get(mail["first"]["id"])
    folder = message.update_folder(archive.id)
    assert folder.id == archive.id
    assert api.get(f"/messages/{message.id}").json()["folder"]["name"] == "archive"

    thread = client.threads.get(mail["other"]["thread_id"])
    inbox = next(f for f in client.folders.all() if f.name == "inbox")
    thread.update_folder(inbox.id)
    assert [f.name for f in client.threads.get(thread.id).folders] == ["inbox"]


def test_message_labels_on_a_label_account(engine):
    account = engine.new_account(organization_unit="label", provider="gmail")
    m = Mailbox(engine, account).add("Hi", labels=["inbox", "all"])
    client = legacy_client(engine.url, account["id"])
    work = client.labels.create()
    work.display_name = "Work"
    work.save()
    assert work.id and work.object == "label"

    message = client.messages.get(m["id"])
    labels = message.add_label(work.id)
    assert {lab.display_name for lab in labels} == {"Inbox", "All Mail", "Work"}
    with engine.client(account["id"]) as api:
        stored = api.get(f"/messages/{m['id']}").json()
        assert {c["id"] for c in stored["labels"]} >= {work.id}
        assert [t.id for t in work.threads.all()] == [m["thread_id"]]
        message.remove_label(work.id)
        stored = api.get(f"/messages/{m['id']}").json()
        assert work.id not in {c["id"] for c in stored["labels"]}


def test_expanded_messages_and_raw(client, mail):
    expanded = client.messages.where(view="expanded", thread_id=mail["first"]["thread_id"]).all()
    headers = {m.id: m.headers for m in expanded}
    assert headers[mail["reply"]["id"]]["In-Reply-To"] == mail["first"]["message_id_header"]
    assert headers[mail["first"]["id"]]["Message-Id"] == mail["first"]["message_id_header"]
    message = client.messages.get(mail["first"]["id"])
    assert message.raw == mail["first"]["raw"]


def test_folder_create_and_rename_with_save(client, api):
    folder = client.folders.create()
    folder.display_name = "Receipts"
    folder.save()
    assert folder.id and folder.object == "folder" and folder.name is None
    folder.display_name = "Receipts/2024"
    folder.save()
    stored = api.get(f"/folders/{folder.id}").json()
    assert stored["display_name"] == "Receipts/2024"
    assert [f for f in client.folders.all() if f is None] == []  # every item is a Folder
    client.folders.delete(folder.id)
    assert api.get(f"/folders/{folder.id}").status_code == 404


def test_search(client, mail):
    threads = client.threads.search("zebra")
    assert [t.id for t in threads] == [mail["other"]["thread_id"]]
    messages = client.messages.search("plans", limit=1)
    assert [m.id for m in messages] == [mail["reply"]["id"]]
    (expanded,) = client.threads.search("plans", view="expanded")
    assert [m.id for m in expanded.messages] == [mail["first"]["id"], mail["reply"]["id"]]
