"""The iCalendar REPLY an invitee emails back to the organizer (RFC 5546 §3.2.3).

`rsvp_reply_message` builds the whole email: a short text part for people, and the
`text/calendar; method=REPLY` part that calendar programs read to update the attendee's
PARTSTAT on the organizer's copy of the event.
"""

from __future__ import annotations

import email.utils
from datetime import date, datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any

from icalendar import Calendar as ICalendar
from icalendar import Event as IEvent
from icalendar import vCalAddress, vText

PRODID = "-//nylas-engine//RSVP//EN"
PARTSTAT = {"yes": "ACCEPTED", "no": "DECLINED", "maybe": "TENTATIVE"}
VERB = {"yes": "Accepted", "no": "Declined", "maybe": "Tentative"}


def reply_calendar(
    *,
    uid: str,
    when: dict[str, Any],
    title: str,
    organizer: tuple[str, str],
    attendee: tuple[str, str],
    status: str,
    comment: str | None,
    sequence: int = 0,
) -> bytes:
    """The VCALENDAR text (METHOD:REPLY) with one VEVENT and the answering ATTENDEE."""
    calendar = ICalendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "REPLY")
    event = IEvent()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", datetime.now(timezone.utc))
    start, end = _bounds(when)
    event.add("dtstart", start)
    if end is not None:
        event.add("dtend", end)
    event.add("summary", title)
    event.add("organizer", _address(*organizer))
    person = _address(*attendee)
    person.params["partstat"] = vText(PARTSTAT[status])
    event.add("attendee", person)
    if comment:
        event.add("comment", comment)
    calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data


def rsvp_reply_message(
    *,
    sender: tuple[str, str],
    organizer: tuple[str, str],
    title: str,
    status: str,
    comment: str | None,
    ics: bytes,
) -> EmailMessage:
    """The email carrying the REPLY, from the invitee to the organizer."""
    message = EmailMessage()
    message["From"] = _header_address(*sender)
    message["To"] = _header_address(*organizer)
    message["Subject"] = f"{VERB[status]}: {title}" if title else VERB[status]
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=sender[1].partition("@")[2] or None)
    who = sender[0] or sender[1]
    text = f"{who} has {VERB[status].lower()} this invitation."
    if comment:
        text += f"\n\n{comment}"
    message.set_content(text + "\n")
    message.add_alternative(
        ics, maintype="text", subtype="calendar", params={"method": "REPLY", "charset": "utf-8"}
    )
    return message


def _bounds(when: dict[str, Any]) -> tuple[datetime | date, datetime | date | None]:
    kind = when.get("object")
    if kind == "time":
        return _utc(when["time"]), None
    if kind == "timespan":
        return _utc(when["start_time"]), _utc(when["end_time"])
    if kind == "date":
        return date.fromisoformat(when["date"]), None
    # An all-day DTEND is exclusive: the day after the last one.
    last = date.fromisoformat(when["end_date"])
    return date.fromisoformat(when["start_date"]), last + timedelta(days=1)


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, tz=timezone.utc)


def _address(name: str, email_address: str) -> vCalAddress:
    address: vCalAddress = vCalAddress(f"mailto:{email_address}")
    if name:
        address.params["cn"] = vText(name)
    return address


def _header_address(name: str, email_address: str) -> Address:
    local, _, domain = email_address.partition("@")
    return Address(display_name=name or "", username=local, domain=domain)
