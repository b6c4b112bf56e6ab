"""Emailed invitations: `notify_participants=true` on event writes (docs/protocol.md §12).

A real SMTP listener receives what the engine sends; each message's text/calendar part is
parsed with `icalendar` and checked the way a calendar program would read it.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime, timezone
from email import policy
from email.parser import BytesParser
from typing import Any

import httpx
import pytest
from conftest import TEST_DB
from icalendar import Calendar as ICalendar
from legacy_sdk import legacy_client
from smtp_listener import Received, SmtpListener
from sqlalchemy import text
from test_events import HOUR, T0, add_override, primary

NOTIFY = {"notify_participants": "true"}
FRIENDS = [
    {"name": "Ann Example", "email": "ann@example.org"},
    {"email": "bob@example.org", "status": "yes"},
]


def _account(engine: Any, smtp: SmtpListener) -> tuple[dict[str, Any], httpx.Client]:
    account = engine.new_account(name="Olga Organizer", **smtp.account_fields())
    return account, engine.client(account["id"])


def _calendar(received: Received, method: str) -> Any:
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    assert message.get_content_type() == "multipart/alternative"
    types = [p.get_content_type() for p in message.iter_parts()]
    assert types == ["text/plain", "text/calendar"]
    part = next(p for p in message.iter_parts() if p.get_content_type() == "text/calendar")
    assert part.get_param("method") == method
    calendar = ICalendar.from_ical(part.get_content())
    assert calendar["method"] == method
    return calendar


def _vevent(received: Received, method: str) -> Any:
    events = _calendar(received, method).walk("vevent")
    assert len(events) == 1
    return events[0]


def _attendees(vevent: Any) -> dict[str, Any]:
    found = vevent.get("attendee")
    found = found if isinstance(found, list) else [found]
    return {str(a).removeprefix("mailto:"): a.params for a in found}


def test_create_with_notify_emails_a_request_to_each_participant(engine):
    with SmtpListener() as smtp:
        account, api = _account(engine, smtp)
        me = account["email_address"]
        with api:
            response = api.post(
                "/events",
                params=NOTIFY,
                json={
                    "calendar_id": primary(api),
                    "title": "Planning",
                    "description": "Quarterly numbers",
                    "location": "Room 4",
                    "when": {"start_time": T0, "end_time": T0 + HOUR},
                    # The organizer listed among the participants is not emailed.
                    "participants": [*FRIENDS, {"email": me}],
                },
            )
            assert response.status_code == 200, response.text
            event = response.json()
            assert event["ical_uid"] == f"{event['id']}@nylas-engine"
            assert api.get(f"/events/{event['id']}").json() == event

        assert len(smtp.messages) == 1
        sent = smtp.messages[0]
        assert sent.mail_from == me
        assert sorted(sent.rcpt_tos) == ["ann@example.org", "bob@example.org"]
        message = sent.message
        assert message["Subject"] == "Invitation: Planning"
        assert "ann@example.org" in message["To"] and me in message["From"]
        assert "Planning" in message.get_body(("plain",)).get_content()

        vevent = _vevent(sent, "REQUEST")
        assert str(vevent["uid"]) == event["ical_uid"]
        assert vevent["sequence"] == 0
        assert vevent["dtstart"].dt == datetime.fromtimestamp(T0, tz=timezone.utc)
        assert vevent["dtend"].dt == datetime.fromtimestamp(T0 + HOUR, tz=timezone.utc)
        assert str(vevent["summary"]) == "Planning"
        assert str(vevent["location"]) == "Room 4"
        assert str(vevent["description"]) == "Quarterly numbers"
        assert str(vevent["organizer"]) == f"mailto:{me}"
        assert vevent["organizer"].params["CN"] == "Olga Organizer"
        attendees = _attendees(vevent)
        assert set(attendees) == {"ann@example.org", "bob@example.org", me}
        assert attendees["ann@example.org"]["PARTSTAT"] == "NEEDS-ACTION"
        assert attendees["ann@example.org"]["CN"] == "Ann Example"
        assert attendees["bob@example.org"]["PARTSTAT"] == "ACCEPTED"
        assert all(params["RSVP"] == "TRUE" for params in attendees.values())


def test_all_day_and_recurring_invitations(engine):
    with SmtpListener() as smtp:
        _account_, api = _account(engine, smtp)
        with api:
            calendar_id = primary(api)
            all_day = api.post(
                "/events",
                params=NOTIFY,
                json={
                    "calendar_id": calendar_id,
                    "title": "Offsite",
                    "when": {"start_date": "2030-05-06", "end_date": "2030-05-08"},
                    "participants": FRIENDS[:1],
                },
            )
            assert all_day.status_code == 200, all_day.text
            weekly = api.post(
                "/events",
                params=NOTIFY,
                json={
                    "calendar_id": calendar_id,
                    "title": "Standup",
                    # 2030-03-18 09:00 in Paris (UTC+1)
                    "when": {"start_time": 1900137600, "end_time": 1900137600 + 900},
                    "recurrence": {
                        "rrule": ["RRULE:FREQ=WEEKLY;COUNT=10", "EXDATE:20300325T090000"],
                        "timezone": "Europe/Paris",
                    },
                    "participants": FRIENDS[:1],
                },
            )
            assert weekly.status_code == 200, weekly.text

        assert len(smtp.messages) == 2
        offsite = _vevent(smtp.messages[0], "REQUEST")
        # All-day dates are VALUE=DATE, and DTEND is the day after the last one.
        assert offsite["dtstart"].dt == date(2030, 5, 6)
        assert offsite["dtend"].dt == date(2030, 5, 9)
        assert "VALUE=DATE" in offsite.to_ical().decode()

        calendar = _calendar(smtp.messages[1], "REQUEST")
        standup = calendar.walk("vevent")[0]
        start = standup["dtstart"].dt
        assert str(start.tzinfo) == "Europe/Paris" and (start.hour, start.minute) == (9, 0)
        assert start.timestamp() == 1900137600
        assert standup["rrule"]["FREQ"] == ["WEEKLY"] and standup["rrule"]["COUNT"] == [10]
        skipped = standup["exdate"].dts[0].dt
        assert skipped == datetime(2030, 3, 25, 8, tzinfo=timezone.utc)
        assert [str(z["tzid"]) for z in calendar.walk("vtimezone")] == ["Europe/Paris"]


def test_update_requests_remaining_and_cancels_removed(engine):
    with SmtpListener() as smtp:
        account, api = _account(engine, smtp)
        with api:
            event = api.post(
                "/events",
                params=NOTIFY,
                json={
                    "calendar_id": primary(api),
                    "title": "Review",
                    "when": {"start_time": T0, "end_time": T0 + HOUR},
                    "participants": FRIENDS,
                },
            ).json()
            assert len(smtp.messages) == 1
            response = api.put(
                f"/events/{event['id']}",
                params=NOTIFY,
                json={
                    "title": "Review (moved)",
                    "when": {"start_time": T0 + 2 * HOUR, "end_time": T0 + 3 * HOUR},
                    "participants": [FRIENDS[0], {"email": "carol@example.org"}],
                },
            )
            assert response.status_code == 200, response.text
            updated = response.json()
            assert updated["ical_uid"] == event["ical_uid"]

            assert len(smtp.messages) == 3
            request, cancel = smtp.messages[1], smtp.messages[2]
            assert sorted(request.rcpt_tos) == ["ann@example.org", "carol@example.org"]
            assert request.message["Subject"] == "Updated invitation: Review (moved)"
            vevent = _vevent(request, "REQUEST")
            assert str(vevent["uid"]) == event["ical_uid"]
            assert vevent["sequence"] == 1
            assert vevent["dtstart"].dt.timestamp() == T0 + 2 * HOUR
            assert set(_attendees(vevent)) == {"ann@example.org", "carol@example.org"}

            assert cancel.rcpt_tos == ["bob@example.org"]
            assert cancel.message["Subject"] == "Cancelled: Review (moved)"
            gone = _vevent(cancel, "CANCEL")
            assert str(gone["uid"]) == event["ical_uid"]
            assert gone["sequence"] == 1
            assert str(gone["status"]) == "CANCELLED"
            assert set(_attendees(gone)) == {"bob@example.org"}

            # The same update again changes nothing and sends nothing.
            again = api.patch(
                f"/events/{event['id']}",
                params=NOTIFY,
                json={"participants": [FRIENDS[0], {"email": "carol@example.org"}]},
            )
            assert again.json() == updated
            assert len(smtp.messages) == 3

            # A later notified change carries a higher SEQUENCE still.
            api.patch(f"/events/{event['id']}", params=NOTIFY, json={"location": "Room 9"})
            assert len(smtp.messages) == 4
            assert _vevent(smtp.messages[3], "REQUEST")["sequence"] == 2
        assert all(m.mail_from == account["email_address"] for m in smtp.messages)


def test_delete_with_notify_cancels_for_everyone_once(engine):
    with SmtpListener() as smtp:
        _account_, api = _account(engine, smtp)
        with api:
            event = api.post(
                "/events",
                json={
                    "calendar_id": primary(api),
                    "title": "Lunch",
                    "when": {"time": T0},
                    "participants": FRIENDS,
                },
            ).json()
            assert smtp.messages == []
            response = api.delete(f"/events/{event['id']}", params=NOTIFY)
            assert response.status_code == 200 and response.json() is None
            assert api.get(f"/events/{event['id']}").json()["status"] == "cancelled"
            assert len(smtp.messages) == 1
            sent = smtp.messages[0]
            assert sorted(sent.rcpt_tos) == ["ann@example.org", "bob@example.org"]
            vevent = _vevent(sent, "CANCEL")
            assert str(vevent["uid"]) == event["ical_uid"]
            assert vevent["sequence"] == 1
            assert vevent["dtstart"].dt.timestamp() == T0
            assert set(_attendees(vevent)) == {"ann@example.org", "bob@example.org"}

            # Deleting it again (a client retrying) sends no second cancellation.
            assert api.delete(f"/events/{event['id']}", params=NOTIFY).status_code == 200
            assert len(smtp.messages) == 1


def test_cancelling_one_instance_of_a_series_names_the_series(engine):
    with SmtpListener() as smtp:
        _account_, api = _account(engine, smtp)
        with api:
            master = api.post(
                "/events",
                json={
                    "calendar_id": primary(api),
                    "title": "Weekly",
                    "when": {"start_time": T0, "end_time": T0 + HOUR},
                    "recurrence": {"rrule": ["RRULE:FREQ=WEEKLY;COUNT=4"], "timezone": "UTC"},
                    "participants": FRIENDS[:1],
                },
            ).json()
            week = 7 * 86400
            override = add_override(
                engine.db,
                master["id"],
                T0 + week,
                T0 + week + HOUR,
                participants=[{"email": "ann@example.org", "status": "noreply"}],
            )
            assert api.delete(f"/events/{override}", params=NOTIFY).status_code == 200
        vevent = _vevent(smtp.messages[0], "CANCEL")
        assert str(vevent["uid"]) == master["ical_uid"]
        assert vevent["recurrence-id"].dt.timestamp() == T0 + week
        assert "rrule" not in vevent


def test_without_notify_nothing_is_sent(engine):
    with SmtpListener() as smtp:
        _account_, api = _account(engine, smtp)
        with api:
            body = {
                "calendar_id": primary(api),
                "when": {"time": T0},
                "participants": FRIENDS,
            }
            event = api.post("/events", json=body).json()
            api.put(
                f"/events/{event['id']}",
                params={"notify_participants": "false"},
                json={"title": "Renamed", "participants": FRIENDS[:1]},
            )
            api.delete(f"/events/{event['id']}")
            assert api.get(f"/events/{event['id']}").json()["status"] == "cancelled"
        assert smtp.messages == []


def test_notify_without_smtp_settings_is_a_400_and_saves_nothing(engine):
    account = engine.new_account()
    with engine.client(account["id"]) as api:
        body = {"calendar_id": primary(api), "when": {"time": T0}, "participants": FRIENDS}
        response = api.post("/events", params=NOTIFY, json=body)
        assert response.status_code == 400
        assert response.json()["type"] == "invalid_request_error"
        assert "no SMTP server configured" in response.json()["message"]
        assert "nylas-engine accounts add" in response.json()["message"]
        assert api.get("/events", params={"view": "count"}).json() == {"count": 0}
        # Nobody to invite: nothing to send, so no SMTP server is needed.
        alone = api.post("/events", params=NOTIFY, json={**body, "participants": []})
        assert alone.status_code == 200, alone.text


def test_smtp_refusal_fails_the_write_and_leaves_the_event_as_it_was(engine):
    """Sending comes first: a refused invitation is the SMTP error (§2.3) and nothing is
    saved, so a retry can neither create a second event nor send twice."""
    with SmtpListener() as smtp:
        account, api = _account(engine, smtp)
        with api:
            calendar_id = primary(api)
            body = {
                "calendar_id": calendar_id,
                "title": "Doomed",
                "when": {"time": T0},
                "participants": FRIENDS,
            }
            event = api.post("/events", json=body).json()

            smtp.mode = "reject_rcpt"
            created = api.post("/events", params=NOTIFY, json=body)
            assert created.status_code == 402
            assert created.json()["server_error"].startswith("550")
            updated = api.put(f"/events/{event['id']}", params=NOTIFY, json={"title": "Changed"})
            assert updated.status_code == 402
            deleted = api.delete(f"/events/{event['id']}", params=NOTIFY)
            assert deleted.status_code == 402
            assert api.get(f"/events/{event['id']}").json() == event
            assert api.get("/events", params={"view": "count"}).json() == {"count": 1}
            assert smtp.messages == []

            # Once the server accepts mail again the same calls go through, once each.
            smtp.mode = "ok"
            retried = api.put(f"/events/{event['id']}", params=NOTIFY, json={"title": "Changed"})
            assert retried.status_code == 200
            assert len(smtp.messages) == 1
            assert _vevent(smtp.messages[0], "REQUEST")["sequence"] == 1
        assert account["email_address"] == smtp.messages[0].mail_from


def test_smtp_throttling_is_429_and_a_retry_with_the_same_key_sends_once(engine):
    with SmtpListener("throttle") as smtp:
        _account_, api = _account(engine, smtp)
        with api:
            body = {"calendar_id": primary(api), "when": {"time": T0}, "participants": FRIENDS}
            headers = {"Idempotency-Key": "invite-1"}
            first = api.post("/events", params=NOTIFY, json=body, headers=headers)
            assert first.status_code == 429
            assert api.get("/events", params={"view": "count"}).json() == {"count": 0}
            smtp.mode = "ok"
            second = api.post("/events", params=NOTIFY, json=body, headers=headers)
            assert second.status_code == 200, second.text
            replay = api.post("/events", params=NOTIFY, json=body, headers=headers)
            assert replay.json() == second.json()
            assert api.get("/events", params={"view": "count"}).json() == {"count": 1}
        assert len(smtp.messages) == 1


def test_some_recipients_refused_still_saves(engine):
    with SmtpListener("reject_some") as smtp:
        _account_, api = _account(engine, smtp)
        with api:
            response = api.post(
                "/events",
                params=NOTIFY,
                json={
                    "calendar_id": primary(api),
                    "when": {"time": T0},
                    "participants": [{"email": "bad@example.org"}, {"email": "good@example.org"}],
                },
            )
            assert response.status_code == 200, response.text
            assert api.get(f"/events/{response.json()['id']}").status_code == 200
        assert [m.rcpt_tos for m in smtp.messages] == [["good@example.org"]]


def test_legacy_sdk_save_and_delete_with_notify(engine):
    with SmtpListener() as smtp:
        account, api = _account(engine, smtp)
        legacy = legacy_client(engine.url, account["id"])
        calendar = next(c for c in legacy.calendars if not c.read_only)
        ev = legacy.events.create()
        ev.title = "Party at the Ritz"
        ev.when = {"start_time": 1416423667, "end_time": 1416448867}
        ev.location = "The Old Ritz"
        ev.participants = [{"name": "My Friend", "email": "my.friend@example.com"}]
        ev.calendar_id = calendar.id
        ev.save(notify_participants="true")
        assert len(smtp.messages) == 1
        invite = _vevent(smtp.messages[0], "REQUEST")
        with api:
            stored = api.get(f"/events/{ev.id}").json()
        assert str(invite["uid"]) == stored["ical_uid"]
        assert set(_attendees(invite)) == {"my.friend@example.com"}
        assert invite["dtstart"].dt.timestamp() == 1416423667

        ev.location = "The Waldorf-Astoria"
        ev.save(notify_participants="true")
        assert len(smtp.messages) == 2
        moved = _vevent(smtp.messages[1], "REQUEST")
        assert str(moved["location"]) == "The Waldorf-Astoria" and moved["sequence"] == 1

        legacy.events.delete(ev.id, notify_participants="true")
        assert len(smtp.messages) == 3
        assert str(_vevent(smtp.messages[2], "CANCEL")["uid"]) == stored["ical_uid"]


def test_refused_cancellation_after_sent_invitations_keeps_the_change(engine):
    """Once the REQUEST has gone out the change is saved, even if the CANCEL to a removed
    participant is then refused: the reply is that SMTP error, saying so."""
    with SmtpListener("reject_some") as smtp:
        _account_, api = _account(engine, smtp)
        with api:
            event = api.post(
                "/events",
                json={
                    "calendar_id": primary(api),
                    "when": {"time": T0},
                    "participants": [{"email": "bad@example.org"}, {"email": "good@example.org"}],
                },
            ).json()
            response = api.put(
                f"/events/{event['id']}",
                params=NOTIFY,
                json={"participants": [{"email": "good@example.org"}]},
            )
            assert response.status_code == 402
            assert response.json()["message"].startswith("The event was saved")
            stored = api.get(f"/events/{event['id']}").json()
            assert [p["email"] for p in stored["participants"]] == ["good@example.org"]
        assert [m.rcpt_tos for m in smtp.messages] == [["good@example.org"]]
        assert _vevent(smtp.messages[0], "REQUEST")["sequence"] == 1


@pytest.mark.skipif(TEST_DB != "postgresql", reason="reads PostgreSQL's pg_stat_activity")
def test_no_transaction_stays_open_while_smtp_talks(engine):
    """While the SMTP server holds the invitation at DATA, the engine has no transaction
    open on the database (PostgreSQL shows none idle in a transaction for over a second);
    the event is written once the invitation has gone."""
    idle = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%' "
        "AND now() - state_change > interval '1 second'"
    )
    with SmtpListener(hold="DATA") as smtp, ThreadPoolExecutor(1) as pool:
        _account_, api = _account(engine, smtp)
        with api:
            body = {"calendar_id": primary(api), "when": {"time": T0}, "participants": FRIENDS}
            pending = pool.submit(api.post, "/events", params=NOTIFY, json=body)
            assert smtp.held.wait(30)
            time.sleep(1.5)
            with engine.db.engine.connect() as connection:
                assert connection.execute(idle).scalar() == 0
            smtp.release.set()
            created = pending.result(timeout=60)
            assert created.status_code == 200, created.text
            assert api.get(f"/events/{created.json()['id']}").json() == created.json()
        assert len(smtp.messages) == 1
