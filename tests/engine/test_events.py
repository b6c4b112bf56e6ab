"""Events (docs/protocol.md §4 `when`, §12): create, read, filter, expand, update, cancel, RSVP."""

from __future__ import annotations

from datetime import datetime, timezone
from email import policy
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from icalendar import Calendar as ICalendar
from smtp_listener import SmtpListener
from sqlalchemy import select

from nylas.testing import LocalEngine

T0 = 1_900_000_000  # 2030-03-17T17:46:40Z: later than any "now" these tests run at
HOUR = 3600
DAY = 86400


def ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def primary(api: httpx.Client) -> str:
    return str(api.get("/calendars").json()[0]["id"])


def create(api: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("calendar_id", primary(api))
    response = api.post("/events", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def add_invite(
    db: Any, account_id: str, *, participants: list[dict[str, Any]], **fields: Any
) -> str:
    """An event that came with an emailed invitation: a message from the organizer and an
    event pointing at it, written straight into the database (as the importer does)."""
    from nylas_engine.store.models import Account, Calendar, Event, Message

    with db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account_id))
        calendar = session.scalar(
            select(Calendar).where(Calendar.account_id == owner.id, Calendar.is_primary)
        )
        invite = Message(
            account_id=owner.id,
            subject="Invitation: Planning",
            from_=[{"name": "Olga Organizer", "email": "olga@example.org"}],
            to=[{"name": "", "email": owner.email_address}],
        )
        session.add(invite)
        session.flush()
        event = Event(
            account_id=owner.id,
            calendar_id=calendar.id,
            message_id=invite.id,
            ical_uid="planning-42@example.org",
            title="Planning",
            owner="Olga Organizer <olga@example.org>",
            participants=participants,
            when={"object": "timespan", "start_time": T0, "end_time": T0 + HOUR},
            start_ts=T0,
            end_ts=T0 + HOUR,
            **fields,
        )
        session.add(event)
        session.flush()
        return str(event.public_id)


def add_override(db: Any, master_id: str, original: int, start: int, **fields: Any) -> str:
    """A changed (or cancelled) single instance of a recurring event, as sync stores it."""
    from nylas_engine.store.models import Event

    with db.session() as session:
        master = session.scalar(select(Event).where(Event.public_id == master_id))
        override = Event(
            account_id=master.account_id,
            calendar_id=master.calendar_id,
            master_event_id=master.id,
            original_start_time=original,
            title=fields.pop("title", master.title),
            when={"object": "timespan", "start_time": start, "end_time": start + HOUR},
            start_ts=start,
            end_ts=start + HOUR,
            **fields,
        )
        session.add(override)
        session.flush()
        return str(override.public_id)


# ---------------------------------------------------------------------------------- create


def test_create_event_and_read_it_back(api, account):
    calendar_id = primary(api)
    response = api.post(
        "/events",
        # Booleans are any-case; with "True" the invitations would be emailed (this account
        # has no SMTP server: test_event_invitations.py covers that).
        params={"notify_participants": "False", "some_sdk_extra": "1"},
        json={
            "calendar_id": calendar_id,
            "title": "Party at the Ritz",
            "location": "The Old Ritz",
            "description": "Bring shoes",
            "when": {"start_time": T0, "end_time": T0 + 2 * HOUR},
            "participants": [
                {"name": "My Friend", "email": "My.Friend@Example.com"},
                {"email": "second@example.com", "status": "yes"},
            ],
        },
    )
    assert response.status_code == 200, response.text
    event = response.json()
    assert event["object"] == "event"
    assert event["account_id"] == account["id"]
    assert event["calendar_id"] == calendar_id
    assert event["message_id"] is None
    assert event["title"] == "Party at the Ritz"
    assert event["location"] == "The Old Ritz"
    assert event["description"] == "Bring shoes"
    assert event["when"] == {"object": "timespan", "start_time": T0, "end_time": T0 + 2 * HOUR}
    assert event["participants"] == [
        {
            "name": "My Friend",
            "email": "my.friend@example.com",
            "status": "noreply",
            "comment": None,
        },
        {"name": None, "email": "second@example.com", "status": "yes", "comment": None},
    ]
    assert event["read_only"] is False
    assert event["status"] == "confirmed"
    assert event["busy"] is True
    assert account["email_address"] in event["owner"]
    assert "recurrence" not in event and "master_event_id" not in event
    assert api.get(f"/events/{event['id']}").json() == event
    assert api.get("/events", params={"event_id": event["id"]}).json() == [event]


def test_create_errors(engine, api, account):
    calendar_id = primary(api)
    when = {"time": T0}
    read_only = _read_only_calendar(engine, account)
    cases = [
        ({"when": when}, 400, "Invalid id: None"),
        ({"calendar_id": 7, "when": when}, 400, "Invalid id: None"),
        ({"calendar_id": "bad id!", "when": when}, 400, "Invalid id: bad id!"),
        ({"calendar_id": "0abc", "when": when}, 404, "Calendar 0abc not found"),
        ({"calendar_id": calendar_id}, 400, "Must specify 'when' when creating an event."),
        (
            {"calendar_id": read_only, "when": when},
            400,
            "Can't create events on read_only calendar.",
        ),
        ({"calendar_id": calendar_id, "when": when, "busy": "yes"}, 400, "'busy' must be true"),
        ({"calendar_id": calendar_id, "when": when, "title": 5}, 400, "'title' must be a string."),
        (
            {"calendar_id": calendar_id, "when": when, "participants": [{"name": "x"}]},
            400,
            "Invalid participant email: None",
        ),
        (
            {"calendar_id": calendar_id, "when": when, "participants": [{"email": "not-mail"}]},
            400,
            "Invalid participant email: 'not-mail'",
        ),
        (
            {
                "calendar_id": calendar_id,
                "when": when,
                "participants": [{"email": "a@b.co", "status": "perhaps"}],
            },
            400,
            "Invalid participant status 'perhaps'",
        ),
        (
            {"calendar_id": calendar_id, "when": when, "participants": "a@b.co"},
            400,
            "'participants' must be a list of objects.",
        ),
    ]
    for body, status, message in cases:
        response = api.post("/events", json=body)
        assert response.status_code == status, body
        assert response.json()["message"].startswith(message), response.json()
    bad_flag = api.post(
        "/events",
        params={"notify_participants": "maybe"},
        json={"calendar_id": calendar_id, "when": when},
    )
    assert bad_flag.status_code == 400
    assert api.get("/events", params={"view": "count"}).json() == {"count": 0}


def _read_only_calendar(engine: Any, account: dict[str, Any]) -> str:
    from nylas_engine.store.models import Account, Calendar

    with engine.db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account["id"]))
        calendar = Calendar(account_id=owner.id, name="Holidays", read_only=True)
        session.add(calendar)
        session.flush()
        return str(calendar.public_id)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ({"time": T0}, {"object": "time", "time": T0}),
        ({"object": "time", "time": T0}, {"object": "time", "time": T0}),
        (
            {"start_time": T0, "end_time": T0 + HOUR},
            {"object": "timespan", "start_time": T0, "end_time": T0 + HOUR},
        ),
        ({"start_time": T0, "end_time": T0}, {"object": "time", "time": T0}),
        ({"date": "2030-04-01"}, {"object": "date", "date": "2030-04-01"}),
        (
            {"object": "datespan", "start_date": "2030-04-01", "end_date": "2030-04-03"},
            {"object": "datespan", "start_date": "2030-04-01", "end_date": "2030-04-03"},
        ),
        (
            {"start_date": "2030-04-01", "end_date": "2030-04-01"},
            {"object": "date", "date": "2030-04-01"},
        ),
        (
            {"start_time": T0, "end_time": T0 + HOUR, "start_timezone": "Europe/Paris"},
            {
                "object": "timespan",
                "start_time": T0,
                "end_time": T0 + HOUR,
                "start_timezone": "Europe/Paris",
            },
        ),
    ],
)
def test_when_shapes(api, sent, stored):
    event = create(api, when=sent)
    assert event["when"] == stored
    assert api.get(f"/events/{event['id']}").json()["when"] == stored


@pytest.mark.parametrize(
    ("sent", "message"),
    [
        ({"start_time": T0 + 1, "end_time": T0}, "'start_time' must be < 'end_time'."),
        (
            {"start_date": "2030-04-02", "end_date": "2030-04-01"},
            "'start_date' must be < 'end_date'.",
        ),
        ({"time": T0, "date": "2030-04-01"}, "When object had invalid keys."),
        ({"start_time": T0}, "When object had invalid keys."),
        ({"start_time": T0, "end_date": "2030-04-01"}, "When object had invalid keys."),
        ({}, "When object had invalid keys."),
        ("tomorrow", "When object had invalid keys."),
        ({"time": "noon"}, "'time' must be a UNIX timestamp"),
        ({"time": True}, "'time' must be a UNIX timestamp"),
        ({"date": "2030-02-30"}, "'date' must be a date string YYYY-MM-DD."),
        ({"date": 20300401}, "'date' must be a date string YYYY-MM-DD."),
        ({"time": T0, "timezone": "Nowhere/Land"}, "'timezone' must be an IANA time zone"),
    ],
)
def test_bad_when_is_400(api, sent, message):
    response = api.post("/events", json={"calendar_id": primary(api), "when": sent})
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


# ---------------------------------------------------------------------------------- list


def test_filters_order_views_and_paging(engine, api):
    cal = primary(api)
    other_cal = api.post("/calendars", json={"name": "Side"}).json()["id"]
    late = create(
        api,
        title="Late review",
        when={"start_time": T0 + 5 * HOUR, "end_time": T0 + 6 * HOUR},
        location="Room 2",
    )
    early = create(
        api,
        title="Early standup",
        when={"start_time": T0, "end_time": T0 + HOUR},
        location="Room 1",
        description="daily sync",
    )
    mid = create(
        api, calendar_id=other_cal, title="Lunch", when={"time": T0 + 3 * HOUR}, busy=False
    )
    day = create(api, title="Holiday", when={"date": "2030-03-18"})

    def ids(**params: Any) -> list[str]:
        response = api.get("/events", params=params)
        assert response.status_code == 200, response.text
        return [e["id"] for e in response.json()]

    # Sorted by start: the all-day event starts at midnight after T0's day.
    assert ids() == [early["id"], mid["id"], late["id"], day["id"]]
    assert ids(calendar_id=cal) == [early["id"], late["id"], day["id"]]
    assert ids(calendar_id=other_cal) == [mid["id"]]
    assert ids(title="STANDUP") == [early["id"]]
    assert ids(title="%") == []  # LIKE wildcards are matched literally
    assert ids(description="sync") == [early["id"]]
    assert ids(location="room") == [early["id"], late["id"]]
    assert ids(busy="false") == [mid["id"]]
    assert ids(busy="True") == [early["id"], late["id"], day["id"]]
    assert ids(starts_after=T0) == [mid["id"], late["id"], day["id"]]
    assert ids(starts_before=T0 + 3 * HOUR) == [early["id"]]
    assert ids(ends_before=T0 + HOUR + 1) == [early["id"]]
    assert ids(ends_after=T0 + 5 * HOUR) == [late["id"], day["id"]]
    # An all-day event covers its whole UTC day.
    assert day["id"] in ids(ends_after=ts(2030, 3, 18, 12), starts_before=ts(2030, 3, 18, 13))
    assert ids(starts_after="2030-03-17T18:00:00Z", ends_before=T0 + 6 * HOUR + 1) == [
        mid["id"],
        late["id"],
    ]
    assert ids(limit=2, offset=1) == [mid["id"], late["id"]]
    assert api.get("/events", params={"view": "count", "title": "u"}).json() == {"count": 2}
    assert api.get("/events", params={"view": "ids"}).json() == ids()
    for bad in (
        {"busy": "maybe"},
        {"starts_after": "soon"},
        {"starts_before": "1e30"},  # past the year 9999
        {"ends_after": "inf"},
        {"expand_recurring": "true", "starts_after": "-1e20"},
        {"limit": "-1"},
        {"calendar_id": "x y"},
    ):
        response = api.get("/events", params=bad)
        assert response.status_code == 400, bad
        assert response.json()["type"] == "invalid_request_error"


# ---------------------------------------------------------------------------------- update


def test_update_changes_modifiable_fields_only(api):
    event = create(
        api,
        title="Draft plan",
        when={"time": T0},
        participants=[{"email": "a@example.com", "status": "yes"}],
    )
    update = {
        **event,
        "title": "Final plan",
        "location": "HQ",
        "when": {"start_time": T0, "end_time": T0 + HOUR},
        "participants": [{"email": "A@example.com"}, {"email": "b@example.com", "name": "B"}],
        "busy": False,
        "status": "tentative",
        "read_only": True,
        "owner": "someone else",
        "message_id": "abc",
        "calendar_id": "0zzz",
        "object": "whatever",
    }
    del update["id"]
    response = api.put(
        f"/events/{event['id']}", params={"notify_participants": "false"}, json=update
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "Final plan"
    assert updated["location"] == "HQ"
    assert updated["busy"] is False
    assert updated["when"] == {"object": "timespan", "start_time": T0, "end_time": T0 + HOUR}
    # Participants sent without a status start over as noreply.
    assert [(p["email"], p["status"], p["name"]) for p in updated["participants"]] == [
        ("a@example.com", "noreply", None),
        ("b@example.com", "noreply", "B"),
    ]
    # What the client may not change stayed.
    for key in ("status", "read_only", "owner", "message_id", "calendar_id", "object", "id"):
        assert updated[key] == event[key], key
    assert api.get(f"/events/{event['id']}").json() == updated

    patched = api.patch(f"/events/{event['id']}", json={"description": "agenda"}).json()
    assert patched == {**updated, "description": "agenda"}
    assert api.patch(f"/events/{event['id']}", json={}).json() == patched
    for bad in ({"when": {"time": "x"}}, {"busy": 1}, {"participants": [{"email": "nope"}]}):
        response = api.put(f"/events/{event['id']}", json=bad)
        assert response.status_code == 400, bad
    assert api.get(f"/events/{event['id']}").json() == patched


def test_read_only_and_imported_events_cannot_change(engine, api, account):
    invited = add_invite(
        engine.db, account["id"], participants=[{"email": account["email_address"]}]
    )
    for method in ("put", "patch"):
        response = getattr(api, method)(f"/events/{invited}", json={"title": "Mine"})
        assert response.status_code == 400
        assert "iCalendar" in response.json()["message"]
    assert api.delete(f"/events/{invited}").status_code == 400
    locked = add_invite(engine.db, account["id"], participants=[], read_only=True)
    response = api.put(f"/events/{locked}", json={"title": "x"})
    assert response.status_code == 400
    assert response.json()["message"] == "Cannot update read_only event."
    assert api.get(f"/events/{locked}").json()["title"] == "Planning"


def test_delete_cancels_and_hides_from_lists(api):
    keep = create(api, title="Keep", when={"time": T0})
    gone = create(api, title="Gone", when={"time": T0 + 1})
    response = api.delete(f"/events/{gone['id']}", params={"notify_participants": "TRUE"})
    assert response.status_code == 200
    assert response.json() is None
    cancelled = api.get(f"/events/{gone['id']}").json()
    assert cancelled == {**gone, "status": "cancelled"}
    assert [e["id"] for e in api.get("/events").json()] == [keep["id"]]
    shown = api.get("/events", params={"show_cancelled": "true"}).json()
    assert [e["id"] for e in shown] == [keep["id"], gone["id"]]
    assert api.get("/events", params={"view": "count"}).json() == {"count": 1}
    assert api.get("/events/0nope").status_code == 404
    assert api.get("/events/0nope").json()["message"] == "Couldn't find event id 0nope"


# ---------------------------------------------------------------------------------- recurrence


def test_recurring_event_expands_into_read_only_instances(api):
    # Weekly at 09:00 New York time, across the 2030-03-10 switch to daylight saving time.
    start = ts(2030, 3, 1, 14)  # 09:00 EST
    master = create(
        api,
        title="Weekly sync",
        when={"start_time": start, "end_time": start + HOUR},
        recurrence={
            "rrule": ["RRULE:FREQ=WEEKLY;COUNT=4", "EXDATE;TZID=America/New_York:20300315T090000"],
            "timezone": "America/New_York",
        },
    )
    assert master["recurrence"]["timezone"] == "America/New_York"
    assert [e["id"] for e in api.get("/events").json()] == [master["id"]]

    # Without an end bound expansion stops about a year from now: these are later.
    assert api.get("/events", params={"expand_recurring": "true"}).json() == []
    expand = {"expand_recurring": "true", "starts_before": ts(2031, 1, 1)}
    expanded = api.get("/events", params=expand).json()
    assert [e["id"] for e in expanded] == [
        f"{master['id']}_20300301T140000Z",
        f"{master['id']}_20300308T140000Z",
        f"{master['id']}_20300322T130000Z",  # 09:00 EDT; the 15th is excluded
    ]
    for instance in expanded:
        assert instance["master_event_id"] == master["id"]
        assert instance["read_only"] is True
        assert "message_id" not in instance
        assert instance["title"] == "Weekly sync"
        length = instance["when"]["end_time"] - instance["when"]["start_time"]
        assert length == HOUR
    assert expanded[2]["when"]["start_time"] == ts(2030, 3, 22, 13)
    # Each instance can be read by its id, as the expanded list shows it.
    for instance in expanded:
        got = api.get(f"/events/{instance['id']}")
        assert got.status_code == 200, got.text
        assert got.json() == instance
    for missing in ("20300315T140000Z", "20300301T150000Z", "20300329T130000Z"):  # EXDATE, COUNT
        assert api.get(f"/events/{master['id']}_{missing}").status_code == 404
    assert api.get("/events/bad!id_20300301T140000Z").status_code == 400

    window = api.get(
        "/events",
        params={
            "expand_recurring": "True",
            "starts_after": ts(2030, 3, 2),
            "ends_before": ts(2030, 3, 9),
        },
    ).json()
    assert [e["id"] for e in window] == [f"{master['id']}_20300308T140000Z"]
    counted = api.get("/events", params={**expand, "view": "count"}).json()
    assert counted == {"count": 3}
    paged = api.get("/events", params={**expand, "view": "ids", "offset": 1}).json()
    assert paged == [e["id"] for e in expanded[1:]]

    refused = api.put(f"/events/{master['id']}", json={"title": "x"})
    assert refused.status_code == 400
    assert refused.json()["message"] == "Cannot update a recurring event yet."


def test_expansion_mixes_singles_overrides_and_cancellations(engine, api):
    start = ts(2030, 6, 3, 9)
    master = create(
        api,
        title="Daily",
        when={"start_time": start, "end_time": start + HOUR},
        recurrence={"rrule": ["RRULE:FREQ=DAILY;COUNT=4"]},
    )
    single = create(api, title="One-off", when={"time": start + DAY + 2 * HOUR})
    moved = add_override(
        engine.db, master["id"], start + DAY, start + DAY + 5 * HOUR, title="Moved"
    )
    dropped = add_override(
        engine.db, master["id"], start + 2 * DAY, start + 2 * DAY, status="cancelled"
    )

    expand = {"expand_recurring": "true", "ends_before": ts(2031, 1, 1)}
    expanded = api.get("/events", params=expand).json()
    assert [e["id"] for e in expanded] == [
        f"{master['id']}_20300603T090000Z",
        single["id"],
        moved,
        f"{master['id']}_20300606T090000Z",
    ]
    assert expanded[2]["master_event_id"] == master["id"]
    assert expanded[2]["original_start_time"] == start + DAY
    with_cancelled = api.get(
        "/events", params={**expand, "show_cancelled": "true", "view": "ids"}
    ).json()
    assert dropped in with_cancelled
    # Without expansion, overrides (cancelled ones too) come with their master.
    plain = [e["id"] for e in api.get("/events").json()]
    assert plain == [master["id"], single["id"], moved, dropped]


def test_default_expansion_window_is_about_a_year(api):
    now = int(datetime.now(timezone.utc).timestamp())
    master = create(
        api,
        title="Every day",
        when={"start_time": now, "end_time": now + HOUR},
        recurrence={"rrule": ["RRULE:FREQ=DAILY"], "timezone": "UTC"},
    )
    instances = api.get("/events", params={"expand_recurring": "true", "limit": 1000}).json()
    assert 360 <= len(instances) <= 370
    assert all(e["master_event_id"] == master["id"] for e in instances)
    later = api.get(
        "/events",
        params={"expand_recurring": "true", "starts_after": now + 400 * DAY, "limit": 1000},
    ).json()
    assert 360 <= len(later) <= 370
    assert later[0]["when"]["start_time"] > now + 400 * DAY


def test_all_day_recurrence(api):
    master = create(
        api,
        title="Trip",
        when={"start_date": "2030-07-01", "end_date": "2030-07-02"},
        recurrence={"rrule": ["RRULE:FREQ=MONTHLY;COUNT=3"], "timezone": "Asia/Tokyo"},
    )
    expand = {"expand_recurring": "true", "starts_before": ts(2031, 1, 1)}
    expanded = api.get("/events", params=expand).json()
    assert [e["when"] for e in expanded] == [
        {"object": "datespan", "start_date": f"2030-0{m}-01", "end_date": f"2030-0{m}-02"}
        for m in (7, 8, 9)
    ]
    assert expanded[1]["id"] == f"{master['id']}_20300801T000000Z"


@pytest.mark.parametrize(
    ("recurrence", "message"),
    [
        ({"rrule": ["RRULE:FREQ=SOMETIMES"]}, "Invalid recurrence rule"),
        ({"rrule": ["every monday"]}, "Invalid recurrence line"),
        ({"rrule": []}, "'recurrence.rrule' must be a non-empty list"),
        ({"rrule": "RRULE:FREQ=DAILY"}, "'recurrence.rrule' must be a non-empty list"),
        ({"rrule": ["RRULE:FREQ=DAILY"], "timezone": "Mars/Base"}, "'recurrence.timezone'"),
        ({"rrule": ["RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"]}, "Invalid recurrence rule"),
        ({"rrule": ["RRULE:FREQ=DAILY;UNTIL=20000101T000000Z"]}, "Invalid recurrence rule"),
        ({"rrule": ["RRULE:FREQ=MINUTELY"]}, "Recurrence more frequent than daily"),
        ({"rrule": ["EXDATE:20300101T000000Z"]}, "'recurrence.rrule' needs an RRULE"),
        (["RRULE:FREQ=DAILY"], "'recurrence' must be an object"),
    ],
)
def test_bad_recurrence_is_400(api, recurrence, message):
    response = api.post(
        "/events",
        json={"calendar_id": primary(api), "when": {"time": T0}, "recurrence": recurrence},
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith(message), response.json()


# ---------------------------------------------------------------------------------- RSVP


def test_rsvp_errors(engine, api, account):
    plain = create(api, title="Mine", when={"time": T0})
    not_me = add_invite(engine.db, account["id"], participants=[{"email": "x@example.org"}])
    invited = add_invite(
        engine.db, account["id"], participants=[{"email": account["email_address"]}]
    )
    cases = [
        ({"event_id": "0nope", "status": "yes"}, 404, "Couldn't find event id 0nope"),
        ({"status": "yes"}, 400, "Invalid id: None"),
        (
            {"event_id": plain["id"], "status": "yes"},
            400,
            "This is not a message imported from an iCalendar invite.",
        ),
        ({"event_id": invited, "status": "sure"}, 400, "Invalid status 'sure'"),
        ({"event_id": invited}, 400, "Invalid status None"),
        ({"event_id": invited, "status": "yes", "comment": 3}, 400, "'comment' must be a string."),
        (
            {"event_id": not_me, "status": "yes"},
            400,
            f"{account['email_address']} is not a participant",
        ),
    ]
    for body, status, message in cases:
        response = api.post("/send-rsvp", json=body)
        assert response.status_code == status, body
        assert response.json()["message"].startswith(message), response.json()


def test_rsvp_emails_an_icalendar_reply_to_the_organizer(engine):
    with SmtpListener() as smtp:
        account = engine.new_account(**smtp.account_fields())
        me = account["email_address"]
        invited = add_invite(
            engine.db,
            account["id"],
            participants=[
                {"email": "olga@example.org", "status": "yes"},
                {"email": me.upper(), "name": "Me", "status": "noreply"},
            ],
        )
        with engine.client(account["id"]) as api:
            before = api.get(f"/events/{invited}").json()
            assert before["message_id"] is not None
            response = api.post(
                "/send-rsvp", json={"event_id": invited, "status": "yes", "comment": "Gladly"}
            )
            assert response.status_code == 200, response.text
            answered = response.json()
            assert answered["participants"][1]["status"] == "yes"
            assert answered["participants"][1]["comment"] == "Gladly"
            assert answered["participants"][0] == before["participants"][0]
            assert api.get(f"/events/{invited}").json() == answered

            assert len(smtp.messages) == 1
            sent = smtp.messages[0]
            assert sent.rcpt_tos == ["olga@example.org"]
            assert sent.mail_from == me
            reply = _calendar_part(sent.data)
            assert reply["method"] == "REPLY"
            vevent = reply.walk("vevent")[0]
            assert str(vevent["uid"]) == "planning-42@example.org"
            assert str(vevent["organizer"]) == "mailto:olga@example.org"
            attendee = vevent["attendee"]
            assert str(attendee) == f"mailto:{me}"
            assert attendee.params["PARTSTAT"] == "ACCEPTED"
            assert str(vevent["comment"]) == "Gladly"

            # The same answer again sends nothing; a new one sends a new reply.
            again = api.post(
                "/send-rsvp", json={"event_id": invited, "status": "yes", "comment": "Gladly"}
            )
            assert again.json() == answered
            assert len(smtp.messages) == 1
            declined = api.post("/send-rsvp", json={"event_id": invited, "status": "no"}).json()
            assert declined["participants"][1]["status"] == "no"
            assert declined["participants"][1]["comment"] is None
            assert len(smtp.messages) == 2
            part = _calendar_part(smtp.messages[1].data).walk("vevent")[0]["attendee"]
            assert part.params["PARTSTAT"] == "DECLINED"


def _calendar_part(raw: bytes) -> Any:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    parts = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    assert len(parts) == 1
    assert parts[0].get_param("method") == "REPLY"
    return ICalendar.from_ical(parts[0].get_content())


def test_rsvp_smtp_refusal_is_402_and_changes_nothing(engine):
    with SmtpListener("reject_rcpt") as smtp:
        account = engine.new_account(**smtp.account_fields())
        invited = add_invite(
            engine.db, account["id"], participants=[{"email": account["email_address"]}]
        )
        with engine.client(account["id"]) as api:
            response = api.post("/send-rsvp", json={"event_id": invited, "status": "maybe"})
            assert response.status_code == 402
            assert response.json()["server_error"].startswith("550")
            event = api.get(f"/events/{invited}").json()
            assert event["participants"][0]["status"] == "noreply"


def test_rsvp_without_credentials(engine, tmp_path):
    """SDK 5 posts RSVPs with no Authorization header: an open engine with a single account
    takes them as that account's; with several accounts they are 401."""
    anonymous = httpx.post(engine.url + "/send-rsvp", json={"event_id": "0abc", "status": "yes"})
    assert anonymous.status_code == 401

    from nylas_engine.store.db import Database

    with SmtpListener() as smtp, LocalEngine(tmp_path / "solo") as solo:
        account = solo.add_account("solo@example.com")
        db = Database(f"sqlite:///{solo.data_dir / 'engine.db'}", run_migrations=False)
        _set_smtp(db, account["id"], smtp)
        invited = add_invite(db, account["id"], participants=[{"email": "solo@example.com"}])
        response = httpx.post(solo.url + "/send-rsvp", json={"event_id": invited, "status": "yes"})
        assert response.status_code == 200, response.text
        assert response.json()["participants"][0]["status"] == "yes"
        assert len(smtp.messages) == 1
        db.engine.dispose()


def _set_smtp(db: Any, account_id: str, smtp: SmtpListener) -> None:
    from nylas_engine.store.models import Account

    with db.session() as session:
        owner = session.scalar(select(Account).where(Account.public_id == account_id))
        for key, value in smtp.account_fields().items():
            setattr(owner, key, value)


# ---------------------------------------------------------------------------------- isolation


def test_other_accounts_events_are_not_found(engine, api, account):
    other = engine.new_account()
    with engine.client(other["id"]) as theirs:
        their_calendar = primary(theirs)
        their_event = create(theirs, title="Private", when={"time": T0})
        their_master = create(
            theirs,
            title="Series",
            when={"time": T0},
            recurrence={"rrule": ["RRULE:FREQ=DAILY;COUNT=2"]},
        )
    invited = add_invite(engine.db, other["id"], participants=[{"email": account["email_address"]}])
    for event_id in (their_event["id"], their_master["id"], invited):
        assert api.get(f"/events/{event_id}").status_code == 404
        assert api.put(f"/events/{event_id}", json={"title": "x"}).status_code == 404
        assert api.patch(f"/events/{event_id}", json={"title": "x"}).status_code == 404
        assert api.delete(f"/events/{event_id}").status_code == 404
        rsvp = api.post("/send-rsvp", json={"event_id": event_id, "status": "yes"})
        assert rsvp.status_code == 404
        assert api.get("/events", params={"event_id": event_id}).json() == []
    created = api.post("/events", json={"calendar_id": their_calendar, "when": {"time": T0}})
    assert created.status_code == 404
    assert created.json()["message"] == f"Calendar {their_calendar} not found"
    assert api.get("/events", params={"calendar_id": their_calendar}).json() == []
    assert api.get("/events", params={"expand_recurring": "true"}).json() == []
    with engine.client(other["id"]) as theirs:
        assert theirs.get(f"/events/{their_event['id']}").json() == their_event


def test_expanded_list_pages_like_the_whole_list(api):
    """Single events (read a page's worth from the database) and a master's instances
    (expanded in full) interleave; every page is the matching slice of the whole list,
    including single events that start at the same time."""
    start = ts(2030, 3, 1, 14)
    create(
        api,
        title="Daily",
        when={"start_time": start, "end_time": start + HOUR},
        recurrence={"rrule": ["RRULE:FREQ=DAILY;COUNT=6"], "timezone": "UTC"},
    )
    for day in (0, 1, 1, 1, 3, 7):  # three at the same time on the second day
        at = start + day * 24 * HOUR + 30 * 60
        create(api, title=f"Single {day}", when={"start_time": at, "end_time": at + HOUR})
    expand = {"expand_recurring": "true", "starts_before": ts(2031, 1, 1)}
    whole = [e["id"] for e in api.get("/events", params=expand).json()]
    assert len(whole) == 12
    assert api.get("/events", params={**expand, "view": "count"}).json() == {"count": 12}
    for limit in (1, 2, 5):
        for offset in range(0, 13):
            page = api.get("/events", params={**expand, "limit": limit, "offset": offset})
            assert [e["id"] for e in page.json()] == whole[offset : offset + limit]
