"""Collections and models against the live engine: paging, filters, views, refresh-on-write,
lenient models, deltas and contacts."""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from mailfactory import BASE_TS, Mailbox

from nylas import APIClient, AsyncAPIClient
from nylas.client.errors import NotFoundError
from nylas.models import Label, Thread


def test_paging_walks_every_page(client: APIClient, mailbox: Mailbox) -> None:
    for i in range(120):
        mailbox.add(f"Message {i:03}", date=BASE_TS + i * 60)
    subjects = [t.subject for t in client.threads]
    assert len(subjects) == 120 and len(set(subjects)) == 120
    assert subjects[0] == "Message 119"  # newest first
    assert client.threads.count() == 120
    assert len(client.threads.all(limit=70)) == 70
    assert client.threads.ids() == [t.id for t in client.threads.values()]
    window = client.threads[5:10]
    assert [t.subject for t in window] == [f"Message {i:03}" for i in range(114, 109, -1)]
    assert client.threads[0].subject == "Message 119"
    with pytest.raises(IndexError):
        client.threads[500]


def test_where_returns_a_new_merged_query(client: APIClient, mailbox: Mailbox) -> None:
    first = mailbox.add("Thread A", unread=True)
    mailbox.add("Re: Thread A", reply_to=first, unread=False)
    mailbox.add("Thread B", unread=True)
    thread = client.threads.find(first["thread_id"])

    everything = client.messages
    unread = everything.where(unread=True)
    assert everything.filters == {} and unread.filters == {"unread": True}
    assert {m.subject for m in unread} == {"Thread A", "Thread B"}
    # `thread.messages.where()` keeps the thread filter (seed-readme decision).
    in_thread = thread.messages.where(unread=True)
    assert [m.subject for m in in_thread] == ["Thread A"]
    assert thread.messages.count() == 2


def test_datetime_and_in_filters(client: APIClient, mailbox: Mailbox) -> None:
    mailbox.add("Old", date=BASE_TS)
    mailbox.add("New", date=BASE_TS + 86400)
    cutoff = dt.datetime.fromtimestamp(BASE_TS + 3600, dt.timezone.utc)
    assert [m.subject for m in client.messages.where(received_after=cutoff)] == ["New"]
    assert [m.subject for m in client.messages.where(received_before=cutoff)] == ["Old"]
    assert client.messages.where(in_="inbox").count() == 2
    assert client.messages.where(in_="trash").count() == 0


def test_models_refresh_and_stay_lenient(client: APIClient, mailbox: Mailbox) -> None:
    made = mailbox.add("Refresh me", unread=True)
    thread = client.threads.find(made["thread_id"])
    version = thread.version or 0
    thread.mark_as_read()
    assert thread.unread is False and (thread.version or 0) > version  # from the reply
    # Fields the SDK does not declare are kept and readable.
    assert isinstance(thread, Thread)
    thread._load({"brand_new_field": 7})
    assert thread.brand_new_field == 7  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _ = thread.subjet  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        thread.subjet = "typo"  # type: ignore[attr-defined]
    assert thread.to_dict()["subject"] == "Refresh me"


def test_find_unknown_id_is_not_found(client: APIClient) -> None:
    with pytest.raises(NotFoundError) as info:
        client.threads.find("0" * 25)
    assert info.value.status_code == 404 and "thread" in info.value.message.lower()


def test_first_on_empty_collection_is_none(client: APIClient) -> None:
    assert client.threads.first() is None
    assert client.threads.all() == []
    assert client.threads.count() == 0


def test_folder_delete_and_collection_delete(client: APIClient) -> None:
    folder = client.folders.create(display_name="Temporary")
    folder.save()
    assert folder.id in client.folders.ids()
    client.folders.delete(folder.id or "")
    assert folder.id not in client.folders.ids()
    label_cls_is_separate = Label is not type(folder)
    assert label_cls_is_separate


def test_expanded_thread_keeps_messages_query(client: APIClient, mailbox: Mailbox) -> None:
    made = mailbox.add("Expanded")
    thread = client.threads.where(view="expanded").first()
    assert thread is not None
    assert [m["id"] for m in thread.expanded_messages or []] == [made["id"]]
    assert [m.id for m in thread.messages] == [made["id"]]


def test_deltas(client: APIClient, mailbox: Mailbox) -> None:
    start = client.deltas.latest_cursor()
    made = mailbox.add("Delta one")
    page = client.deltas.since(start)
    assert page.cursor_start == start and page.cursor_end != start
    kinds = {(d.object, d.event) for d in page.deltas}
    assert ("message", "create") in kinds and ("thread", "create") in kinds
    message_delta = next(d for d in page.deltas if d.object == "message")
    assert message_delta.id == made["id"]
    assert message_delta.model.subject == "Delta one"
    # Nothing new after the end: a longpoll with a short timeout comes back empty.
    later = client.deltas.longpoll(page.cursor_end, timeout=1)
    assert later.deltas == [] and later.cursor_end == page.cursor_end


def test_delta_longpoll_and_stream_see_new_changes(client: APIClient, mailbox: Mailbox) -> None:
    cursor = client.deltas.latest_cursor()
    timer = threading.Timer(0.5, lambda: mailbox.add("Arrives later"))
    timer.start()
    try:
        page = client.deltas.longpoll(cursor, timeout=20)
    finally:
        timer.join()
    assert any(d.object == "message" for d in page.deltas)

    seen = []
    for delta in client.deltas.stream(cursor, timeout=10):
        seen.append(delta)
        if delta.object == "message":
            break
    assert seen[-1].attributes is not None
    assert seen[-1].attributes["subject"] == "Arrives later"


def test_contacts_crud_and_picture(client: APIClient) -> None:
    contact = client.contacts.create(given_name="Ada", surname="Lovelace")
    contact.emails = [{"type": "work", "email": "ada@example.com"}]
    contact.save()
    assert contact.id and client.contacts.find(contact.id).given_name == "Ada"
    contact.job_title = "Analyst"
    contact.save()
    assert client.contacts.find(contact.id).job_title == "Analyst"
    with pytest.raises(NotFoundError):
        contact.get_picture()  # no picture stored
    contact.delete()
    with pytest.raises(NotFoundError):
        client.contacts.find(contact.id)


def test_with_options_and_context_manager(engine: Any, account: dict[str, Any]) -> None:
    with APIClient(None, None, account["id"], engine.url) as client:
        other = engine.new_account()
        as_other = client.with_options(access_token=other["id"])
        assert as_other.account.id == other["id"]
        assert client.account.id == account["id"]


@pytest.mark.anyio
async def test_async_paging_slicing_and_counts(aclient: AsyncAPIClient, mailbox: Mailbox) -> None:
    for i in range(60):
        mailbox.add(f"Async {i:02}", date=BASE_TS + i * 60)
    subjects = [t.subject async for t in aclient.threads]
    assert len(subjects) == 60 and subjects[0] == "Async 59"
    assert await aclient.threads.count() == 60
    window = await aclient.threads[5:8]
    assert [t.subject for t in window] == ["Async 54", "Async 53", "Async 52"]
    assert len(await aclient.threads.ids()) == 60


@pytest.mark.anyio
async def test_async_deltas(aclient: AsyncAPIClient, mailbox: Mailbox) -> None:
    cursor = await aclient.deltas.latest_cursor()
    mailbox.add("Async delta")
    page = await aclient.deltas.since(cursor)
    assert any(d.object == "message" for d in page.deltas)
    async for delta in aclient.deltas.stream(cursor, timeout=5):
        if delta.object == "message":
            assert delta.attributes is not None
            assert delta.attributes["subject"] == "Async delta"
            break
