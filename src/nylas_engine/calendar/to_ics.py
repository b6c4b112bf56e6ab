"""Hosted v2 `POST /events/to-ics`: an event as an iCalendar file (`{"ics": "BEGIN:VCALENDAR..."}`).

`ics_options` are hosted's three: `ical_uid` (default: the event's own UID, or
`<event id>@nylas-engine`), `method` (an iTIP method, default `request`), `prodid` (default
the engine's). The event is written as the invitations the engine emails are
(calendar/ical.py), so a file made here and an invitation read the same in a calendar.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nylas_engine.calendar.ical import INVITE_PRODID, invitation_calendar
from nylas_engine.calendar.when import InvalidInput

METHODS = ("publish", "request", "reply", "add", "cancel", "refresh", "counter", "declinecounter")
_STATUS = {"confirmed": "CONFIRMED", "tentative": "TENTATIVE", "cancelled": "CANCELLED"}


@dataclass(frozen=True)
class IcsOptions:
    ical_uid: str | None
    method: str
    prodid: str


def parse_options(raw: Any) -> IcsOptions:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InvalidInput("'ics_options' must be an object.")
    unknown = sorted(set(raw) - {"ical_uid", "method", "prodid"})
    if unknown:
        raise InvalidInput(
            f"Unknown 'ics_options': {', '.join(unknown)} (known: ical_uid, method, prodid)."
        )
    values = {}
    for name in ("ical_uid", "method", "prodid"):
        value = raw.get(name)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise InvalidInput(f"'ics_options.{name}' must be a non-empty string.")
        if value is not None and len(value) > 998:
            raise InvalidInput(f"'ics_options.{name}' is too long.")
        values[name] = value.strip() if value else None
    method = (values["method"] or "request").lower()
    if method not in METHODS:
        raise InvalidInput(f"'ics_options.method' must be one of: {', '.join(METHODS)}.")
    return IcsOptions(values["ical_uid"], method, values["prodid"] or INVITE_PRODID)


def event_ics(
    *,
    options: IcsOptions,
    uid: str,
    sequence: int,
    when: dict[str, Any],
    recurrence: dict[str, Any] | None,
    title: str,
    description: str | None,
    location: str | None,
    busy: bool,
    status: str,
    organizer: tuple[str, str],
    participants: list[dict[str, Any]],
    recurrence_id: int | None = None,
) -> str:
    data = invitation_calendar(
        method=options.method.upper(),
        uid=options.ical_uid or uid,
        sequence=sequence,
        when=when,
        recurrence=recurrence,
        title=title,
        description=description,
        location=location,
        busy=busy,
        organizer=organizer,
        attendees=participants,
        recurrence_id=recurrence_id,
        prodid=options.prodid,
        status=_STATUS.get(status, "CONFIRMED"),
    )
    return data.decode("utf-8")
