"""Delta sync over HTTP (docs/protocol.md §15, §18.11): cursors, pages, filters, longpoll,
streaming."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from mailfactory import Mailbox


def latest(api: httpx.Client) -> str:
    response = api.post("/delta/latest_cursor")
    assert response.status_code == 200
    return str(response.json()["cursor"])


def deltas_since(api: httpx.Client, cursor: str, **params: Any) -> list[dict[str, Any]]:
    response = api.get("/delta", params={"cursor": cursor, **params})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["cursor_start"] == cursor
    return list(body["deltas"])


def summary(deltas: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    return [(d["object"], d["event"], d["id"]) for d in deltas]


def new_folder(api: httpx.Client, name: str) -> dict[str, Any]:
    response = api.post("/folders", json={"display_name": name})
    assert response.status_code == 200, response.text
    return dict(response.json())


def later(action: Callable[[], Any], delay: float = 1.0) -> threading.Thread:
    """Run `action` from another thread after `delay` seconds (a change during a wait)."""

    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


# ------------------------------------------------------------------------------------ pages


def test_a_new_account_starts_with_its_folders(api, account):
    body = api.get("/delta", params={"cursor": "0"}).json()
    folders = {d["attributes"]["name"] for d in body["deltas"] if d["object"] == "folder"}
    assert folders == {"inbox", "sent", "drafts", "trash", "spam", "archive"}
    assert all(d["event"] == "create" for d in body["deltas"])
    # Account deltas are hidden by default.
    assert "account" not in {d["object"] for d in body["deltas"]}
    assert body["cursor_end"] == body["deltas"][-1]["cursor"] == latest(api)


def test_create_modify_delete_carry_the_current_state(api):
    cursor = latest(api)
    folder = new_folder(api, "Receipts")
    created = deltas_since(api, cursor)
    assert summary(created) == [("folder", "create", folder["id"])]
    assert created[0]["attributes"] == api.get(f"/folders/{folder['id']}").json()

    after_create = created[0]["cursor"]
    assert api.put(f"/folders/{folder['id']}", json={"display_name": "Bills"}).status_code == 200
    modified = deltas_since(api, after_create)
    assert summary(modified) == [("folder", "modify", folder["id"])]
    assert modified[0]["attributes"]["display_name"] == "Bills"
    # The create delta shows the state at read time, not at creation.
    assert deltas_since(api, cursor)[0]["attributes"]["display_name"] == "Bills"

    assert api.delete(f"/folders/{folder['id']}").status_code == 200
    deleted = deltas_since(api, modified[0]["cursor"])
    assert summary(deleted) == [("folder", "delete", folder["id"])]
    assert "attributes" not in deleted[0]
    # Once the folder is gone, its create and modify deltas are skipped.
    assert summary(deltas_since(api, cursor)) == [("folder", "delete", folder["id"])]


def test_repeated_changes_collapse_to_the_latest(api):
    cursor = latest(api)
    folder = new_folder(api, "One")
    other = new_folder(api, "Other")
    for name in ("Two", "Three", "Four"):
        api.put(f"/folders/{folder['id']}", json={"display_name": name})
    last_rename = latest(api)
    deltas = deltas_since(api, cursor)
    assert summary(deltas) == [
        ("folder", "create", folder["id"]),
        ("folder", "create", other["id"]),
        ("folder", "modify", folder["id"]),
    ]
    assert deltas[2]["cursor"] == last_rename
    assert deltas[2]["attributes"]["display_name"] == "Four"
    assert len({d["cursor"] for d in deltas}) == 3


def test_mail_changes_show_up_as_message_thread_and_file_deltas(engine, account, api):
    cursor = latest(api)
    box = Mailbox(engine, account)
    sent = box.add("Invoice", files=[("invoice.pdf", "application/pdf", b"%PDF-1.4 x")])
    deltas = deltas_since(api, cursor)
    by_object = {d["object"]: d for d in deltas}
    assert set(by_object) == {"message", "thread", "file"}
    assert by_object["message"]["id"] == sent["id"]
    assert by_object["message"]["attributes"] == api.get(f"/messages/{sent['id']}").json()
    assert by_object["thread"]["attributes"] == api.get(f"/threads/{sent['thread_id']}").json()
    file_id = by_object["message"]["attributes"]["files"][0]["id"]
    assert by_object["file"]["id"] == file_id
    assert by_object["file"]["attributes"]["filename"] == "invoice.pdf"

    cursor = latest(api)
    assert api.put(f"/messages/{sent['id']}", json={"unread": False}).status_code == 200
    changed = deltas_since(api, cursor)
    assert sorted(summary(changed)) == [
        ("message", "modify", sent["id"]),
        ("thread", "modify", sent["thread_id"]),
    ]
    thread = next(d for d in changed if d["object"] == "thread")["attributes"]
    assert thread["unread"] is False
    assert thread["version"] == api.get(f"/threads/{sent['thread_id']}").json()["version"]


def test_a_draft_that_is_sent_becomes_a_message(engine, account, api):
    from sqlalchemy import select

    from nylas_engine.store.models import Message

    cursor = latest(api)
    draft = Mailbox(engine, account).add("Draft first", draft=True)
    created = deltas_since(api, cursor, include_types="draft,message")
    assert summary(created) == [("draft", "create", draft["id"])]
    assert created[0]["attributes"]["object"] == "draft"

    after_draft = created[0]["cursor"]
    with engine.db.session() as session:
        row = session.scalar(select(Message).where(Message.public_id == draft["id"]))
        row.is_draft = False
    sent = deltas_since(api, after_draft, include_types="draft,message")
    assert summary(sent) == [("draft", "delete", draft["id"]), ("message", "create", draft["id"])]
    assert sent[1]["attributes"]["object"] == "message"
    # Read from before the draft existed, the draft's create is gone: it is no draft now.
    assert summary(deltas_since(api, cursor, include_types="draft,message")) == summary(sent)


def test_expanded_view_expands_messages_and_threads(engine, account, api):
    cursor = latest(api)
    sent = Mailbox(engine, account).add("Expanded")
    plain = {d["object"]: d["attributes"] for d in deltas_since(api, cursor)}
    assert "headers" not in plain["message"]
    assert plain["thread"]["message_ids"] == [sent["id"]]

    expanded = {d["object"]: d["attributes"] for d in deltas_since(api, cursor, view="expanded")}
    assert expanded["message"]["headers"]["Message-Id"] == sent["message_id_header"]
    assert [m["id"] for m in expanded["thread"]["messages"]] == [sent["id"]]
    assert expanded["thread"]["drafts"] == []
    assert "message_ids" not in expanded["thread"]


def test_paging_with_a_small_limit_walks_every_change_once(api):
    cursor = start = latest(api)
    made = [new_folder(api, f"Box {i}")["id"] for i in range(23)]
    seen: list[str] = []
    pages = 0
    while True:
        body = api.get("/delta", params={"cursor": cursor, "limit": 5}).json()
        if not body["deltas"]:
            assert body["cursor_end"] == cursor
            break
        assert len(body["deltas"]) <= 5
        assert body["cursor_end"] == body["deltas"][-1]["cursor"]
        seen += [d["id"] for d in body["deltas"]]
        cursor = body["cursor_end"]
        pages += 1
    assert seen == made
    assert pages == 5
    assert cursor == latest(api) != start


def test_calendar_event_and_contact_deltas(api):
    cursor = latest(api)
    calendar = api.post("/calendars", json={"name": "Team"}).json()
    event = api.post(
        "/events",
        json={"calendar_id": calendar["id"], "title": "Standup", "when": {"time": 1_700_000_000}},
    ).json()
    contact = api.post(
        "/contacts",
        json={"given_name": "Ada", "emails": [{"type": "work", "email": "ada@example.org"}]},
    ).json()
    deltas = deltas_since(api, cursor)
    assert summary(deltas) == [
        ("calendar", "create", calendar["id"]),
        ("event", "create", event["id"]),
        ("contact", "create", contact["id"]),
    ]
    assert deltas[0]["attributes"] == api.get(f"/calendars/{calendar['id']}").json()
    assert deltas[1]["attributes"] == api.get(f"/events/{event['id']}").json()
    assert deltas[2]["attributes"] == api.get(f"/contacts/{contact['id']}").json()

    cursor = latest(api)
    assert api.put(f"/events/{event['id']}", json={"title": "Retro"}).status_code == 200
    assert api.delete(f"/contacts/{contact['id']}").status_code == 200
    changed = deltas_since(api, cursor)
    assert summary(changed) == [
        ("event", "modify", event["id"]),
        ("contact", "delete", contact["id"]),
    ]
    assert changed[0]["attributes"]["title"] == "Retro"
    only_events = deltas_since(api, cursor, include_types="event,calendar")
    assert summary(only_events) == [("event", "modify", event["id"])]


# ---------------------------------------------------------------------------------- filters


def test_include_and_exclude_types(engine, account, api):
    cursor = latest(api)
    folder = new_folder(api, "Filters")
    sent = Mailbox(engine, account).add("Filtered")

    only_messages = deltas_since(api, cursor, include_types="message")
    assert summary(only_messages) == [("message", "create", sent["id"])]
    two = deltas_since(api, cursor, include_types="message,folder")
    assert {d["object"] for d in two} == {"message", "folder"}

    for name in ("exclude_types", "excluded_types"):  # SDK 5 sends `excluded_types`
        rest = deltas_since(api, cursor, **{name: "thread,message"})
        assert {d["object"] for d in rest} == {"folder"}

    no_folders = deltas_since(api, cursor, exclude_folders="true")
    assert {d["object"] for d in no_folders} == {"message", "thread"}
    assert folder["id"] in {d["id"] for d in deltas_since(api, cursor, exclude_folders="False")}


def test_account_deltas_only_when_asked(engine, account, api):
    from sqlalchemy import select

    from nylas_engine.store.models import Account

    cursor = latest(api)
    with engine.db.session() as session:
        row = session.scalar(select(Account).where(Account.public_id == account["id"]))
        row.name = "Renamed User"
    assert deltas_since(api, cursor) == []
    shown = deltas_since(api, cursor, exclude_account="false")
    assert summary(shown) == [("account", "modify", account["id"])]
    assert shown[0]["attributes"] == api.get("/account").json()
    assert shown[0]["attributes"]["name"] == "Renamed User"


BOUNDED = "Timeout parameter must be a number of seconds from 0 to 3600."


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"include_types": "message,bogus"}, "Invalid object type bogus"),
        ({"exclude_types": "account"}, "Invalid object type account"),
        ({"excluded_types": "nope"}, "Invalid object type nope"),
        (
            {"include_types": "message", "exclude_types": "thread"},
            "Invalid Request. Cannot specify both include_types and exclude_types",
        ),
        (
            {"include_types": "message", "excluded_types": "thread"},
            "Invalid Request. Cannot specify both include_types and exclude_types",
        ),
        ({"exclude_folders": "maybe"}, '"exclude_folders" must be true or false'),
        ({"limit": "1001"}, "Cannot request more than 1000 resources at once."),
        ({"timeout": "soon"}, "Timeout parameter must be a number of seconds."),
        ({"timeout": "-1"}, BOUNDED),
        ({"timeout": "inf"}, BOUNDED),
        ({"timeout": "-inf"}, BOUNDED),
        ({"timeout": "nan"}, BOUNDED),
        ({"timeout": "1e308"}, BOUNDED),
        ({"timeout": "3601"}, BOUNDED),
        ({"timeout": "-0.5"}, BOUNDED),
    ],
)
def test_bad_filters_are_400(api, params, message):
    """Waits are bounded (issue 10): a timeout of 1e308 seconds would hold a connection and
    a worker for ever."""
    waiting = ("/delta/longpoll", "/delta/streaming")
    for path in waiting if "timeout" in params else ("/delta", *waiting):
        response = api.get(path, params={"cursor": "0", **params})
        assert response.status_code == 400, path
        assert response.json() == {"message": message, "type": "invalid_request_error"}


# ---------------------------------------------------------------------------------- cursors


def test_bad_and_foreign_cursors_are_400(engine, api):
    other = engine.new_account()
    with engine.client(other["id"]) as other_api:
        foreign = latest(other_api)
    assert foreign != "0"
    for cursor in ("nosuchcursor", "!!", foreign):
        for path in ("/delta", "/delta/longpoll", "/delta/streaming"):
            response = api.get(path, params={"cursor": cursor, "timeout": 1})
            assert response.status_code == 400, (path, cursor)
            assert response.json()["message"] == "Invalid cursor parameter"
    missing = api.get("/delta")
    assert missing.status_code == 400
    assert "cursor" in missing.json()["message"]


def test_generate_cursor_from_a_timestamp(api):
    before_everything = api.post("/delta/generate_cursor", json={"start": 0})
    assert before_everything.json() == {"cursor": "0"}
    future = api.post("/delta/generate_cursor", json={"start": int(time.time()) + 3600})
    assert future.status_code == 200
    assert future.json() == {"cursor": latest(api)}
    far = api.post("/delta/generate_cursor", json={"start": 2**70})
    assert far.json() == {"cursor": latest(api)}
    assert api.post("/delta/generate_cursor", json={"start": -(2**70)}).json() == {"cursor": "0"}
    for body in ({}, {"start": "yesterday"}, {"start": 1, "extra": 2}, {"start": True}, []):
        response = api.post("/delta/generate_cursor", json=body)
        assert response.status_code == 400, body
        assert response.json()["type"] == "invalid_request_error"


def test_accounts_never_see_each_others_deltas(engine, api, account):
    other = engine.new_account()
    with engine.client(other["id"]) as other_api:
        other_start = latest(other_api)
        mine = new_folder(api, "Private")
        Mailbox(engine, account).add("Private mail")
        assert latest(other_api) == other_start
        assert deltas_since(other_api, other_start) == []
        everything = other_api.get("/delta", params={"cursor": "0", "limit": 1000}).json()
        ids = {d["id"] for d in everything["deltas"]}
        assert mine["id"] not in ids
        assert all(
            d["attributes"]["account_id"] == other["id"]
            for d in everything["deltas"]
            if "attributes" in d
        )
        # Longpoll on the other account does not wake up for this account's changes.
        later(lambda: new_folder(api, "Still private"), delay=0.3)
        quiet = other_api.get(
            "/delta/longpoll", params={"cursor": other_start, "timeout": 2}
        ).json()
        assert quiet == {"cursor_start": other_start, "deltas": [], "cursor_end": other_start}


# ------------------------------------------------------------------------ longpoll, streaming


def test_longpoll_returns_when_something_changes(api):
    cursor = latest(api)
    waiter = later(lambda: new_folder(api, "Arrived"))
    response = api.get("/delta/longpoll", params={"cursor": cursor, "timeout": 60}, timeout=90)
    waiter.join()
    body = response.json()
    assert body["cursor_start"] == cursor
    assert [(d["object"], d["event"]) for d in body["deltas"]] == [("folder", "create")]
    assert body["deltas"][0]["attributes"]["display_name"] == "Arrived"
    assert body["cursor_end"] == body["deltas"][0]["cursor"]


def test_longpoll_returns_pending_changes_at_once_and_empty_at_timeout(api):
    cursor = latest(api)
    folder = new_folder(api, "Pending")
    pending = api.get("/delta/longpoll", params={"cursor": cursor, "timeout": 60}).json()
    assert summary(pending["deltas"]) == [("folder", "create", folder["id"])]

    end = pending["cursor_end"]
    empty = api.get("/delta/longpoll", params={"cursor": end, "timeout": 1})
    assert empty.status_code == 200
    assert empty.json() == {"cursor_start": end, "deltas": [], "cursor_end": end}


def read_stream(api: httpx.Client, params: dict[str, Any]) -> tuple[str, list[str]]:
    with api.stream("GET", "/delta/streaming", params=params, timeout=30) as response:
        assert response.status_code == 200
        return response.headers["content-type"], [line for line in response.iter_lines()]


def test_streaming_sends_one_json_line_per_delta_and_keepalives(api):
    cursor = latest(api)
    first = new_folder(api, "Before stream")
    waiter = later(lambda: new_folder(api, "During stream"))
    content_type, lines = read_stream(api, {"cursor": cursor, "timeout": 6})
    waiter.join()
    assert content_type.startswith("text/event-stream")
    deltas = [json.loads(line) for line in lines if line]
    assert [d["attributes"]["display_name"] for d in deltas] == ["Before stream", "During stream"]
    assert deltas[0]["id"] == first["id"]
    assert all(d["object"] == "folder" and d["event"] == "create" for d in deltas)
    assert "" in lines  # keep-alives: bare newlines while nothing changed
    assert not any(line.startswith(("data:", "event:")) for line in lines)  # not SSE framing


def test_streaming_honours_filters_and_expanded_view(engine, account, api):
    cursor = latest(api)
    sent = Mailbox(engine, account).add("Streamed")
    new_folder(api, "Not streamed")
    _, lines = read_stream(
        api, {"cursor": cursor, "timeout": 1.5, "include_types": "thread", "view": "expanded"}
    )
    deltas = [json.loads(line) for line in lines if line]
    assert summary(deltas) == [("thread", "create", sent["thread_id"])]
    assert [m["id"] for m in deltas[0]["attributes"]["messages"]] == [sent["id"]]


def test_streaming_client_can_hang_up(api):
    cursor = latest(api)
    new_folder(api, "First")
    with api.stream("GET", "/delta/streaming", params={"cursor": cursor}) as response:
        first = next(line for line in response.iter_lines() if line)
    assert json.loads(first)["attributes"]["display_name"] == "First"
    # The engine keeps serving after the client went away mid-stream.
    assert api.post("/delta/latest_cursor").status_code == 200


def test_a_page_loads_its_objects_in_batches_not_per_delta(engine, account, api):
    """Rendering a page runs as many SQL statements for 60 deltas as for 6 (no N+1)."""
    from sqlalchemy import event, select

    from nylas_engine.api.views.registry import RenderContext, deltas_json
    from nylas_engine.store import delta
    from nylas_engine.store.models import Account

    box = Mailbox(engine, account)

    def statements(cursor: str, types: delta.TypeFilter, expected: int) -> int:
        executed = []

        def record(*_args: Any) -> None:
            executed.append(1)

        with engine.db.session() as session:
            row = session.scalar(select(Account).where(Account.public_id == account["id"]))
            start = delta.position_of(session, row, cursor)
            event.listen(engine.db.engine, "before_cursor_execute", record)
            try:
                page = delta.page_after(session, row, start, types, 1000)
                rendered = deltas_json(page.items, RenderContext(session, row, True))
            finally:
                event.remove(engine.db.engine, "before_cursor_execute", record)
        assert len(rendered) == expected
        return len(executed)

    def measure(count: int) -> tuple[int, int]:
        cursor = latest(api)
        for i in range(count):
            box.add(f"Batch {count} {i}", files=[("a.txt", "text/plain", b"a")], folder="inbox")
        api.post("/calendars", json={"name": f"Cal {count}"})
        api.post("/contacts", json={"given_name": f"Contact {count}"})
        # message, thread and file per message; a calendar; a contact. Then files alone,
        # whose views need their messages without having them in the page.
        every = statements(cursor, delta.TypeFilter(), 3 * count + 2)
        files = statements(cursor, delta.TypeFilter(include=frozenset({"file"})), count)
        return every, files

    assert measure(60) == measure(6)
