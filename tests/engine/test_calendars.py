"""Calendars (docs/protocol.md §12): list and get as the open engine served them, plus hosted v2's
create, update and delete."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select


def _add_calendar(engine: Any, account: dict[str, Any], **fields: Any) -> str:
    """A calendar written straight into the database (how sync would add a read-only one)."""
    from nylas_engine.store.models import Account, Calendar

    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        calendar = Calendar(account_id=owner.id, **fields)
        session.add(calendar)
        session.flush()
        return str(calendar.public_id)


def test_new_account_has_one_primary_calendar(api, account):
    calendars = api.get("/calendars").json()
    assert len(calendars) == 1
    primary = calendars[0]
    assert primary["object"] == "calendar"
    assert primary["account_id"] == account["id"]
    assert primary["is_primary"] is True
    assert primary["read_only"] is False
    assert set(primary) == {
        "id",
        "object",
        "account_id",
        "name",
        "description",
        "read_only",
        "is_primary",
        "location",
        "timezone",
        "metadata",
    }
    assert api.get(f"/calendars/{primary['id']}").json() == primary


def test_create_update_and_delete_a_calendar(api, account):
    created = api.post(
        "/calendars",
        json={
            "name": "Team",
            "description": "Shared plans",
            "location": "Berlin",
            "timezone": "Europe/Berlin",
        },
    )
    assert created.status_code == 200
    team = created.json()
    assert team["name"] == "Team"
    assert team["description"] == "Shared plans"
    assert team["location"] == "Berlin"
    assert team["timezone"] == "Europe/Berlin"
    assert team["is_primary"] is False and team["read_only"] is False
    assert api.get(f"/calendars/{team['id']}").json() == team

    renamed = api.put(f"/calendars/{team['id']}", json={"name": "Team B", "id": "ignored"})
    assert renamed.status_code == 200
    assert renamed.json()["name"] == "Team B"
    assert renamed.json()["location"] == "Berlin"
    patched = api.patch(f"/calendars/{team['id']}", json={"timezone": None}).json()
    assert patched["timezone"] is None and patched["name"] == "Team B"
    assert api.get(f"/calendars/{team['id']}").json() == patched

    event = api.post(
        "/events", json={"calendar_id": team["id"], "title": "Standup", "when": {"time": 1}}
    ).json()
    deleted = api.delete(f"/calendars/{team['id']}")
    assert deleted.status_code == 200
    assert deleted.json() is None
    missing = api.get(f"/calendars/{team['id']}")
    assert missing.status_code == 404
    assert missing.json()["message"] == f"Couldn't find calendar {team['id']}"
    assert team["id"] not in [c["id"] for c in api.get("/calendars").json()]
    # The calendar's events went with it.
    assert api.get(f"/events/{event['id']}").status_code == 404


def test_calendar_input_is_checked(api):
    for body, message in (
        ({}, "'name' is required and must be a string."),
        ({"name": 5}, "'name' is required and must be a string."),
        ({"name": "x", "timezone": "Mars/Olympus"}, "'timezone' must be an IANA time zone"),
        ({"name": "x", "description": ["no"]}, "'description' must be a string."),
        ({"name": "x" * 300}, "'name' is longer than 255 characters."),
    ):
        response = api.post("/calendars", json=body)
        assert response.status_code == 400, body
        assert response.json()["message"].startswith(message)
        assert response.json()["type"] == "invalid_request_error"
    assert api.post("/calendars", content=b"[1]").status_code == 400
    primary = api.get("/calendars").json()[0]
    assert api.patch(f"/calendars/{primary['id']}", json={"name": None}).status_code == 400


def test_primary_and_read_only_calendars_cannot_be_deleted(engine, api, account):
    primary = api.get("/calendars").json()[0]
    refused = api.delete(f"/calendars/{primary['id']}")
    assert refused.status_code == 400
    assert refused.json()["message"] == "The primary calendar cannot be deleted."

    holidays = _add_calendar(engine, account, name="Holidays", read_only=True)
    listed = api.get(f"/calendars/{holidays}").json()
    assert listed["read_only"] is True
    assert api.delete(f"/calendars/{holidays}").status_code == 400
    assert api.put(f"/calendars/{holidays}", json={"name": "Mine"}).status_code == 400
    assert api.get(f"/calendars/{holidays}").json() == listed


def test_list_order_views_and_paging(engine, api, account):
    primary = api.get("/calendars").json()[0]["id"]
    names = ["A", "B", "C"]
    ids = [primary] + [api.post("/calendars", json={"name": n}).json()["id"] for n in names]
    assert [c["id"] for c in api.get("/calendars").json()] == ids
    assert api.get("/calendars", params={"view": "ids"}).json() == ids
    assert api.get("/calendars", params={"view": "count"}).json() == {"count": 4}
    page = api.get("/calendars", params={"limit": 2, "offset": 1}).json()
    assert [c["id"] for c in page] == ids[1:3]
    assert api.get("/calendars", params={"offset": 10}).json() == []
    bad_view = api.get("/calendars", params={"view": "expanded"})
    assert bad_view.status_code == 400
    assert api.get("/calendars/not-an-id!").status_code == 400


def test_other_accounts_calendars_are_not_found(engine, api, account):
    other = engine.new_account()
    theirs = engine.client(other["id"]).get("/calendars").json()[0]["id"]
    extra = engine.client(other["id"]).post("/calendars", json={"name": "Theirs"}).json()["id"]
    for calendar_id in (theirs, extra):
        assert api.get(f"/calendars/{calendar_id}").status_code == 404
        assert api.put(f"/calendars/{calendar_id}", json={"name": "x"}).status_code == 404
        assert api.patch(f"/calendars/{calendar_id}", json={"name": "x"}).status_code == 404
        assert api.delete(f"/calendars/{calendar_id}").status_code == 404
    assert theirs not in api.get("/calendars", params={"view": "ids"}).json()
    assert engine.client(other["id"]).get(f"/calendars/{extra}").json()["name"] == "Theirs"
