"""Hosted v2 free-busy and availability, computed from events the test creates."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from nylas_engine.store.auth import create_app, issue_token
from nylas_engine.store.models import Account, App

MONDAY = 1_893_974_400  # 2030-01-07 00:00 UTC, a Monday
H = 3600
M = 60


def calendar_id(api: httpx.Client) -> str:
    return str(api.get("/calendars").json()[0]["id"])


def add_event(api: httpx.Client, when: dict[str, Any], **fields: Any) -> dict[str, Any]:
    reply = api.post("/events", json={"calendar_id": calendar_id(api), "when": when, **fields})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def span(start: int, end: int) -> dict[str, Any]:
    return {"start_time": start, "end_time": end}


def busy_slots(reply: httpx.Response) -> list[tuple[int, int]]:
    assert reply.status_code == 200, reply.text
    (entry,) = reply.json()
    assert entry["object"] == "free_busy"
    assert all(s["object"] == "time_slot" and s["status"] == "busy" for s in entry["time_slots"])
    return [(s["start_time"], s["end_time"]) for s in entry["time_slots"]]


def app_token(engine: Any, account: dict[str, Any], app_name: str) -> str:
    """A token for `account` issued by the app called `app_name` (made on first use)."""
    with engine.db.session() as session:
        app = session.scalar(select(App).where(App.name == app_name))
        if app is None:
            app, _ = create_app(session, app_name, [])
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        return issue_token(session, owner, app)


def test_free_busy_lists_busy_events_with_recurrences_and_all_day_ones(engine, account, api):
    me = account["email_address"]
    add_event(api, span(MONDAY + 9 * H, MONDAY + 10 * H), title="standup")
    add_event(api, span(MONDAY + 12 * H, MONDAY + 13 * H), title="lunch", busy=False)
    cancelled = add_event(api, span(MONDAY + 14 * H, MONDAY + 15 * H), title="gone")
    assert api.delete(f"/events/{cancelled['id']}").status_code == 200
    # 08:00 in Paris (07:00 UTC in winter) every day, one occurrence removed.
    add_event(
        api,
        span(MONDAY + 7 * H, MONDAY + 7 * H + 30 * M),
        title="daily",
        recurrence={
            "rrule": ["RRULE:FREQ=DAILY;COUNT=5", "EXDATE:20300108T080000"],
            "timezone": "Europe/Paris",
        },
    )
    add_event(api, {"date": "2030-01-09"}, title="offsite")
    add_event(api, span(MONDAY - 5 * H, MONDAY - 4 * H), title="before the window")

    reply = api.post(
        "/calendars/free-busy",
        json={"start_time": MONDAY, "end_time": MONDAY + 3 * 86400, "emails": [me]},
    )
    day = 86400
    assert reply.json()[0]["email"] == me
    assert busy_slots(reply) == [
        (MONDAY + 7 * H, MONDAY + 7 * H + 30 * M),
        (MONDAY + 9 * H, MONDAY + 10 * H),
        # Tuesday's occurrence was removed (EXDATE); Wednesday's lies inside the all-day event.
        (MONDAY + 2 * day, MONDAY + 3 * day),
    ]


def test_free_busy_takes_string_times_and_answers_unknown_emails_empty(engine, account, api):
    add_event(api, span(MONDAY + H, MONDAY + 2 * H))
    reply = api.post(
        "/calendars/free-busy",
        json={
            "start_time": str(MONDAY),  # what the Node SDK 6 sends
            "end_time": str(MONDAY + 86400),
            "emails": [account["email_address"], "stranger@example.net"],
        },
    )
    assert reply.status_code == 200, reply.text
    mine, stranger = reply.json()
    assert [(s["start_time"], s["end_time"]) for s in mine["time_slots"]] == [
        (MONDAY + H, MONDAY + 2 * H)
    ]
    assert stranger == {"object": "free_busy", "email": "stranger@example.net", "time_slots": []}


def test_free_busy_of_another_account_needs_the_same_app(engine):
    alice, bob, carol = (engine.new_account() for _ in range(3))
    with engine.client(bob["id"]) as bob_api:
        add_event(bob_api, span(MONDAY + H, MONDAY + 2 * H), title="bob's secret")
    body = {"start_time": MONDAY, "end_time": MONDAY + 86400, "emails": [bob["email_address"]]}

    # Open mode (the account id as token): only one's own calendar.
    with engine.client(alice["id"]) as alice_api:
        assert busy_slots(alice_api.post("/calendars/free-busy", json=body)) == []

    # A token another app issued: bob's calendar stays hidden even though bob has tokens.
    app_token(engine, bob, "calendar-app-one")
    other = app_token(engine, carol, "calendar-app-two")
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {other}"}) as c:
        assert busy_slots(c.post("/calendars/free-busy", json=body)) == []
        calendars = {"account_id": bob["id"], "calendar_ids": ["x" * 25]}
        refused = c.post("/calendars/free-busy", json={**body, "calendars": [calendars]})
        assert refused.status_code == 400

    # A token from the app bob also gave a token to: his busy times (not his events).
    same = app_token(engine, alice, "calendar-app-one")
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {same}"}) as c:
        reply = c.post("/calendars/free-busy", json=body)
        assert busy_slots(reply) == [(MONDAY + H, MONDAY + 2 * H)]
        assert "secret" not in reply.text


def test_availability_finds_slots_everyone_is_free(engine, account, api):
    me = account["email_address"]
    add_event(api, span(MONDAY + 9 * H, MONDAY + 10 * H))
    reply = api.post(
        "/calendars/availability",
        json={
            "emails": [me],
            "start_time": MONDAY + 8 * H,
            "end_time": MONDAY + 12 * H,
            "duration_minutes": 60,
            "interval_minutes": 30,
            # someone the engine does not hold, with busy times from elsewhere
            "free_busy": [
                {
                    "email": "guest@example.net",
                    "object": "free_busy",
                    "time_slots": [span(MONDAY + 11 * H, MONDAY + 11 * H + 30 * M)],
                }
            ],
        },
    )
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert result["object"] == "availability"
    starts = [(s["start_time"] - MONDAY) / H for s in result["time_slots"]]
    assert starts == [8, 10, 10.5, 11]
    assert all(s["end_time"] - s["start_time"] == H for s in result["time_slots"])
    assert result["time_slots"][0]["status"] == "free"
    assert result["time_slots"][0]["emails"] == [me]

    def together(buffer: int) -> list[float]:
        reply = api.post(
            "/calendars/availability",
            json={
                "emails": [me, "guest@example.net"],
                "start_time": MONDAY + 8 * H,
                "end_time": MONDAY + 12 * H,
                "duration_minutes": 60,
                "interval_minutes": 30,
                "buffer": buffer,
                "free_busy": [
                    {
                        "email": "guest@example.net",
                        "time_slots": [span(MONDAY + 11 * H, MONDAY + 12 * H)],
                    }
                ],
            },
        )
        assert reply.status_code == 200, reply.text
        return [(s["start_time"] - MONDAY) / H for s in reply.json()["time_slots"]]

    # Me busy 09:00-10:00, the guest 11:00-12:00: only 08:00 and 10:00 suit both.
    assert together(0) == [8, 10]
    # With 15 minutes around each busy time, neither does.
    assert together(15) == []


def test_open_hours_are_local_time_on_the_given_days(engine, account, api):
    me = account["email_address"]
    reply = api.post(
        "/calendars/availability",
        json={
            "emails": [me],
            "start_time": MONDAY,
            "end_time": MONDAY + 2 * 86400,
            "duration_minutes": 60,
            "interval_minutes": 60,
            "open_hours": [
                {
                    "emails": [me],
                    "days": [1],  # Tuesday only
                    "timezone": "America/New_York",  # UTC-5 in January
                    "start": "09:00",
                    "end": "11:00",
                    "object_type": "open_hours",
                }
            ],
        },
    )
    assert reply.status_code == 200, reply.text
    tuesday = MONDAY + 86400
    assert [s["start_time"] for s in reply.json()["time_slots"]] == [
        tuesday + 14 * H,
        tuesday + 15 * H,
    ]


def test_round_robin_max_availability_names_who_is_free(engine):
    alice, bob = engine.new_account(), engine.new_account()
    with engine.client(bob["id"]) as bob_api:
        add_event(bob_api, span(MONDAY + 9 * H, MONDAY + 10 * H))
    app_token(engine, bob, "round-robin-app")
    token = app_token(engine, alice, "round-robin-app")
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {token}"}) as c:
        with engine.client(alice["id"]) as alice_api:
            add_event(alice_api, span(MONDAY + 10 * H, MONDAY + 12 * H))
        reply = c.post(
            "/calendars/availability",
            json={
                "emails": [alice["email_address"], bob["email_address"]],
                "start_time": MONDAY + 9 * H,
                "end_time": MONDAY + 12 * H,
                "duration_minutes": 60,
                "interval_minutes": 60,
                "round_robin": "max-availability",
            },
        )
    assert reply.status_code == 200, reply.text
    result = reply.json()
    assert [(s["start_time"], s["emails"]) for s in result["time_slots"]] == [
        (MONDAY + 9 * H, [alice["email_address"]]),
        (MONDAY + 10 * H, [bob["email_address"]]),
        (MONDAY + 11 * H, [bob["email_address"]]),
    ]
    assert result["order"] == [bob["email_address"], alice["email_address"]]


def test_consecutive_availability_chains_meetings_in_every_order(engine, account, api):
    me = account["email_address"]
    add_event(api, span(MONDAY + 9 * H, MONDAY + 10 * H))
    reply = api.post(
        "/calendars/availability/consecutive",
        json={
            "emails": [[me], ["guest@example.net"]],
            "start_time": MONDAY + 8 * H,
            "end_time": MONDAY + 11 * H,
            "duration_minutes": 60,
            "interval_minutes": 60,
            "free_busy": [
                {"email": "guest@example.net", "time_slots": [span(MONDAY + 8 * H, MONDAY + 9 * H)]}
            ],
        },
    )
    assert reply.status_code == 200, reply.text

    def meeting(who: str, hour: int) -> dict[str, Any]:
        return {
            "emails": [who],
            "start_time": MONDAY + hour * H,
            "end_time": MONDAY + (hour + 1) * H,
        }

    # From 08:00: me then the guest (the guest is busy at 08:00, me at 09:00).
    # From 09:00: the guest then me. Nothing fits from 10:00 (the window ends at 11:00).
    assert reply.json() == [
        [meeting(me, 8), meeting("guest@example.net", 9)],
        [meeting("guest@example.net", 9), meeting(me, 10)],
    ]


@pytest.mark.parametrize(
    ("path", "body", "says"),
    [
        ("/calendars/free-busy", {"start_time": MONDAY, "end_time": MONDAY + 60}, "emails"),
        ("/calendars/free-busy", {"emails": ["a@b.c"], "end_time": MONDAY}, "start_time"),
        (
            "/calendars/free-busy",
            {"emails": ["a@b.c"], "start_time": MONDAY, "end_time": MONDAY},
            "after",
        ),
        ("/calendars/free-busy", {"emails": ["nope"], "start_time": 0, "end_time": 60}, "email"),
        (
            "/calendars/free-busy",
            {"emails": ["a@b.c"], "start_time": MONDAY, "end_time": MONDAY + 400 * 86400},
            "days",
        ),
        (
            "/calendars/free-busy",
            {"emails": [f"p{i}@b.c" for i in range(51)], "start_time": 0, "end_time": 60},
            "At most 50",
        ),
        (
            "/calendars/availability",
            {
                "emails": ["a@b.c"],
                "start_time": MONDAY,
                "end_time": MONDAY + H,
                "interval_minutes": 5,
            },
            "duration_minutes",
        ),
        (
            "/calendars/availability",
            {
                "emails": ["a@b.c"],
                "start_time": MONDAY,
                "end_time": MONDAY + 90 * 86400,
                "duration_minutes": 30,
                "interval_minutes": 1,
            },
            "Too many slots",
        ),
        (
            "/calendars/availability",
            {
                "emails": ["a@b.c"],
                "start_time": MONDAY,
                "end_time": MONDAY + H,
                "duration_minutes": 30,
                "interval_minutes": 30,
                "round_robin": "max-fairness",
                "event_collection_id": "abc",
            },
            "not supported",
        ),
        (
            "/calendars/availability",
            {
                "emails": ["a@b.c"],
                "start_time": MONDAY,
                "end_time": MONDAY + H,
                "duration_minutes": 30,
                "interval_minutes": 30,
                "open_hours": [
                    {
                        "emails": ["x@y.z"],
                        "days": [0],
                        "timezone": "UTC",
                        "start": "9:00",
                        "end": "17:00",
                    }
                ],
            },
            "Open Hours",
        ),
        (
            "/calendars/availability",
            {
                "emails": ["a@b.c"],
                "start_time": MONDAY,
                "end_time": MONDAY + H,
                "duration_minutes": 30,
                "interval_minutes": 30,
                "open_hours": [
                    {
                        "emails": ["a@b.c"],
                        "days": [7],
                        "timezone": "Mars/Base",
                        "start": "9",
                        "end": "x",
                    }
                ],
            },
            "days",
        ),
        (
            "/calendars/availability/consecutive",
            {
                "emails": ["a@b.c"],
                "start_time": MONDAY,
                "end_time": MONDAY + H,
                "duration_minutes": 30,
                "interval_minutes": 30,
            },
            "lists",
        ),
        (
            "/calendars/availability/consecutive",
            {
                "emails": [[f"p{i}@b.c"] for i in range(5)],
                "start_time": MONDAY,
                "end_time": MONDAY + H,
                "duration_minutes": 30,
                "interval_minutes": 30,
            },
            "at most 4",
        ),
    ],
)
def test_bad_requests_are_400_with_a_message(api, path, body, says):
    reply = api.post(path, json=body)
    assert reply.status_code == 400, reply.text
    assert reply.json()["type"] == "invalid_request_error"
    assert says in reply.json()["message"]


def test_a_read_only_calendar_token_may_check_availability(engine, account):
    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        token = issue_token(session, owner, None, "calendar.read_only")
    with httpx.Client(base_url=engine.url, headers={"Authorization": f"Bearer {token}"}) as c:
        body = {
            "emails": [account["email_address"]],
            "start_time": MONDAY,
            "end_time": MONDAY + H,
        }
        assert c.post("/calendars/free-busy", json=body).status_code == 200
        assert c.get("/resources").status_code == 200


def test_calendars_limit_busy_times_to_those_calendars(engine, account, api):
    work = calendar_id(api)
    home = api.post("/calendars", json={"name": "Home"})
    assert home.status_code == 200, home.text
    add_event(api, span(MONDAY + 9 * H, MONDAY + 10 * H))  # in the first calendar
    reply = api.post(
        "/events",
        json={"calendar_id": home.json()["id"], "when": span(MONDAY + 18 * H, MONDAY + 19 * H)},
    )
    assert reply.status_code == 200, reply.text
    body = {
        "start_time": MONDAY,
        "end_time": MONDAY + 86400,
        "calendars": [{"account_id": account["id"], "calendar_ids": [home.json()["id"]]}],
    }
    reply = api.post("/calendars/free-busy", json=body)
    assert reply.json()[0]["email"] == account["email_address"]
    assert busy_slots(reply) == [(MONDAY + 18 * H, MONDAY + 19 * H)]
    body["calendars"][0]["calendar_ids"] = [work]
    assert busy_slots(api.post("/calendars/free-busy", json=body)) == [
        (MONDAY + 9 * H, MONDAY + 10 * H)
    ]


def test_tentative_events_are_busy_unless_asked_otherwise(engine, account, api):
    from nylas_engine.store.models import Event

    event = add_event(api, span(MONDAY + 9 * H, MONDAY + 10 * H))
    with engine.db.session() as session:  # as an emailed invitation answered "maybe" makes it
        session.scalar(select(Event).where(Event.public_id == event["id"])).status = "tentative"
    body = {
        "emails": [account["email_address"]],
        "start_time": MONDAY + 9 * H,
        "end_time": MONDAY + 10 * H,
        "duration_minutes": 60,
        "interval_minutes": 60,
    }
    assert api.post("/calendars/availability", json=body).json()["time_slots"] == []
    free = api.post("/calendars/availability", json={**body, "tentative_busy": False}).json()
    assert [s["start_time"] for s in free["time_slots"]] == [MONDAY + 9 * H]
