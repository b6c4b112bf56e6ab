"""Hosted v2 `POST /events/to-ics` and `GET /resources` (rooms from `nylas-engine resources`)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from icalendar import Calendar

MONDAY = 1_893_974_400  # 2030-01-07 00:00 UTC
H = 3600


def parse(ics: str) -> tuple[Calendar, Any]:
    calendar = Calendar.from_ical(ics)
    (event,) = calendar.walk("VEVENT")
    return calendar, event


def test_to_ics_of_a_stored_event(api, account):
    calendar_id = api.get("/calendars").json()[0]["id"]
    event = api.post(
        "/events",
        json={
            "calendar_id": calendar_id,
            "title": "Planning",
            "location": "Room 1A",
            "when": {"start_time": MONDAY + 9 * H, "end_time": MONDAY + 10 * H},
            "participants": [{"email": "ann@example.net", "name": "Ann"}],
            "recurrence": {"rrule": ["RRULE:FREQ=WEEKLY;COUNT=3"], "timezone": "Europe/Paris"},
        },
    ).json()
    reply = api.post("/events/to-ics", json={"event_id": event["id"]})
    assert reply.status_code == 200, reply.text
    calendar, vevent = parse(reply.json()["ics"])
    assert str(calendar["method"]) == "REQUEST"
    assert str(vevent["summary"]) == "Planning"
    assert str(vevent["location"]) == "Room 1A"
    assert vevent.decoded("dtstart").timestamp() == MONDAY + 9 * H
    assert vevent.decoded("dtend").timestamp() == MONDAY + 10 * H
    assert "FREQ=WEEKLY" in vevent["rrule"].to_ical().decode()
    assert str(vevent["attendee"]).lower() == "mailto:ann@example.net"
    assert account["email_address"] in str(vevent["organizer"])

    options = {"ical_uid": "plan-1@example.org", "method": "publish", "prodid": "-//Me//EN"}
    reply = api.post("/events/to-ics", json={"event_id": event["id"], "ics_options": options})
    calendar, vevent = parse(reply.json()["ics"])
    assert str(calendar["method"]) == "PUBLISH"
    assert str(calendar["prodid"]) == "-//Me//EN"
    assert str(vevent["uid"]) == "plan-1@example.org"


def test_to_ics_of_event_fields_stores_nothing(api):
    calendar_id = api.get("/calendars").json()[0]["id"]
    before = api.get("/events", params={"view": "count"}).json()
    reply = api.post(
        "/events/to-ics",
        json={"calendar_id": calendar_id, "title": "Offsite", "when": {"date": "2030-01-09"}},
    )
    assert reply.status_code == 200, reply.text
    _, vevent = parse(reply.json()["ics"])
    assert str(vevent["summary"]) == "Offsite"
    assert vevent.decoded("dtstart").isoformat() == "2030-01-09"
    assert api.get("/events", params={"view": "count"}).json() == before


def test_to_ics_bad_input(api, engine):
    for body, status, says in [
        ({"event_id": "x" * 25}, 404, "Couldn't find event"),
        ({"title": "no when"}, 400, "when"),
        ({"when": {"date": "2030-01-09"}, "ics_options": {"method": "shout"}}, 400, "method"),
        ({"when": {"date": "2030-01-09"}, "ics_options": {"colour": "red"}}, 400, "colour"),
        ({"when": {"date": "2030-01-09"}, "ics_options": "x"}, 400, "ics_options"),
    ]:
        reply = api.post("/events/to-ics", json=body)
        assert reply.status_code == status, (body, reply.text)
        assert says in reply.json()["message"]
    # Another account's event is not found.
    other = engine.new_account()
    with engine.client(other["id"]) as other_api:
        calendar_id = other_api.get("/calendars").json()[0]["id"]
        theirs = other_api.post(
            "/events", json={"calendar_id": calendar_id, "when": {"time": MONDAY}}
        ).json()
    assert api.post("/events/to-ics", json={"event_id": theirs["id"]}).status_code == 404


def test_resources_come_from_the_operator(engine, api):
    assert api.get("/resources").json() == []

    def resources(*args: str) -> str:
        return engine.cli("resources", *args)  # raises RuntimeError when it exits non-zero

    added = resources(
        "add",
        "Room-1A@Example.org",
        "--name",
        "Training Room",
        "--capacity",
        "10",
        "--building",
        "San Francisco",
        "--floor",
        "7",
        "--json",
    )
    assert json.loads(added)["email"] == "room-1a@example.org"
    resources("add", "lobby@example.org", "--name", "Lobby", "--floor-number", "0")
    assert api.get("/resources").json() == [
        {
            "object": "room_resource",
            "email": "room-1a@example.org",
            "name": "Training Room",
            "capacity": "10",
            "building": "San Francisco",
            "floor_name": "7",
            "floor_number": None,
        },
        {
            "object": "room_resource",
            "email": "lobby@example.org",
            "name": "Lobby",
            "capacity": None,
            "building": None,
            "floor_name": None,
            "floor_number": "0",
        },
    ]
    # A second add changes the fields it names.
    resources("add", "lobby@example.org", "--capacity", "40")
    assert api.get("/resources", params={"offset": 1}).json()[0]["capacity"] == "40"
    assert api.get("/resources", params={"limit": 1}).json()[0]["name"] == "Training Room"

    with pytest.raises(RuntimeError):
        resources("add", "not-an-email")
    with pytest.raises(RuntimeError):
        resources("remove", "nobody@example.org")
    resources("remove", "room-1a@example.org")
    resources("remove", "lobby@example.org")
    assert api.get("/resources").json() == []


def test_nylas_legacy_calls(engine, account, api):
    """nylas-legacy 5.15's free_busy, availability, consecutive_availability, generate_ics."""
    from legacy_sdk import legacy_client

    client = legacy_client(engine.url, account["id"])
    me = account["email_address"]
    calendar_id = api.get("/calendars").json()[0]["id"]
    api.post(
        "/events",
        json={
            "calendar_id": calendar_id,
            "when": {"start_time": MONDAY + 9 * H, "end_time": MONDAY + 10 * H},
        },
    )
    (free_busy,) = client.free_busy([me], MONDAY, MONDAY + 86400)
    assert [(s["start_time"], s["end_time"]) for s in free_busy["time_slots"]] == [
        (MONDAY + 9 * H, MONDAY + 10 * H)
    ]
    hours = client.open_hours([me], [0], "UTC", "09:00", "12:00")
    single = client.availability([me], 60, 60, MONDAY, MONDAY + 86400, open_hours=[hours])
    assert [s["start_time"] for s in single["time_slots"]] == [MONDAY + 10 * H, MONDAY + 11 * H]
    chains = client.consecutive_availability([[me]], 60, 60, MONDAY + 8 * H, MONDAY + 10 * H)
    assert chains == [[{"emails": [me], "start_time": MONDAY + 8 * H, "end_time": MONDAY + 9 * H}]]

    event = client.events.create()
    event.calendar_id = calendar_id
    event.title = "Legacy"
    event.when = {"start_time": MONDAY, "end_time": MONDAY + H}
    ics = event.generate_ics(method="publish")
    assert "METHOD:PUBLISH" in ics and "SUMMARY:Legacy" in ics
