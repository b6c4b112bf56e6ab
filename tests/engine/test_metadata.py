"""Hosted v2 metadata: set on messages, drafts, events, calendars and (per app) accounts,
returned on reads and in deltas, found with the metadata_* filters, refused where it can't
apply or breaks hosted v2's limits; multi-id message reads; the SDKs' delta spellings."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from mailfactory import Mailbox

T0 = 1_600_000_000
WHEN = {"start_time": T0 + 3600, "end_time": T0 + 7200}


@pytest.fixture
def mail(engine: Any, account: dict[str, Any]) -> dict[str, Any]:
    """m1 and its reply m2 in one thread, m3 alone."""
    box = Mailbox(engine, account)
    m1 = box.add("Order 42", date=T0 + 10)
    m2 = box.add("Re: Order 42", date=T0 + 20, reply_to=m1)
    m3 = box.add("Lunch", date=T0 + 30)
    return {"m1": m1, "m2": m2, "m3": m3}


def found(api: httpx.Client, path: str, **params: Any) -> list[str]:
    response = api.get(path, params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


def error(response: httpx.Response, status: int = 400) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["type"] == "invalid_request_error"
    return str(body["message"])


def primary(api: httpx.Client) -> str:
    return str(api.get("/calendars").json()[0]["id"])


# ------------------------------------------------------------------------------ messages


def test_message_metadata_is_set_returned_and_filtered(api, mail):
    m1, m2, m3 = (mail[k]["id"] for k in ("m1", "m2", "m3"))
    assert api.get(f"/messages/{m1}").json()["metadata"] == {}
    updated = api.put(f"/messages/{m1}", json={"metadata": {"order": "42", "stage": "Won"}})
    assert updated.status_code == 200
    assert updated.json()["metadata"] == {"order": "42", "stage": "Won"}
    assert api.get(f"/messages/{m1}").json()["metadata"] == {"order": "42", "stage": "Won"}
    api.put(f"/messages/{m3}", json={"metadata": {"order": "7"}, "unread": False})
    assert api.get(f"/messages/{m3}").json()["unread"] is False

    assert found(api, "/messages", metadata_key="order") == [m3, m1]
    assert found(api, "/messages", metadata_key="Order") == []  # keys are exact
    assert found(api, "/messages", metadata_value="Won") == [m1]
    assert found(api, "/messages", metadata_pair="order:42") == [m1]
    assert found(api, "/messages", metadata_pair="order:43") == []
    assert found(api, "/messages", metadata_search="wo") == [m1]  # any case, key or value
    assert found(api, "/messages", metadata_search="ORD") == [m3, m1]
    assert found(api, "/messages", metadata_search="%") == []  # no wildcards
    # Every filter given must hold, repeated ones too.
    both = [("metadata_pair", "order:42"), ("metadata_pair", "stage:Won")]
    assert [m["id"] for m in api.get("/messages", params=both).json()] == [m1]
    assert api.get("/messages", params=[*both, ("metadata_key", "other")]).json() == []
    assert found(api, "/messages", metadata_key="order", subject="Lunch") == [m3]
    assert api.get("/messages", params={"metadata_key": "order", "view": "count"}).json() == {
        "count": 2
    }
    assert api.get("/messages", params={"metadata_key": "order", "view": "ids"}).json() == [
        m3,
        m1,
    ]
    # A thread matches when one of its messages does.
    assert found(api, "/threads", metadata_pair="order:42") == [mail["m1"]["thread_id"]]
    assert found(api, "/threads", metadata_key="nothing") == []
    assert m2 not in found(api, "/messages", metadata_key="order")


def test_a_write_replaces_the_whole_mapping(api, mail):
    m1 = mail["m1"]["id"]
    api.put(f"/messages/{m1}", json={"metadata": {"a": "1", "b": "2"}})
    # Hosted v2: a key left out is removed, an empty value is kept as a value.
    assert api.put(f"/messages/{m1}", json={"metadata": {"b": ""}}).json()["metadata"] == {"b": ""}
    assert found(api, "/messages", metadata_key="a") == []
    assert found(api, "/messages", metadata_pair="b:") == [m1]
    # No metadata key, or null, leaves it as it is.
    assert api.put(f"/messages/{m1}", json={"unread": True}).json()["metadata"] == {"b": ""}
    assert api.put(f"/messages/{m1}", json={"metadata": None}).json()["metadata"] == {"b": ""}
    assert api.put(f"/messages/{m1}", json={"metadata": {}}).json()["metadata"] == {}
    assert found(api, "/messages", metadata_key="b") == []


def test_metadata_travels_in_deltas(api, mail):
    cursor = api.post("/delta/latest_cursor").json()["cursor"]
    api.put(f"/messages/{mail['m1']['id']}", json={"metadata": {"crm": "x-1"}})
    deltas = api.get("/delta", params={"cursor": cursor}).json()["deltas"]
    message = [d for d in deltas if d["object"] == "message"]
    assert [d["attributes"]["metadata"] for d in message] == [{"crm": "x-1"}]


# ------------------------------------------------------------------------------ drafts


def test_draft_metadata_on_create_update_and_filters(api, mail):
    created = api.post("/drafts", json={"subject": "Offer", "metadata": {"deal": "d-9"}})
    assert created.status_code == 200, created.text
    draft = created.json()
    assert draft["metadata"] == {"deal": "d-9"}
    assert found(api, "/drafts", metadata_pair="deal:d-9") == [draft["id"]]
    assert found(api, "/messages", metadata_key="deal") == []  # drafts aren't messages
    updated = api.put(
        f"/drafts/{draft['id']}", json={"version": 0, "metadata": {"deal": "d-10"}}
    ).json()
    assert updated["metadata"] == {"deal": "d-10"}
    assert found(api, "/drafts", metadata_pair="deal:d-9") == []
    assert found(api, "/drafts", metadata_value="d-10") == [draft["id"]]
    # A later save without metadata keeps it.
    kept = api.put(f"/drafts/{draft['id']}", json={"version": 1, "subject": "Offer 2"}).json()
    assert kept["metadata"] == {"deal": "d-10"}


# ------------------------------------------------------------------------------ calendar


def test_calendar_and_event_metadata(api, account):
    calendar = api.post("/calendars", json={"name": "Sales", "metadata": {"team": "emea"}}).json()
    assert calendar["metadata"] == {"team": "emea"}
    assert found(api, "/calendars", metadata_key="team") == [calendar["id"]]
    assert found(api, "/calendars", metadata_pair="team:apac") == []
    renamed = api.put(f"/calendars/{calendar['id']}", json={"metadata": {"team": "apac"}})
    assert renamed.json()["metadata"] == {"team": "apac"}
    assert found(api, "/calendars", metadata_pair="team:apac") == [calendar["id"]]
    assert api.get("/calendars", params={"metadata_key": "team", "view": "count"}).json() == {
        "count": 1
    }

    body = {"calendar_id": primary(api), "when": WHEN, "title": "Demo"}
    tagged = api.post("/events", json={**body, "metadata": {"kind": "demo"}}).json()
    plain = api.post("/events", json=body).json()
    assert tagged["metadata"] == {"kind": "demo"} and plain["metadata"] == {}
    assert found(api, "/events", metadata_pair="kind:demo") == [tagged["id"]]
    assert found(api, "/events", metadata_search="DEM") == [tagged["id"]]
    assert found(api, "/events", metadata_pair="kind:demo", title="Nope") == []
    assert found(api, "/events", metadata_key="kind", expand_recurring="true") == [tagged["id"]]
    changed = api.put(f"/events/{plain['id']}", json={"metadata": {"kind": "call"}})
    assert changed.json()["metadata"] == {"kind": "call"}
    assert found(api, "/events", metadata_key="kind") == [tagged["id"], plain["id"]]
    assert api.get(f"/events/{plain['id']}").json()["metadata"] == {"kind": "call"}


def test_metadata_on_a_recurring_event_and_its_instances(api):
    master = api.post(
        "/events",
        json={
            "calendar_id": primary(api),
            "when": WHEN,
            "title": "Standup",
            "recurrence": {"rrule": ["RRULE:FREQ=DAILY;COUNT=3"], "timezone": "UTC"},
        },
    ).json()
    # The series itself can't change yet, but its metadata can.
    response = api.put(f"/events/{master['id']}", json={"metadata": {"series": "s1"}})
    assert response.status_code == 200, response.text
    assert error(api.put(f"/events/{master['id']}", json={"title": "x"})) == (
        "Cannot update a recurring event yet."
    )
    expanded = api.get(
        "/events",
        params={
            "expand_recurring": "true",
            "metadata_pair": "series:s1",
            "starts_after": T0,
            "ends_before": T0 + 10 * 86400,
        },
    ).json()
    assert len(expanded) == 3
    assert {e["metadata"]["series"] for e in expanded} == {"s1"}


# ------------------------------------------------------------------------------ bad input

BAD_METADATA = [
    ("a list", ["x"], "must be an object"),
    ("a string", "x", "must be an object"),
    ("a number value", {"n": 5}, "The metadata value of 'n' must be a string."),
    ("a nested object", {"n": {"x": "y"}}, "must be a string"),
    ("a null value", {"n": None}, "must be a string"),
    ("an empty key", {"": "x"}, "non-empty string"),
    ("a 41-character key", {"k" * 41: "x"}, "longer than 40 characters"),
    ("a 501-character value", {"k": "v" * 501}, "longer than 500 characters"),
    ("51 pairs", {f"k{i}": "v" for i in range(51)}, "at most 50 key-value pairs"),
]


@pytest.mark.parametrize(
    ("what", "metadata", "message"), BAD_METADATA, ids=[b[0] for b in BAD_METADATA]
)
def test_bad_metadata_is_a_400_everywhere(api, mail, what, metadata, message):
    m1 = mail["m1"]["id"]
    calendar_id = primary(api)
    event = api.post("/events", json={"calendar_id": calendar_id, "when": WHEN}).json()
    writes = [
        api.put(f"/messages/{m1}", json={"metadata": metadata, "unread": False}),
        api.post("/drafts", json={"subject": "x", "metadata": metadata}),
        api.post("/events", json={"calendar_id": calendar_id, "when": WHEN, "metadata": metadata}),
        api.put(f"/events/{event['id']}", json={"metadata": metadata}),
        api.post("/calendars", json={"name": "c", "metadata": metadata}),
        api.put(f"/calendars/{calendar_id}", json={"metadata": metadata}),
    ]
    for response in writes:
        assert message in error(response)
    # Nothing was written by the refused requests.
    assert api.get(f"/messages/{m1}").json()["unread"] is True
    assert api.get("/drafts", params={"view": "count"}).json() == {"count": 0}
    assert [c["name"] for c in api.get("/calendars").json()].count("c") == 0


def test_limits_themselves_are_accepted(api, mail):
    m1 = mail["m1"]["id"]
    metadata = {f"{i:0>40}": "v" * 500 for i in range(50)}
    response = api.put(f"/messages/{m1}", json={"metadata": metadata})
    assert response.status_code == 200, response.text
    assert found(api, "/messages", metadata_pair=f"{7:0>40}:{'v' * 500}") == [m1]


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"metadata_pair": "no-colon"}, "metadata_pair must be written key:value"),
        ({"metadata_pair": ":value"}, "The key of metadata_pair must be a non-empty string."),
        ({"metadata_key": ""}, "metadata_key must be a non-empty string."),
        ({"metadata_key": "k" * 41}, "metadata_key is longer than 40 characters"),
        ({"metadata_value": "v" * 501}, "metadata_value is longer than 500 characters."),
        ({"metadata_search": ""}, "metadata_search must not be empty."),
        ([("metadata_key", "k")] * 21, "metadata_key can be given at most 20 times."),
    ],
)
def test_bad_filters_are_a_400(api, params, message):
    for path in ("/messages", "/threads", "/drafts", "/events", "/calendars"):
        assert message in error(api.get(path, params=params))


@pytest.mark.parametrize(
    "path",
    ["/contacts", "/files", "/folders", "/threads/search?q=x", "/messages/search?q=x"],
)
def test_endpoints_without_metadata_refuse_its_filters(api, path):
    message = error(api.get(path, params={"metadata_pair": "a:b"}))
    assert message.startswith("metadata_pair can't be used on /")
    assert api.get(path).status_code == 200


# ------------------------------------------------------------------------------ isolation


def test_another_accounts_metadata_never_matches(engine, api, mail):
    m1 = mail["m1"]["id"]
    api.put(f"/messages/{m1}", json={"metadata": {"shared": "same"}})
    other = engine.new_account()
    with engine.client(other["id"]) as them:
        theirs = Mailbox(engine, other).add("Theirs", date=T0 + 50)
        them.put(f"/messages/{theirs['id']}", json={"metadata": {"shared": "same"}})
        them.post("/calendars", json={"name": "Theirs", "metadata": {"shared": "same"}})
        assert found(them, "/messages", metadata_pair="shared:same") == [theirs["id"]]
        assert found(them, "/threads", metadata_key="shared") == [theirs["thread_id"]]
        # Their ids are not found from here, alone or among ours.
        assert api.get(f"/messages/{theirs['id']}").status_code == 404
        assert found(api, f"/messages/{theirs['id']},{m1}") == [m1]
    assert found(api, "/messages", metadata_pair="shared:same") == [m1]
    assert found(api, "/threads", metadata_key="shared") == [mail["m1"]["thread_id"]]
    assert found(api, "/calendars", metadata_key="shared") == []


# ------------------------------------------------------------------------------ multi-id


def test_comma_separated_ids_read_several_messages(api, mail):
    m1, m2, m3 = (mail[k]["id"] for k in ("m1", "m2", "m3"))
    listed = api.get(f"/messages/{m2},{m3},{m1}")
    assert listed.status_code == 200
    assert [m["object"] for m in listed.json()] == ["message"] * 3
    assert [m["id"] for m in listed.json()] == [m2, m3, m1]  # the order asked
    assert found(api, f"/messages/{m1},{m1},nosuchid") == [m1]
    assert found(api, f"/messages/{m2},{m3},{m1}", limit=1, offset=1) == [m3]
    assert api.get(f"/messages/{m1},{m2}", params={"view": "ids"}).json() == [m1, m2]
    assert api.get(f"/messages/{m1},{m2}", params={"view": "count"}).json() == {"count": 2}
    assert "headers" in api.get(f"/messages/{m1},{m2}", params={"view": "expanded"}).json()[0]
    assert error(api.get(f"/messages/{m1},bad id!")) == "Invalid id: bad id!"
    assert error(api.get(f"/messages/{m1},")) == "Invalid id: "
    many = ",".join([m1] * 101)
    assert "At most 100" in error(api.get(f"/messages/{many}"))
    raw = api.get(f"/messages/{m1},{m2}", headers={"Accept": "message/rfc822"})
    assert "one at a time" in error(raw)


# ------------------------------------------------------------------------------ delta spellings


def test_delta_takes_the_sdk_spellings_of_type_filters(api, mail):
    cursor = "0"
    api.put(f"/messages/{mail['m1']['id']}", json={"unread": False})

    def types(**params: Any) -> set[str]:
        response = api.get("/delta", params={"cursor": cursor, **params})
        assert response.status_code == 200, response.text
        return {d["object"] for d in response.json()["deltas"]}

    assert types(includeTypes="message") == {"message"}
    assert types(include_types="message") == {"message"}
    assert "message" not in types(excludeTypes="message")
    assert types(include_types="thread", includeTypes="thread") == {"thread"}
    assert "disagree" in error(
        api.get("/delta", params={"cursor": cursor, "include_types": "a", "includeTypes": "b"})
    )
    assert "Cannot specify both" in error(
        api.get(
            "/delta", params={"cursor": cursor, "includeTypes": "message", "excludeTypes": "thread"}
        )
    )
    assert error(api.get("/delta", params={"cursor": cursor, "includeTypes": "nope"})) == (
        "Invalid object type nope"
    )
    longpoll = api.get(
        "/delta/longpoll", params={"cursor": cursor, "includeTypes": "thread", "timeout": 0}
    )
    assert {d["object"] for d in longpoll.json()["deltas"]} == {"thread"}


# ------------------------------------------------------------------------------ accounts (per app)


def new_app(engine: Any, account: dict[str, Any], name: str) -> tuple[str, str]:
    """An app on the shared engine with a token for `account`: (client id, client secret)."""
    from sqlalchemy import select

    from nylas_engine.store import auth
    from nylas_engine.store.models import Account

    with engine.db.session() as session:
        app, secret = auth.create_app(session, name, [])
        row = session.scalar(select(Account).where(Account.public_id == account["id"]))
        auth.issue_token(session, row, app)
        return app.client_id, secret


def _app(engine: Any, account: dict[str, Any], name: str) -> tuple[str, httpx.Client]:
    client_id, secret = new_app(engine, account, name)
    return client_id, httpx.Client(base_url=engine.url, auth=(secret, ""), timeout=30)


def test_account_metadata_belongs_to_each_app(engine, account):
    first_id, first = _app(engine, account, "First")
    second_id, second = _app(engine, account, "Second")
    other = engine.new_account()
    _, _unused = _app(engine, other, "Unused")
    with first, second, _unused:
        path = f"/a/{first_id}/accounts/{account['id']}"
        assert first.get(path).json()["metadata"] == {}
        updated = first.put(path, json={"metadata": {"plan": "pro", "seat": "3"}})
        assert updated.json()["metadata"] == {"plan": "pro", "seat": "3"}
        assert first.get(path).json()["metadata"] == {"plan": "pro", "seat": "3"}
        listed = first.get(f"/a/{first_id}/accounts", params={"metadata_pair": "plan:pro"})
        assert [a["id"] for a in listed.json()] == [account["id"]]
        assert first.get(f"/a/{first_id}/accounts", params={"metadata_key": "nope"}).json() == []
        assert first.get(
            f"/a/{first_id}/accounts", params={"metadata_search": "PR", "view": "count"}
        ).json() == {"count": 1}

        # The second app sees none of it, and its own metadata stays its own.
        other_path = f"/a/{second_id}/accounts/{account['id']}"
        assert second.get(other_path).json()["metadata"] == {}
        assert second.get(f"/a/{second_id}/accounts", params={"metadata_key": "plan"}).json() == []
        second.put(other_path, json={"metadata": {"plan": "free"}})
        assert first.get(path).json()["metadata"] == {"plan": "pro", "seat": "3"}
        assert (
            first.get(f"/a/{first_id}/accounts", params={"metadata_pair": "plan:free"}).json() == []
        )

        assert "at most 50" in error(
            first.put(path, json={"metadata": {f"k{i}": "v" for i in range(51)}})
        )
        assert "must be a string" in error(first.put(path, json={"metadata": {"n": 1}}))
        assert first.get(path).json()["metadata"] == {"plan": "pro", "seat": "3"}

        # Disconnected and linked again, the account starts without the app's metadata.
        assert first.delete(path).json() == {"success": True}
        _relink(engine, account, first_id)
        assert first.get(path).json()["metadata"] == {}
        assert second.get(other_path).json()["metadata"] == {"plan": "free"}


def _relink(engine: Any, account: dict[str, Any], client_id: str) -> None:
    from sqlalchemy import select

    from nylas_engine.store import auth
    from nylas_engine.store.models import Account

    with engine.db.session() as session:
        app = auth.find_app(session, client_id)
        row = session.scalar(select(Account).where(Account.public_id == account["id"]))
        assert app is not None and row is not None
        auth.issue_token(session, row, app)


# ------------------------------------------------------------------------------ migration


def test_upgrading_copies_existing_metadata_into_the_filter_rows(new_database, tmp_path):
    """Revision 0008 fills metadata_entries from the messages' and events' metadata (valid
    pairs only), and keeps events when it changes the calendars table."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import select

    from nylas_engine.store.accounts import create_account
    from nylas_engine.store.db import MIGRATIONS_DIR, Database
    from nylas_engine.store.models import Calendar, Event, Message, MetadataEntry

    url = new_database() or f"sqlite:///{tmp_path / 'engine.db'}"
    db = Database(url)
    with db.session() as session:
        account = create_account(session, "old@example.com", name="Old")
        calendar = session.scalar(select(Calendar).where(Calendar.account_id == account.id))
        message = Message(account_id=account.id, metadata_={"ok": "1", "long": "v" * 501, "n": 5})
        event = Event(account_id=account.id, calendar_id=calendar.id, metadata_={"kind": "x"})
        session.add_all([message, event])
        session.flush()
        ids = (message.id, event.id)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    for revision in ("0007", "head"):
        with db.engine.begin() as conn:
            config.attributes["connection"] = conn
            (command.downgrade if revision == "0007" else command.upgrade)(config, revision)
    with db.session() as session:
        rows = session.execute(
            select(MetadataEntry.message_id, MetadataEntry.event_id, MetadataEntry.key)
        ).all()
        assert sorted(rows, key=str) == sorted(
            [(ids[0], None, "ok"), (None, ids[1], "kind")], key=str
        )
        assert session.get(Event, ids[1]) is not None
    db.engine.dispose()
