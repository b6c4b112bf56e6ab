"""`notify_participants` with a calendar server that schedules (RFC 6638) and one that doesn't.

Xandikos offers `calendar-auto-schedule`: the engine writes the event with its ORGANIZER and
ATTENDEEs and the server emails the invitation (its own SMTP listener gets it); the engine
sends nothing. Radicale doesn't: the engine emails the invitation through the account's SMTP.
"""

from __future__ import annotations

from email import policy
from email.parser import BytesParser
from typing import Any

from dav_helpers import add_dav_account, calendar_named, eventually
from icalendar import Calendar as ICalendar
from smtp_listener import Received, SmtpListener
from xandikos_server import Xandikos

T0 = 1_830_000_000  # 2027-12-28
ANN = {"name": "Ann Example", "email": "ann@example.org"}


def _itip(received: Received) -> tuple[str, Any]:
    """The iTIP method and VEVENT of an emailed invitation."""
    message = BytesParser(policy=policy.default).parsebytes(received.data)
    part = next(p for p in message.walk() if p.get_content_type() == "text/calendar")
    calendar = ICalendar.from_ical(part.get_content())
    return str(calendar["METHOD"]), calendar.walk("VEVENT")[0]


def _event(calendar_id: str) -> dict[str, Any]:
    return {
        "calendar_id": calendar_id,
        "title": "Budget review",
        "when": {"start_time": T0, "end_time": T0 + 3600},
        "participants": [ANN],
    }


def test_a_server_that_schedules_sends_the_invitations_not_the_engine(dav_engine, tmp_path):
    with SmtpListener() as mine, SmtpListener() as servers:
        xandikos = Xandikos(tmp_path, "olga@example.com", servers.host, servers.port).start()
        try:
            account = add_dav_account(
                dav_engine, xandikos, "olga", "secret",
                "--smtp-host", mine.host, "--smtp-port", str(mine.port),
            )  # fmt: skip
            with dav_engine.client(account["id"]) as api:
                calendar = eventually(lambda: calendar_named(api, "calendar"), "the calendar")
                made = api.post(
                    "/events", params={"notify_participants": "true"}, json=_event(calendar["id"])
                )
                assert made.status_code == 200, made.text
                eventually(lambda: servers.messages, "the server's invitation")
                method, vevent = _itip(servers.messages[0])
                assert method == "REQUEST"
                assert servers.messages[0].rcpt_tos == ["ann@example.org"]
                assert str(vevent["SUMMARY"]) == "Budget review"
                assert str(vevent["ORGANIZER"]).lower() == "mailto:olga@example.com"

                gone = api.delete(
                    f"/events/{made.json()['id']}", params={"notify_participants": "1"}
                )
                assert gone.status_code == 200, gone.text
                eventually(lambda: len(servers.messages) == 2, "the server's cancellation")
                method, vevent = _itip(servers.messages[1])
                assert method == "CANCEL" and str(vevent["SUMMARY"]) == "Budget review"
            assert mine.messages == []  # the engine emailed no one
        finally:
            xandikos.stop()


def test_a_server_that_does_not_schedule_leaves_the_invitations_to_the_engine(radicale, dav_engine):
    user, password = radicale.add_user()
    with SmtpListener() as mine:
        account = add_dav_account(
            dav_engine, radicale, user, password,
            "--smtp-host", mine.host, "--smtp-port", str(mine.port),
        )  # fmt: skip
        with dav_engine.client(account["id"]) as api:
            made = api.post("/calendars", json={"name": "Work"})
            assert made.status_code == 200, made.text
            event = api.post(
                "/events", params={"notify_participants": "true"}, json=_event(made.json()["id"])
            )
            assert event.status_code == 200, event.text
            assert [m.rcpt_tos for m in mine.messages] == [["ann@example.org"]]
            method, vevent = _itip(mine.messages[0])
            assert method == "REQUEST" and str(vevent["SUMMARY"]) == "Budget review"
