"""The official nylas-legacy 5.15 SDK drives the delta endpoints (docs/protocol.md §18.11)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from legacy_sdk import legacy_client
from mailfactory import Mailbox


@pytest.fixture
def client(engine: Any, account: dict[str, Any]) -> Any:
    return legacy_client(engine.url, account["id"])


def later(action: Callable[[], Any], delay: float = 1.0) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def make_folder(client: Any, name: str) -> Any:
    folder = client.folders.create()
    folder.display_name = name
    folder.save()
    return folder


class Enough(Exception):
    """Raised from a stream callback to stop reading, as an application would."""


def test_latest_cursor_and_since(client, api):
    cursor = client.deltas.latest_cursor()
    assert cursor == api.post("/delta/latest_cursor").json()["cursor"]

    folder = make_folder(client, "Legacy")
    page = client.deltas.since(cursor)
    assert page.cursor_start == cursor
    assert [(d.object, d.event, d.id) for d in page.deltas] == [("folder", "create", folder.id)]
    delta = page.deltas[0]
    assert page.cursor_end == delta.cursor
    attributes = delta.attributes
    assert type(attributes).__name__ == "Folder"
    assert attributes.id == folder.id
    assert attributes.display_name == "Legacy"
    assert attributes.display_name == api.get(f"/folders/{folder.id}").json()["display_name"]

    # Walking on from cursor_end, the way an application keeps in sync, ends empty.
    rest = client.deltas.since(page.cursor_end)
    assert not rest.deltas
    assert rest.cursor_end == page.cursor_end


def test_since_with_type_filters_and_expanded_view(engine, account, client):
    cursor = client.deltas.latest_cursor()
    sent = Mailbox(engine, account).add("Legacy filters")
    make_folder(client, "Legacy filtered")

    messages = client.deltas.since(cursor, include_types=["message"]).deltas
    assert [(d.object, d.id) for d in messages] == [("message", sent["id"])]
    message = messages[0].attributes
    assert type(message).__name__ == "Message"
    assert message.subject == "Legacy filters"
    assert message.thread_id == sent["thread_id"]

    # SDK 5 sends excluded_types.
    rest = client.deltas.since(cursor, excluded_types=["message", "thread"]).deltas
    assert {d.object for d in rest} == {"folder"}

    expanded = client.deltas.since(cursor, view="expanded", include_types="thread").deltas
    thread = expanded[0].attributes
    assert type(thread).__name__ == "Thread"
    assert [m.id for m in thread.messages] == [sent["id"]]

    with pytest.raises(ValueError):
        client.deltas.since(cursor, include_types=["message"], excluded_types=["thread"])


def test_bad_cursor_raises_the_api_error(client):
    from nylas_legacy.client.errors import NylasApiError

    with pytest.raises(NylasApiError) as caught:
        client.deltas.since("nosuchcursor")
    assert caught.value.response.status_code == 400
    assert "Invalid cursor parameter" in str(caught.value)


def test_longpoll_wakes_up_on_a_change_and_calls_back(client):
    cursor = client.deltas.latest_cursor()
    received: list[Any] = []
    waiter = later(lambda: make_folder(client, "Longpolled"))
    result = client.deltas.longpoll(cursor, 60, callback=received.append)
    waiter.join()
    assert [(d.object, d.event) for d in result.deltas] == [("folder", "create")]
    assert result.deltas[0].attributes.display_name == "Longpolled"
    assert len(received) == 1
    assert received[0].cursor_end == result.cursor_end == result.deltas[0].cursor


def test_longpoll_timeout_gives_an_empty_page(client):
    cursor = client.deltas.latest_cursor()
    result = client.deltas.longpoll(cursor, 1)
    assert not result.deltas
    assert result.cursor_start == result.cursor_end == cursor


def test_stream_delivers_each_delta_to_the_callback(client):
    cursor = client.deltas.latest_cursor()
    make_folder(client, "Streamed first")
    received: list[Any] = []

    def on_delta(delta: Any) -> None:
        received.append(delta)
        if len(received) == 2:
            raise Enough

    waiter = later(lambda: make_folder(client, "Streamed second"))
    with pytest.raises(Enough):
        client.deltas.stream(cursor, callback=on_delta)
    waiter.join()
    assert [(d.object, d.event) for d in received] == [("folder", "create")] * 2
    assert [d.attributes.display_name for d in received] == ["Streamed first", "Streamed second"]
    assert received[0].cursor != received[1].cursor


def test_event_and_contact_deltas_become_sdk_models(client, api):
    cursor = client.deltas.latest_cursor()
    calendar_id = next(c["id"] for c in api.get("/calendars").json() if c["is_primary"])
    event = api.post(
        "/events",
        json={"calendar_id": calendar_id, "title": "Review", "when": {"time": 1_700_000_000}},
    ).json()
    contact = api.post("/contacts", json={"given_name": "Grace"}).json()

    deltas = client.deltas.since(cursor, include_types=["event", "contact"]).deltas
    assert [(d.object, d.id) for d in deltas] == [
        ("event", event["id"]),
        ("contact", contact["id"]),
    ]
    legacy_event, legacy_contact = (d.attributes for d in deltas)
    assert type(legacy_event).__name__ == "Event"
    assert legacy_event.title == "Review"
    assert legacy_event.calendar_id == calendar_id
    assert type(legacy_contact).__name__ == "Contact"
    assert legacy_contact.given_name == "Grace"
