"""Invitations received by email become events (calendar/invites.py, store.calendar.
file_invites): imported messages with a `text/calendar` part, then what the API shows: the
message's `events`, the read-only "Emailed events" calendar, updates and cancellations by
SEQUENCE, an RSVP answered by email, replies to the account's own events, and changed or
cancelled occurrences of a series (RECURRENCE-ID) as overrides in its expansion."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar as ICalendar
from icalendar import Event as IEvent
from icalendar import vCalAddress, vRecur
from smtp_listener import SmtpListener
from test_events import _calendar_part
from test_import import run_import

from nylas import APIClient

PARIS = ZoneInfo("Europe/Paris")
START = datetime(2026, 12, 7, 10, 0, tzinfo=PARIS)


def invitation(
    me: str,
    *,
    method: str = "REQUEST",
    uid: str = "kickoff-1@example.org",
    sequence: int = 0,
    title: str = "Project kickoff",
    weekly: bool = False,
    organizer: str = "olga@example.org",
    attendees: dict[str, str] | None = None,
    msgid: str = "<invite-1@example.org>",
    start: date | None = START,
    recurrence_id: date | None = None,
) -> bytes:
    """An invitation as calendar programs send one: a text/plain part and the iCalendar
    REQUEST (or CANCEL, REPLY) as its alternative. With `recurrence_id`, it is about that
    one occurrence of the series `uid`; `start` may be a date (all day), or None to leave
    DTSTART out (as a CANCEL may)."""
    cal = ICalendar()
    cal.add("prodid", "-//Example//Calendar//EN")
    cal.add("version", "2.0")
    cal.add("method", method)
    event = IEvent()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("summary", title)
    event.add("description", "Agenda: scope, dates.")
    event.add("location", "Room 4")
    if recurrence_id is not None:
        event.add("recurrence-id", recurrence_id)
    if start is not None:
        event.add("dtstart", start)
        length = timedelta(hours=1) if isinstance(start, datetime) else timedelta(days=1)
        event.add("dtend", start + length)
    if weekly:
        event.add("rrule", vRecur({"FREQ": "WEEKLY", "COUNT": 4}))
    boss = vCalAddress(f"mailto:{organizer}")
    boss.params["CN"] = "Olga Organizer"
    event.add("organizer", boss)
    for address, partstat in (
        attendees or {me: "NEEDS-ACTION", "dan@example.org": "ACCEPTED"}
    ).items():
        person = vCalAddress(f"mailto:{address}")
        person.params["PARTSTAT"] = partstat
        event.add("attendee", person)
    if method == "CANCEL":
        event.add("status", "CANCELLED")
    cal.add_component(event)

    msg = EmailMessage()
    msg["From"] = (
        f"Olga Organizer <{organizer}>" if method != "REPLY" else next(iter(attendees or {}))
    )
    msg["To"] = me if method != "REPLY" else organizer
    msg["Subject"] = f"Invitation: {title}"
    msg["Date"] = format_datetime(datetime(2026, 11, 20, 9, 0, tzinfo=timezone.utc))
    msg["Message-ID"] = msgid
    msg.set_content(f"You are invited to {title}.")
    msg.add_alternative(
        cal.to_ical(), maintype="text", subtype="calendar", params={"method": method}
    )
    return msg.as_bytes()


def receive(engine: Any, account: dict[str, Any], tmp_path: Path, raw: bytes, name: str) -> None:
    path = tmp_path / f"{name}.eml"
    path.write_bytes(raw)
    assert run_import(engine, account, path)["imported"] == 1


def only_message(api: Any, subject: str) -> dict[str, Any]:
    found = api.get("/messages", params={"subject": subject}).json()
    assert len(found) == 1, found
    return dict(found[0])


def test_an_invitation_becomes_an_event_of_its_message(engine, account, api, tmp_path):
    me = account["email_address"]
    receive(engine, account, tmp_path, invitation(me, weekly=True), "invite")

    message = only_message(api, "Invitation: Project kickoff")
    assert len(message["events"]) == 1
    event = message["events"][0]
    assert event["title"] == "Project kickoff"
    assert event["description"] == "Agenda: scope, dates."
    assert event["location"] == "Room 4"
    assert event["message_id"] == message["id"]
    assert event["ical_uid"] == "kickoff-1@example.org"
    assert event["owner"] == "Olga Organizer <olga@example.org>"
    assert event["when"]["start_time"] == int(START.timestamp())
    assert event["when"]["end_time"] == int((START + timedelta(hours=1)).timestamp())
    assert event["when"]["start_timezone"] == "Europe/Paris"
    assert event["recurrence"]["rrule"] == ["RRULE:FREQ=WEEKLY;COUNT=4"]
    assert event["read_only"] is True
    statuses = {p["email"]: p["status"] for p in event["participants"]}
    assert statuses == {me.lower(): "noreply", "dan@example.org": "yes"}

    # It lives in the read-only "Emailed events" calendar, next to the primary one.
    calendar = api.get(f"/calendars/{event['calendar_id']}").json()
    assert calendar["name"] == "Emailed events"
    assert calendar["read_only"] is True
    assert api.get(f"/events/{event['id']}").json() == event
    listed = api.get("/events", params={"calendar_id": calendar["id"]}).json()
    assert [e["id"] for e in listed] == [event["id"]]
    # Expanded, the series shows its four weekly instances.
    instances = api.get(
        "/events", params={"calendar_id": calendar["id"], "expand_recurring": "true"}
    ).json()
    assert len(instances) == 4

    # It came from someone else: the API refuses to edit or delete it.
    assert api.put(f"/events/{event['id']}", json={"title": "Mine now"}).status_code == 400
    assert api.delete(f"/events/{event['id']}").status_code == 400


def test_updates_and_cancellations_follow_the_sequence(engine, account, api, tmp_path):
    me = account["email_address"]
    receive(engine, account, tmp_path, invitation(me, sequence=1), "first")
    first = only_message(api, "Invitation: Project kickoff")["events"][0]

    moved = invitation(me, sequence=2, title="Kickoff (moved)", msgid="<invite-2@example.org>")
    receive(engine, account, tmp_path, moved, "update")
    update = only_message(api, "Invitation: Kickoff (moved)")
    assert [e["id"] for e in update["events"]] == [first["id"]]  # the same event, changed
    assert update["events"][0]["title"] == "Kickoff (moved)"
    assert update["events"][0]["message_id"] == update["id"]
    # The first message no longer brings an event of its own.
    assert only_message(api, "Invitation: Project kickoff")["events"] == []

    stale = invitation(me, sequence=1, title="Stale copy", msgid="<invite-0@example.org>")
    receive(engine, account, tmp_path, stale, "stale")
    assert api.get(f"/events/{first['id']}").json()["title"] == "Kickoff (moved)"

    cancel = invitation(
        me, method="CANCEL", sequence=3, title="Kickoff (moved)", msgid="<cancel@example.org>"
    )
    receive(engine, account, tmp_path, cancel, "cancel")
    assert api.get(f"/events/{first['id']}").json()["status"] == "cancelled"
    assert len(api.get("/events").json()) == 0  # cancelled events are hidden by default


def test_answering_an_emailed_invitation_emails_the_organizer(engine, tmp_path):
    with SmtpListener() as smtp:
        account = engine.new_account(**smtp.account_fields())
        me = account["email_address"]
        receive(engine, account, tmp_path, invitation(me), "invite")
        with engine.client(account["id"]) as api:
            event = only_message(api, "Invitation: Project kickoff")["events"][0]
            response = api.post("/send-rsvp", json={"event_id": event["id"], "status": "yes"})
            assert response.status_code == 200, response.text
            mine = [p for p in response.json()["participants"] if p["email"] == me.lower()]
            assert mine[0]["status"] == "yes"
        assert [m.rcpt_tos for m in smtp.messages] == [["olga@example.org"]]
        answer = _calendar_part(smtp.messages[0].data)  # checks it is a METHOD=REPLY
        vevent = answer.walk("vevent")[0]
        assert str(vevent["uid"]) == "kickoff-1@example.org"
        assert vevent["attendee"].params["PARTSTAT"] == "ACCEPTED"


def test_replies_to_own_events_record_the_answer(engine, account, api, tmp_path):
    me = account["email_address"]
    primary = next(c for c in api.get("/calendars").json() if not c["read_only"])
    own = api.post(
        "/events",
        json={
            "calendar_id": primary["id"],
            "title": "Review",
            "when": {
                "start_time": int(START.timestamp()),
                "end_time": int(START.timestamp()) + 3600,
            },
            "participants": [{"email": "dan@example.org"}, {"email": "eve@example.org"}],
        },
    ).json()
    reply = invitation(
        me,
        method="REPLY",
        uid=own["ical_uid"],
        title="Review",
        organizer=me,
        attendees={"dan@example.org": "DECLINED"},
        msgid="<reply@example.org>",
    )
    receive(engine, account, tmp_path, reply, "reply")
    statuses = {
        p["email"]: p["status"] for p in api.get(f"/events/{own['id']}").json()["participants"]
    }
    assert statuses == {"dan@example.org": "no", "eve@example.org": "noreply"}
    # A reply is an answer, not an invitation: no event of its own.
    assert only_message(api, "Invitation: Review")["events"] == []
    assert [c["name"] for c in api.get("/calendars").json() if c["name"] == "Emailed events"] == []


def weekly_instances(api: Any, **params: Any) -> list[dict[str, Any]]:
    return list(api.get("/events", params={"expand_recurring": "true", **params}).json())


def test_a_moved_occurrence_replaces_that_week_in_the_series(engine, account, api, tmp_path):
    me = account["email_address"]
    receive(engine, account, tmp_path, invitation(me, weekly=True), "series")
    series = only_message(api, "Invitation: Project kickoff")["events"][0]
    week = timedelta(days=7)
    second = START + week
    moved_to = second + timedelta(days=1, hours=4)  # Tuesday 14:00 instead of Monday 10:00
    move = invitation(
        me,
        title="Kickoff (Tuesday)",
        sequence=1,
        start=moved_to,
        recurrence_id=second,
        msgid="<move-1@example.org>",
    )
    receive(engine, account, tmp_path, move, "move")

    override = only_message(api, "Invitation: Kickoff (Tuesday)")["events"][0]
    assert override["master_event_id"] == series["id"]
    assert override["original_start_time"] == int(second.timestamp())
    assert override["calendar_id"] == series["calendar_id"]
    assert override["ical_uid"] == series["ical_uid"]
    assert "recurrence" not in override
    # The series itself is unchanged, and its message still shows it.
    assert api.get(f"/events/{series['id']}").json() == series

    expanded = weekly_instances(api)
    starts = [e["when"]["start_time"] for e in expanded]
    assert starts == [
        int(t.timestamp()) for t in (START, moved_to, START + 2 * week, START + 3 * week)
    ]
    assert [e["title"] for e in expanded] == [
        "Project kickoff",
        "Kickoff (Tuesday)",
        "Project kickoff",
        "Project kickoff",
    ]
    assert expanded[1]["id"] == override["id"]
    assert all(e["master_event_id"] == series["id"] for e in expanded)
    # Not expanded: the master once, and its override.
    assert [e["id"] for e in api.get("/events").json()] == [series["id"], override["id"]]

    # An older copy of the change does not undo the newer one; a newer change moves it again.
    stale = invitation(
        me,
        title="Kickoff (stale)",
        sequence=0,
        start=second + timedelta(hours=1),
        recurrence_id=second,
        msgid="<move-0@example.org>",
    )
    receive(engine, account, tmp_path, stale, "stale")
    assert api.get(f"/events/{override['id']}").json()["title"] == "Kickoff (Tuesday)"
    later = moved_to + timedelta(days=1)
    again = invitation(
        me,
        title="Kickoff (Wednesday)",
        sequence=2,
        start=later,
        recurrence_id=second,
        msgid="<move-2@example.org>",
    )
    receive(engine, account, tmp_path, again, "again")
    expanded = weekly_instances(api)
    assert [e["id"] for e in expanded].count(override["id"]) == 1
    assert len(expanded) == 4
    assert expanded[1]["when"]["start_time"] == int(later.timestamp())
    assert expanded[1]["title"] == "Kickoff (Wednesday)"

    # The project's SDK sees the same expansion.
    client = APIClient(None, None, account["id"], engine.url)
    events = list(client.events.where(expand_recurring=True))
    assert [e.id for e in events] == [e["id"] for e in expanded]
    assert events[1].master_event_id == series["id"]
    assert events[1].original_start_time == int(second.timestamp())
    assert events[1].when["start_time"] == int(later.timestamp())


def test_moving_the_whole_series_drops_its_changed_occurrences(engine, account, api, tmp_path):
    me = account["email_address"]
    week = timedelta(days=7)
    receive(engine, account, tmp_path, invitation(me, weekly=True), "series")
    move = invitation(
        me,
        title="Kickoff (late)",
        sequence=1,
        start=START + week + timedelta(hours=3),
        recurrence_id=START + week,
        msgid="<move@example.org>",
    )
    receive(engine, account, tmp_path, move, "move")
    assert len(weekly_instances(api)) == 4
    # Same rule, same times: the change of that one week stays.
    same = invitation(me, weekly=True, sequence=2, msgid="<same@example.org>")
    receive(engine, account, tmp_path, same, "same")
    assert [e["title"] for e in weekly_instances(api)][1] == "Kickoff (late)"

    # The series moves an hour later: the old Monday 10:00 occurrences are gone, and with
    # them the change of one of them.
    later = START + timedelta(hours=1)
    moved = invitation(
        me, weekly=True, sequence=3, start=later, title="Kickoff", msgid="<later@example.org>"
    )
    receive(engine, account, tmp_path, moved, "later")
    expanded = weekly_instances(api)
    assert [(e["title"], e["when"]["start_time"]) for e in expanded] == [
        ("Kickoff", int((later + n * week).timestamp())) for n in range(4)
    ]


def test_a_series_that_stops_recurring_drops_its_changed_occurrences(
    engine, account, api, tmp_path
):
    me = account["email_address"]
    week = timedelta(days=7)
    receive(engine, account, tmp_path, invitation(me, weekly=True), "series")
    move = invitation(
        me,
        title="Kickoff (moved)",
        sequence=1,
        start=START + week + timedelta(hours=3),
        recurrence_id=START + week,
        msgid="<moved@example.org>",
    )
    receive(engine, account, tmp_path, move, "moved")
    series = only_message(api, "Invitation: Project kickoff")["events"][0]
    assert len(api.get("/events").json()) == 2  # the series and its changed week
    # The organizer turns it into a single meeting: only that meeting is left.
    single = invitation(me, sequence=2, title="Kickoff (once)", msgid="<once@example.org>")
    receive(engine, account, tmp_path, single, "once")
    listed = api.get("/events").json()
    assert [(e["id"], e["title"]) for e in listed] == [(series["id"], "Kickoff (once)")]
    assert [e["id"] for e in weekly_instances(api)] == [series["id"]]
    assert [e["id"] for e in api.get("/events", params={"show_cancelled": "true"}).json()] == [
        series["id"]
    ]


def test_a_cancelled_occurrence_leaves_the_rest_of_the_series(engine, account, api, tmp_path):
    me = account["email_address"]
    receive(engine, account, tmp_path, invitation(me, weekly=True), "series")
    series = only_message(api, "Invitation: Project kickoff")["events"][0]
    week = timedelta(days=7)
    third = START + 2 * week
    # Calendar programs often send the occurrence's RECURRENCE-ID and no DTSTART.
    cancel = invitation(
        me,
        method="CANCEL",
        sequence=1,
        title="Cancelled: Project kickoff",
        start=None,
        recurrence_id=third,
        msgid="<cancel-3@example.org>",
    )
    receive(engine, account, tmp_path, cancel, "cancel")

    expanded = weekly_instances(api)
    starts = [e["when"]["start_time"] for e in expanded]
    assert starts == [int(t.timestamp()) for t in (START, START + week, START + 3 * week)]
    assert api.get(f"/events/{series['id']}").json()["status"] == "confirmed"

    # With show_cancelled, the cancelled occurrence is there, at its time, marked cancelled.
    everything = weekly_instances(api, show_cancelled="true")
    assert len(everything) == 4
    cancelled = everything[2]
    assert cancelled["status"] == "cancelled"
    assert cancelled["master_event_id"] == series["id"]
    assert cancelled["original_start_time"] == int(third.timestamp())
    assert cancelled["when"] == {
        "object": "timespan",
        "start_time": int(third.timestamp()),
        "end_time": int((third + timedelta(hours=1)).timestamp()),
        "start_timezone": "Europe/Paris",
        "end_timezone": "Europe/Paris",
    }
    assert cancelled["title"] == "Project kickoff"  # the occurrence as the series had it
    # Not expanded, the cancelled override is listed (docs/protocol.md §12), so clients can expand.
    listed = api.get("/events").json()
    assert [e["id"] for e in listed] == [series["id"], cancelled["id"]]

    # Cancelling the whole series takes every occurrence with it.
    whole = invitation(
        me, method="CANCEL", sequence=2, weekly=True, msgid="<cancel-all@example.org>"
    )
    receive(engine, account, tmp_path, whole, "cancel-all")
    assert weekly_instances(api) == []


def test_an_occurrence_that_comes_before_its_series_is_attached_to_it(
    engine, account, api, tmp_path
):
    me = account["email_address"]
    week = timedelta(days=7)
    second = START + week
    moved_to = second + timedelta(hours=2)
    early = invitation(
        me,
        title="Kickoff (noon)",
        sequence=1,
        start=moved_to,
        recurrence_id=second,
        msgid="<early@example.org>",
    )
    receive(engine, account, tmp_path, early, "early")
    # Alone, it is an event of its own: not lost.
    alone = weekly_instances(api)
    assert [(e["title"], e["when"]["start_time"]) for e in alone] == [
        ("Kickoff (noon)", int(moved_to.timestamp()))
    ]
    assert "master_event_id" not in alone[0]

    receive(engine, account, tmp_path, invitation(me, weekly=True), "series")
    series = only_message(api, "Invitation: Project kickoff")["events"][0]
    override = api.get(f"/events/{alone[0]['id']}").json()
    assert override["master_event_id"] == series["id"]
    assert override["original_start_time"] == int(second.timestamp())
    expanded = weekly_instances(api)
    assert [e["when"]["start_time"] for e in expanded] == [
        int(t.timestamp()) for t in (START, moved_to, START + 2 * week, START + 3 * week)
    ]
    assert expanded[1]["id"] == override["id"]


def test_one_invitation_with_the_series_and_its_exceptions(engine, account, api, tmp_path):
    """Google and Outlook send a series with its changed occurrences as VEVENTs of one
    calendar object, in any order."""
    me = account["email_address"]
    week = timedelta(days=7)
    cal = ICalendar()
    cal.add("prodid", "-//Example//Calendar//EN")
    cal.add("version", "2.0")
    cal.add("method", "REQUEST")
    for summary, start, recurrence_id, status in (
        ("Kickoff (late)", START + week + timedelta(hours=3), START + week, None),
        ("Project kickoff", START, None, None),
        ("Project kickoff", START + 3 * week, START + 3 * week, "CANCELLED"),
    ):
        vevent = IEvent()
        vevent.add("uid", "series-1@example.org")
        vevent.add("sequence", 0)
        vevent.add("summary", summary)
        vevent.add("dtstart", start)
        vevent.add("dtend", start + timedelta(hours=1))
        if recurrence_id is None:
            vevent.add("rrule", vRecur({"FREQ": "WEEKLY", "COUNT": 4}))
        else:
            vevent.add("recurrence-id", recurrence_id)
        if status:
            vevent.add("status", status)
        cal.add_component(vevent)
    msg = EmailMessage()
    msg["From"] = "Olga Organizer <olga@example.org>"
    msg["To"] = me
    msg["Subject"] = "Invitation: Project kickoff"
    msg["Message-ID"] = "<series-1@example.org>"
    msg.set_content("You are invited.")
    msg.add_alternative(cal.to_ical(), maintype="text", subtype="calendar")
    receive(engine, account, tmp_path, msg.as_bytes(), "series")

    events = only_message(api, "Invitation: Project kickoff")["events"]
    assert len(events) == 3
    master = next(e for e in events if "recurrence" in e)
    expanded = weekly_instances(api)
    assert [(e["title"], e["when"]["start_time"]) for e in expanded] == [
        ("Project kickoff", int(START.timestamp())),
        ("Kickoff (late)", int((START + week + timedelta(hours=3)).timestamp())),
        ("Project kickoff", int((START + 2 * week).timestamp())),
    ]
    assert all(e["master_event_id"] == master["id"] for e in expanded)


def test_answering_one_occurrence_names_it_in_the_reply(engine, tmp_path):
    week = timedelta(days=7)
    with SmtpListener() as smtp:
        account = engine.new_account(**smtp.account_fields())
        me = account["email_address"]
        receive(engine, account, tmp_path, invitation(me, weekly=True), "series")
        move = invitation(
            me,
            title="Kickoff (late)",
            sequence=1,
            start=START + week + timedelta(hours=2),
            recurrence_id=START + week,
            msgid="<move@example.org>",
        )
        receive(engine, account, tmp_path, move, "move")
        with engine.client(account["id"]) as api:
            override = only_message(api, "Invitation: Kickoff (late)")["events"][0]
            response = api.post("/send-rsvp", json={"event_id": override["id"], "status": "no"})
            assert response.status_code == 200, response.text
            series = only_message(api, "Invitation: Project kickoff")["events"][0]
            mine = [p for p in series["participants"] if p["email"] == me.lower()]
            assert mine[0]["status"] == "noreply"  # the answer was for one occurrence only
        answer = _calendar_part(smtp.messages[0].data)
        vevent = answer.walk("vevent")[0]
        assert str(vevent["uid"]) == "kickoff-1@example.org"
        assert vevent.decoded("recurrence-id") == START + week
        assert vevent["attendee"].params["PARTSTAT"] == "DECLINED"
        assert vevent.decoded("sequence") == 1  # the version of the occurrence answered


def test_an_all_day_series_and_a_cancelled_day(engine, account, api, tmp_path):
    me = account["email_address"]
    days = [START.date() + timedelta(days=7 * n) for n in range(4)]
    receive(engine, account, tmp_path, invitation(me, weekly=True, start=days[0]), "series")
    cancel = invitation(
        me,
        method="CANCEL",
        sequence=1,
        start=None,
        recurrence_id=days[1],
        msgid="<cancel-day@example.org>",
    )
    receive(engine, account, tmp_path, cancel, "cancel")
    expanded = weekly_instances(api)
    assert [e["when"] for e in expanded] == [
        {"object": "date", "date": day.isoformat()} for day in (days[0], days[2], days[3])
    ]
