"""Invitations received by email become events (calendar/invites.py, store.calendar.
file_invites): imported messages with a `text/calendar` part, then what the API shows: the
message's `events`, the read-only "Emailed events" calendar, updates and cancellations by
SEQUENCE, an RSVP answered by email, and replies to the account's own events."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
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
) -> bytes:
    """An invitation as calendar programs send one: a text/plain part and the iCalendar
    REQUEST (or CANCEL, REPLY) as its alternative."""
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
    event.add("dtstart", START)
    event.add("dtend", START + timedelta(hours=1))
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
