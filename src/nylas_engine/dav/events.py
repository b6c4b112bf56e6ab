"""Events ↔ iCalendar objects of a CalDAV calendar.

Reading reuses the emailed-invitation reader (calendar/invites.py): each VEVENT becomes the
fields the API shows, a VEVENT with RECURRENCE-ID a changed or cancelled occurrence of the
series, EXDATE lines cancelled occurrences. Writing builds the VEVENT with the same code
that writes emailed invitations (calendar/ical.py), then, for an object the server already
has, replaces in the server's text only the properties whose API value changed: alarms,
X- properties, changed occurrences and anything else the API does not show stay as they
were.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar as ICalendar
from icalendar.cal import Component

from nylas_engine.calendar import ical
from nylas_engine.calendar.invites import Invite, read_vevent
from nylas_engine.store.models import Event

PRODID = "-//nylas-engine//CalDAV//EN"
# API field -> the iCalendar properties that carry it
_PROPERTIES: dict[str, tuple[str, ...]] = {
    "title": ("SUMMARY",),
    "description": ("DESCRIPTION",),
    "location": ("LOCATION",),
    "when": ("DTSTART", "DTEND", "DURATION"),
    "busy": ("TRANSP",),
    "status": ("STATUS",),
    "participants": ("ATTENDEE", "ORGANIZER"),
    "recurrence": ("RRULE", "EXDATE", "RDATE", "EXRULE"),
}


@dataclass
class ParsedEvent:
    invite: Invite
    busy: bool

    def fields(self) -> dict[str, Any]:
        """What `store.calendar.update_event` sets (SEQUENCE and the series left out)."""
        i = self.invite
        return {
            "title": i.title,
            "description": i.description,
            "location": i.location,
            "when": i.when,
            "participants": i.participants,
            "owner": i.owner,
            "status": i.status,
            "busy": self.busy,
        }


@dataclass
class ParsedObject:
    uid: str
    master: ParsedEvent | None
    overrides: list[ParsedEvent]


def parse_object(text: str) -> ParsedObject | None:
    """The series (or single event) and its changed occurrences; None if no usable VEVENT."""
    calendar = ICalendar.from_ical(text)
    master: ParsedEvent | None = None
    overrides: list[ParsedEvent] = []
    uid = ""
    for vevent in calendar.walk("VEVENT"):
        invite = read_vevent(vevent)
        if invite is None:
            continue
        uid = uid or invite.uid
        parsed = ParsedEvent(invite, str(vevent.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT")
        if invite.recurrence_id is None:
            master = master or parsed
        else:
            overrides.append(parsed)
    if not uid:
        return None
    return ParsedObject(uid, master, overrides)


def _new_vevent(event: Event, organizer: tuple[str, str]) -> Component:
    text = ical.invitation_calendar(
        method="PUBLISH",
        uid=event.ical_uid or f"{event.public_id}@nylas-engine",
        sequence=event.sequence or 0,
        when=event.when,
        recurrence=event.recurrence,
        title=event.title or "",
        description=event.description,
        location=event.location,
        busy=bool(event.busy),
        organizer=organizer,
        attendees=list(event.participants or []),
        prodid=PRODID,
        status="CANCELLED" if event.status == "cancelled" else event.status.upper(),
    )
    vevent: Component = ICalendar.from_ical(text).walk("VEVENT")[0]
    for name in ("RSVP",):
        for attendee in _list(vevent.get("ATTENDEE")):
            attendee.params.pop(name, None)
    if not event.participants:
        vevent.pop("ORGANIZER", None)
    zone = (event.when or {}).get("start_timezone") or (event.when or {}).get("timezone")
    if zone and not event.recurrence:  # keep the zone the event was given in
        for name in ("DTSTART", "DTEND"):
            value = vevent.decoded(name) if name in vevent else None
            if isinstance(value, datetime):
                vevent.pop(name)
                vevent.add(name.lower(), value.astimezone(ZoneInfo(zone)))
    return vevent


def to_ical(event: Event, organizer: tuple[str, str], raw: str | None) -> str:
    """The calendar object to PUT: a new one, or the server's `raw` with the master
    VEVENT's API-visible properties that changed replaced."""
    fresh = _new_vevent(event, organizer)
    if raw is None:
        calendar = ICalendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
        calendar.add_component(fresh)
    else:
        calendar = ICalendar.from_ical(raw)
        master = next((v for v in calendar.walk("VEVENT") if "RECURRENCE-ID" not in v), None)
        if master is None:
            calendar.add_component(fresh)
        else:
            _patch(master, fresh)
    calendar.pop("METHOD", None)  # RFC 4791 §4.1: stored objects carry no iTIP method
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data.decode()


def _patch(master: Component, fresh: Component) -> None:
    before = read_vevent(master)
    after = read_vevent(fresh)
    if before is None or after is None:
        return
    transp_before = str(master.get("TRANSP", "OPAQUE")).upper()
    for field, names in _PROPERTIES.items():
        if field == "busy":
            same = transp_before == str(fresh.get("TRANSP", "OPAQUE")).upper()
        elif field == "when":
            same = before.when == after.when
        elif field == "participants":
            same = _people(before) == _people(after)
        else:
            same = getattr(before, field) == getattr(after, field)
        if same:
            continue
        for name in names:
            while name in master:
                master.pop(name)
            for value in _list(fresh.get(name)):
                master.add(name, value)
    for name in ("DTSTAMP", "LAST-MODIFIED"):
        master.pop(name, None)
    master.add("dtstamp", datetime.now().astimezone())
    master.add("last-modified", datetime.now().astimezone())


def _people(invite: Invite) -> tuple[Any, ...]:
    return (invite.owner if invite.participants else None, invite.participants)


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]
