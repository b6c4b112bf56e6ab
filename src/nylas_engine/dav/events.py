"""Events ↔ iCalendar objects of a CalDAV calendar.

Reading reuses the emailed-invitation reader (calendar/invites.py): each VEVENT becomes the
fields the API shows, a VEVENT with RECURRENCE-ID a changed or cancelled occurrence of the
series, EXDATE lines cancelled occurrences, the first VALARM the `reminders`
(calendar/reminders.py). Writing builds the VEVENT with the same code that writes emailed
invitations (calendar/ical.py), then, for an object the server already has, replaces in
the server's text only the properties whose API value changed: X- properties, other
alarms and anything else the API does not show stay as they were. A series' changed
occurrences are written into its object too (`_write_occurrences`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Calendar as ICalendar
from icalendar.cal import Component

from nylas_engine.calendar import ical
from nylas_engine.calendar.invites import Invite, read_vevent
from nylas_engine.calendar.reminders import read_alarms, write_alarms
from nylas_engine.calendar.when import day_start, is_time_zone
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
    reminders: dict[str, str] | None = None

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
            "reminders": self.reminders,
        }


@dataclass
class ParsedObject:
    uid: str
    master: ParsedEvent | None
    overrides: list[ParsedEvent]
    cancelled: set[int]  # the series' EXDATEs (`exdates`)


_VTIMEZONE = re.compile(r"^BEGIN:VTIMEZONE\r?\n.*?^END:VTIMEZONE\r?\n", re.S | re.M)
_TZID = re.compile(r"^TZID:([^\r\n]+)", re.M)


def _known_zones_left_out(text: str) -> str:
    """`text` without the VTIMEZONEs of IANA zones, which icalendar resolves by name: they
    are most of the lines of a server's small object, and parsing them most of the time
    (bench/RESULTS.md). Other zones (Outlook's names) keep their definitions."""

    def drop(block: re.Match[str]) -> str:
        tzid = _TZID.search(block.group(0))
        return "" if tzid and is_time_zone(tzid.group(1).strip()) else block.group(0)

    return _VTIMEZONE.sub(drop, text) if "BEGIN:VTIMEZONE" in text else text


def parse_object(text: str) -> ParsedObject | None:
    """The series (or single event) and its changed occurrences; None if no usable VEVENT."""
    calendar = ICalendar.from_ical(_known_zones_left_out(text))
    master: ParsedEvent | None = None
    overrides: list[ParsedEvent] = []
    cancelled: set[int] = set()
    uid = ""
    for vevent in calendar.walk("VEVENT"):
        invite = read_vevent(vevent)
        if invite is None:
            continue
        uid = uid or invite.uid
        busy = str(vevent.get("TRANSP", "OPAQUE")).upper() != "TRANSPARENT"
        parsed = ParsedEvent(invite, busy, read_alarms(vevent))
        if invite.recurrence_id is None:
            if master is None:
                cancelled = exdates(vevent)
            master = master or parsed
        else:
            overrides.append(parsed)
    if not uid:
        return None
    return ParsedObject(uid, master, overrides, cancelled)


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
        recurrence_id=event.original_start_time,
    )
    vevent: Component = ICalendar.from_ical(text).walk("VEVENT")[0]
    for name in ("RSVP",):
        for attendee in _list(vevent.get("ATTENDEE")):
            attendee.params.pop(name, None)
    if not event.participants:
        vevent.pop("ORGANIZER", None)
    if event.reminders is not None:
        write_alarms(vevent, event.reminders, organizer[1])
    zone = (event.when or {}).get("start_timezone") or (event.when or {}).get("timezone")
    if zone and not event.recurrence:  # keep the zone the event was given in
        for name in ("DTSTART", "DTEND"):
            value = vevent.decoded(name) if name in vevent else None
            if isinstance(value, datetime):
                vevent.pop(name)
                vevent.add(name.lower(), value.astimezone(ZoneInfo(zone)))
    return vevent


def to_ical(
    event: Event, organizer: tuple[str, str], raw: str | None, overrides: Sequence[Event] = ()
) -> str:
    """The calendar object to PUT: a new one, or the server's `raw` with the master
    VEVENT's API-visible properties that changed replaced; then the series' changed
    occurrences (`overrides`) written in (`_write_occurrences`)."""
    fresh = _new_vevent(event, organizer)
    calendar = ICalendar.from_ical(raw) if raw is not None else None
    master = None
    if calendar is None:
        calendar = ICalendar()
        calendar.add("prodid", PRODID)
        calendar.add("version", "2.0")
    else:
        master = next((v for v in calendar.walk("VEVENT") if "RECURRENCE-ID" not in v), None)
    if master is None:
        calendar.add_component(fresh)
        master = fresh
    else:
        _patch(master, fresh, organizer[1])
    _write_occurrences(calendar, master, overrides, organizer)
    calendar.pop("METHOD", None)  # RFC 4791 §4.1: stored objects carry no iTIP method
    calendar.add_missing_timezones()
    data: bytes = calendar.to_ical()
    return data.decode()


def _write_occurrences(
    calendar: ICalendar, master: Component, overrides: Sequence[Event], organizer: tuple[str, str]
) -> None:
    """A changed occurrence becomes (or patches) the VEVENT with its RECURRENCE-ID; a
    cancelled one an EXDATE of the series, its VEVENT removed (RFC 5545 §3.8.5.1). The
    RECURRENCE-ID and EXDATE values take the form of the series' DTSTART (date, zone).
    A RECURRENCE-ID VEVENT with no override any more (dropped when the series changed,
    store/occurrences.py) is removed: the store holds every one the server had."""
    by_start: dict[int, Component] = {}
    kept = {o.original_start_time for o in overrides}
    for vevent in calendar.walk("VEVENT"):
        read = read_vevent(vevent) if "RECURRENCE-ID" in vevent else None
        if read is not None and read.recurrence_id is not None:
            if read.recurrence_id in kept:
                by_start[read.recurrence_id] = vevent
            elif "RRULE" in master or "RDATE" in master:
                calendar.subcomponents.remove(vevent)
    start = master.decoded("DTSTART") if "DTSTART" in master else None
    for override in overrides:
        original = override.original_start_time
        if original is None:
            continue
        value = _like(start, original)
        existing = by_start.get(original)
        if override.status == "cancelled":
            if existing is not None:
                calendar.subcomponents.remove(existing)
            if original not in exdates(master):
                master.add("exdate", value)
            continue
        fresh = _new_vevent(override, organizer)
        fresh.pop("RECURRENCE-ID", None)
        fresh.add("recurrence-id", value)
        if existing is None:
            calendar.add_component(fresh)
        else:
            _patch(existing, fresh, organizer[1])


def exdates(vevent: Component) -> set[int]:
    """The start times (Unix seconds, all-day ones at midnight UTC) the EXDATEs cancel; a
    floating time is read in the zone of DTSTART, as the expansion does."""
    start = vevent.decoded("DTSTART") if "DTSTART" in vevent else None
    zone = start.tzinfo if isinstance(start, datetime) and start.tzinfo else timezone.utc
    found: set[int] = set()
    for prop in _list(vevent.get("EXDATE")):
        for item in getattr(prop, "dts", []):
            value = item.dt
            if isinstance(value, datetime):
                value = value if value.tzinfo else value.replace(tzinfo=zone)
                found.add(int(value.timestamp()))
            elif isinstance(value, date):
                found.add(day_start(value))
    return found


def _like(start: Any, original: int) -> datetime | date:
    """`original` in the form of the series' DTSTART: a date, a time in its zone, or UTC."""
    instant = datetime.fromtimestamp(original, tz=timezone.utc)
    if isinstance(start, datetime):
        return instant.astimezone(start.tzinfo) if start.tzinfo else instant.replace(tzinfo=None)
    if isinstance(start, date):
        return instant.date()
    return instant


def _patch(master: Component, fresh: Component, email: str) -> None:
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
    if read_alarms(master) != (reminders := read_alarms(fresh)):
        write_alarms(master, reminders, email)
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
