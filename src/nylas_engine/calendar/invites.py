"""Events from emailed iCalendar invitations (the `text/calendar` parts of a message).

`read_invites` turns each VEVENT of a part into an `Invite`: the event fields the API shows
(title, description, location, `when`, participants, owner, status, recurrence), keyed by
its iCalendar UID and SEQUENCE so a later update or cancellation of the same invitation
finds the event it changes. A VEVENT with a RECURRENCE-ID changes (or cancels) one
occurrence of a series: its `recurrence_id` is the start of the occurrence it replaces.
Nothing here raises on a broken calendar: a part or VEVENT that can't be read is skipped
(the message still arrives; it just brings no event).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from icalendar import Calendar as ICalendar

from nylas_engine.calendar.recurrence import parse_recurrence
from nylas_engine.calendar.when import (
    InvalidInput,
    When,
    date_when,
    datespan_when,
    day_start,
    is_time_zone,
    timespan_when,
)

log = logging.getLogger(__name__)

MAX_TEXT = 10_000  # a title or description longer than this is cut
_PARTSTAT = {"ACCEPTED": "yes", "DECLINED": "no", "TENTATIVE": "maybe"}


@dataclass
class Invite:
    method: str  # REQUEST, CANCEL, REPLY, PUBLISH (or "" when the part names none)
    uid: str
    sequence: int
    title: str
    description: str | None
    location: str | None
    when: When
    participants: list[dict[str, Any]]
    owner: str | None
    status: str  # confirmed | tentative | cancelled
    recurrence: dict[str, Any] | None
    # One occurrence of the series `uid`: the Unix start time it had in the series.
    recurrence_id: int | None = None
    # False when the VEVENT gave no DTSTART (a CANCEL of one occurrence may leave it out):
    # `when` is then the occurrence's original start, with no length.
    has_start: bool = True

    def changes(self) -> dict[str, Any]:
        """The fields `store.calendar.update_event` sets."""
        return {
            "title": self.title,
            "description": self.description,
            "location": self.location,
            "when": self.when,
            "participants": self.participants,
            "owner": self.owner,
            "status": self.status,
            "sequence": self.sequence,
            "recurrence": self.recurrence,
        }


def read_invites(parts: list[str]) -> list[Invite]:
    """Every readable VEVENT of these `text/calendar` parts, in order, changed occurrences of
    a series (RECURRENCE-ID) included."""
    invites: list[Invite] = []
    for text in parts:
        try:
            calendar = ICalendar.from_ical(text)
        except Exception as exc:  # icalendar raises ValueError and more on broken input
            log.info("unreadable text/calendar part: %s", exc)
            continue
        method = str(calendar.get("METHOD", "") or "").upper()
        for component in calendar.walk("VEVENT"):
            try:
                invite = _invite(method, component)
            except (ValueError, TypeError, KeyError, AttributeError, InvalidInput) as exc:
                log.info("unreadable VEVENT: %s", exc)
                continue
            if invite is not None:
                invites.append(invite)
    return invites


def _invite(method: str, vevent: Any) -> Invite | None:
    uid = _text(vevent.get("UID"))
    occurrence = _recurrence_id(vevent) if "RECURRENCE-ID" in vevent else None
    has_start = "DTSTART" in vevent
    if not uid:
        return None
    if has_start:
        when, zone = _when(vevent)
    elif occurrence is not None:  # only the occurrence's original start is known
        when, zone = occurrence[1], None
    else:
        return None
    status = _text(vevent.get("STATUS")).upper()
    return Invite(
        method=method,
        uid=uid[:998],
        sequence=int(vevent.get("SEQUENCE", 0) or 0),
        title=_text(vevent.get("SUMMARY"))[:MAX_TEXT],
        description=_text(vevent.get("DESCRIPTION"))[:MAX_TEXT] or None,
        location=_text(vevent.get("LOCATION"))[:MAX_TEXT] or None,
        when=when,
        participants=[_participant(a) for a in _list(vevent.get("ATTENDEE"))],
        owner=_owner(vevent.get("ORGANIZER")),
        status="cancelled"
        if method == "CANCEL" or status == "CANCELLED"
        else "tentative"
        if status == "TENTATIVE"
        else "confirmed",
        recurrence=None if occurrence else _recurrence(vevent, when, zone),
        recurrence_id=occurrence[0] if occurrence else None,
        has_start=has_start,
    )


def _recurrence_id(vevent: Any) -> tuple[int, When]:
    """The original start of the occurrence a VEVENT replaces, as the series' expansion
    gives it (all-day occurrences begin at midnight UTC), and that start as a `when`. A
    floating time is read in the zone of the VEVENT's DTSTART, else as UTC."""
    value = vevent.decoded("RECURRENCE-ID")
    if not isinstance(value, datetime):
        return day_start(value), date_when(value)
    if value.tzinfo is None and "DTSTART" in vevent:
        start = vevent.decoded("DTSTART")
        if isinstance(start, datetime) and start.tzinfo is not None:
            value = value.replace(tzinfo=start.tzinfo)
    ts = _timestamp(value)
    return ts, timespan_when(ts, ts)


def _when(vevent: Any) -> tuple[When, str | None]:
    """The event's `when`, and the IANA zone its start was given in (if any)."""
    start = vevent.decoded("DTSTART")
    if "DTEND" in vevent:
        end = vevent.decoded("DTEND")
    elif "DURATION" in vevent:
        end = start + vevent.decoded("DURATION")
    else:
        end = start if isinstance(start, datetime) else start + timedelta(days=1)
    if not isinstance(start, datetime):  # all day; DTEND is the day after the last
        last = end - timedelta(days=1) if isinstance(end, date) and end > start else start
        if isinstance(last, datetime):
            last = last.date()
        return datespan_when(start, max(last, start)), None
    zone = getattr(start.tzinfo, "key", None) or getattr(start.tzinfo, "zone", None)
    zone = zone if isinstance(zone, str) and is_time_zone(zone) else None
    zones = {"start_timezone": zone, "end_timezone": zone} if zone else None
    start_ts, end_ts = _timestamp(start), _timestamp(end if isinstance(end, datetime) else start)
    return timespan_when(start_ts, max(start_ts, end_ts), zones), zone


def _recurrence(vevent: Any, when: When, zone: str | None) -> dict[str, Any] | None:
    lines = [f"RRULE:{rule.to_ical().decode()}" for rule in _list(vevent.get("RRULE"))]
    if not lines:
        return None
    for exdate in _list(vevent.get("EXDATE")):
        lines.append(f"EXDATE:{exdate.to_ical().decode()}")
    try:
        return parse_recurrence({"rrule": lines, "timezone": zone or "UTC"}, when)
    except InvalidInput as exc:  # a rule the API refuses (say, hourly): a single event then
        log.info("recurrence of an emailed event left out: %s", exc)
        return None


def _participant(attendee: Any) -> dict[str, Any]:
    params = getattr(attendee, "params", {})
    status = _PARTSTAT.get(str(params.get("PARTSTAT", "")).upper(), "noreply")
    return {"email": _address(attendee), "name": str(params.get("CN", "") or ""), "status": status}


def _owner(organizer: Any) -> str | None:
    if organizer is None:
        return None
    name = str(getattr(organizer, "params", {}).get("CN", "") or "")
    address = _address(organizer)
    return f"{name} <{address}>" if name else address or None


def _address(value: Any) -> str:
    text = str(value)
    return (text[7:] if text.lower().startswith("mailto:") else text).strip().lower()


def _timestamp(value: datetime) -> int:
    if value.tzinfo is None:  # floating time: read as UTC
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def read_vevent(vevent: Any) -> Invite | None:
    """One VEVENT of a stored calendar object (no iTIP method) read as `read_invites` does;
    errors propagate (the caller decides what a broken event means)."""
    return _invite("", vevent)
