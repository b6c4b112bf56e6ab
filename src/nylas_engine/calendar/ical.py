"""iCalendar messages (RFC 5546) the engine emails: an invitee's REPLY to the organizer
(§3.2.3), and the organizer's REQUEST (§3.2.2) and CANCEL (§3.2.5) to the participants.

Each email is a multipart/alternative: a short text part for people, and the
`text/calendar; method=...` part that calendar programs read to add, update or remove the
event (or, for a REPLY, the attendee's PARTSTAT on the organizer's copy).
"""

from __future__ import annotations

import email.utils
from datetime import date, datetime, timedelta, timezone
from email.headerregistry import Address
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar as ICalendar
from icalendar import Event as IEvent
from icalendar import vCalAddress, vText

PRODID = "-//nylas-engine//RSVP//EN"
INVITE_PRODID = "-//nylas-engine//Events//EN"
PARTSTAT = {"yes": "ACCEPTED", "no": "DECLINED", "maybe": "TENTATIVE"}
# A participant's status as an invitation states it: `noreply` has not answered yet.
INVITE_PARTSTAT = {**PARTSTAT, "noreply": "NEEDS-ACTION"}
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
    recurrence_id: int | None = None,
) -> bytes:
    """The VCALENDAR text (METHOD:REPLY) with one VEVENT and the answering ATTENDEE; with
    `recurrence_id`, the answer is for that one occurrence of series `uid`."""
    event = _vevent(uid=uid, sequence=sequence, when=when, title=title, organizer=organizer)
    person = _address(*attendee)
    person.params["partstat"] = vText(PARTSTAT[status])
    event.add("attendee", person)
    if comment:
        event.add("comment", comment)
    _add_recurrence_id(event, recurrence_id, when)
    return _calendar(PRODID, "REPLY", event)


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
    who = sender[0] or sender[1]
    text = f"{who} has {VERB[status].lower()} this invitation."
    if comment:
        text += f"\n\n{comment}"
    subject = f"{VERB[status]}: {title}" if title else VERB[status]
    return _calendar_email(sender, [organizer], subject, text, ics, "REPLY")


def invitation_calendar(
    *,
    method: str,
    uid: str,
    sequence: int,
    when: dict[str, Any],
    recurrence: dict[str, Any] | None,
    title: str,
    description: str | None,
    location: str | None,
    busy: bool,
    organizer: tuple[str, str],
    attendees: list[dict[str, Any]],
    recurrence_id: int | None = None,
    prodid: str = INVITE_PRODID,
    status: str | None = None,
) -> bytes:
    """The organizer's VCALENDAR: METHOD:REQUEST (a new or changed event, every attendee
    with their PARTSTAT and RSVP=TRUE) or METHOD:CANCEL (STATUS:CANCELLED, naming the
    attendees who lose the event). `recurrence_id` (the instance's original start) marks an
    override of one instance of a series whose UID is `uid`. A recurring event's DTSTART is
    in its recurrence time zone, so that clients expand the rule in local time (a VTIMEZONE
    is included)."""
    zone = (recurrence or {}).get("timezone")
    event = _vevent(
        uid=uid,
        sequence=sequence,
        when=when,
        title=title,
        organizer=organizer,
        zone=ZoneInfo(zone) if zone and zone != "UTC" else None,
    )
    for attendee in attendees:
        person = _address(attendee.get("name") or "", attendee["email"])
        person.params["role"] = vText("REQ-PARTICIPANT")
        person.params["partstat"] = vText(
            INVITE_PARTSTAT.get(attendee.get("status") or "noreply", "NEEDS-ACTION")
        )
        person.params["rsvp"] = vText("TRUE")
        event.add("attendee", person)
    if description:
        event.add("description", description)
    if location:
        event.add("location", location)
    event.add("transp", "OPAQUE" if busy else "TRANSPARENT")
    event.add("status", status or ("CANCELLED" if method == "CANCEL" else "CONFIRMED"))
    for name, value in _recurrence_properties(recurrence, zone):
        event.add(name, value)
    _add_recurrence_id(event, recurrence_id, when)
    return _calendar(prodid, method, event)


def _add_recurrence_id(event: IEvent, recurrence_id: int | None, when: dict[str, Any]) -> None:
    """RECURRENCE-ID: the original start of the occurrence an override replaces."""
    if recurrence_id is not None:
        original = _utc(recurrence_id)
        all_day = when.get("object") in ("date", "datespan")
        event.add("recurrence-id", original.date() if all_day else original)


INVITE_SUBJECT = {"new": "Invitation", "update": "Updated invitation", "cancel": "Cancelled"}


def invitation_message(
    *,
    organizer: tuple[str, str],
    recipients: list[dict[str, Any]],
    kind: str,
    title: str,
    when: dict[str, Any],
    location: str | None,
    ics: bytes,
) -> EmailMessage:
    """The email carrying a REQUEST (`kind` "new" or "update") or a CANCEL ("cancel")."""
    who = organizer[0] or organizer[1]
    label = title or "(no title)"
    if kind == "cancel":
        text = f"{who} has cancelled this event: {label}."
    else:
        verb = "invited you to" if kind == "new" else "updated"
        text = f"{who} has {verb} this event: {label}.\n\nWhen: {_describe(when)}"
        if location:
            text += f"\nWhere: {location}"
    subject = f"{INVITE_SUBJECT[kind]}: {label}"
    to = [(p.get("name") or "", p["email"]) for p in recipients]
    method = "CANCEL" if kind == "cancel" else "REQUEST"
    return _calendar_email(organizer, to, subject, text, ics, method)


# ------------------------------------------------------------------------------ helpers


def _vevent(
    *,
    uid: str,
    sequence: int,
    when: dict[str, Any],
    title: str,
    organizer: tuple[str, str],
    zone: ZoneInfo | None = None,
) -> IEvent:
    event = IEvent()
    event.add("uid", uid)
    event.add("sequence", sequence)
    event.add("dtstamp", datetime.now(timezone.utc))
    start, end = _bounds(when)
    event.add("dtstart", _in_zone(start, zone))
    if end is not None:
        event.add("dtend", _in_zone(end, zone))
    event.add("summary", title)
    event.add("organizer", _address(*organizer))
    return event


def _in_zone(value: datetime | date, zone: ZoneInfo | None) -> datetime | date:
    return value.astimezone(zone) if zone is not None and isinstance(value, datetime) else value


def _calendar(prodid: str, method: str, event: IEvent) -> bytes:
    calendar = ICalendar()
    calendar.add("prodid", prodid)
    calendar.add("version", "2.0")
    calendar.add("method", method)
    calendar.add_component(event)
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data


def _recurrence_properties(
    recurrence: dict[str, Any] | None, zone: str | None
) -> list[tuple[str, Any]]:
    """The stored RRULE/EXRULE/RDATE/EXDATE lines as iCalendar properties. Zone-less
    EXDATE/RDATE values are in the recurrence's zone (as the engine expands them)."""
    if not recurrence or not recurrence.get("rrule"):
        return []
    lines = []
    for line in recurrence["rrule"]:
        name, sep, rest = line.partition(":")
        if (
            zone
            and sep
            and name.upper() in ("EXDATE", "RDATE")
            and ";" not in name
            and "T" in rest
            and not rest.endswith("Z")
        ):
            line = f"{name};TZID={zone}:{rest}"
        lines.append(line)
    parsed = IEvent.from_ical("BEGIN:VEVENT\r\n" + "\r\n".join(lines) + "\r\nEND:VEVENT\r\n")
    return [(k, v) for k, v in parsed.property_items(recursive=False) if k not in ("BEGIN", "END")]


def _describe(when: dict[str, Any]) -> str:
    start, end = _bounds(when)
    if isinstance(start, datetime):
        text = start.strftime("%Y-%m-%d %H:%M UTC")
        if isinstance(end, datetime):
            text += end.strftime(" to %Y-%m-%d %H:%M UTC")
        return text
    if end is None:
        return start.isoformat()
    last = end - timedelta(days=1)
    return start.isoformat() if last == start else f"{start.isoformat()} to {last.isoformat()}"


def _calendar_email(
    sender: tuple[str, str],
    to: list[tuple[str, str]],
    subject: str,
    text: str,
    ics: bytes,
    method: str,
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = _header_address(*sender)
    message["To"] = [_header_address(*person) for person in to]
    message["Subject"] = subject
    message["Date"] = email.utils.formatdate(localtime=False)
    message["Message-ID"] = email.utils.make_msgid(domain=sender[1].partition("@")[2] or None)
    message.set_content(text + "\n")
    message.add_alternative(
        ics, maintype="text", subtype="calendar", params={"method": method, "charset": "utf-8"}
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
